"""Measured device profiles: where they live, their schema and their loader.

One module for both sides: the harness (``sfl-opt profile``, ``measure-rounds``) writes
profiles into :data:`PROFILES_DIR`, the solver (``Problem.default``,
``Workload.from_profile``) reads them. Schema: docs/profiles.md.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import ValidationError

#: The repository's ``profiles/`` folder (next to the package: source checkout or
#: editable install), where the harness writes. The source of the packaged copies.
PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"
#: Package-data folder with copies of ``profiles/*.json`` (made by setup.py's build step,
#: present in wheels and non-editable installs).
PACKAGE_PROFILES = "_profiles"
#: File name of the bundled default profile (GPT-2 small dimensions, this project's CPU).
DEFAULT_PROFILE = "cpu-gpt2-small.json"


def bundled_profile_path(name: str = DEFAULT_PROFILE) -> Path | None:
    """Path of a bundled profile, or None if there is none.

    Looked up in the repository's ``profiles/`` folder (:data:`PROFILES_DIR`: a source
    checkout or editable install), then in the package data ``sfl_opt/_profiles/``
    (``importlib.resources``: a wheel or ``pip install .``).
    """
    path = PROFILES_DIR / name
    if path.is_file():
        return path
    packaged = resources.files(__name__.split(".")[0]).joinpath(PACKAGE_PROFILES, name)
    if packaged.is_file():
        return Path(str(packaged))
    return None


#: parsed and checked profiles, keyed on (resolved path, modification time in ns, size):
#: a file is read and parsed once per version (:func:`read_profile`)
_PARSED: dict[tuple[str, int, int], dict[str, Any]] = {}
#: how many profile files were parsed in this process (tests count it)
PARSES = {"profile": 0}


def read_profile(path: str | Path) -> dict[str, Any]:
    """The checked profile in ``path``, parsed once per version of the file (cached on
    its path, modification time and size, so an edited file is read again). The dict is
    shared by every caller: read it, do not modify it (:func:`load_profile` gives a
    private copy). Errors name the field (``profile`` ...)."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError("profile", "an existing profile JSON file", str(path))
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    data = _PARSED.get(key)
    if data is None:
        data = check_profile(v.json_text("profile", p.read_text(), f"valid JSON in {p.name}"),
                             p.name)
        PARSES["profile"] += 1
        if len(_PARSED) >= 32:  # a bounded cache: drop the oldest entry
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = data
    return data


def load_profile(path: str | Path) -> dict[str, Any]:
    """Read and check a profile JSON file (schema: docs/profiles.md, :func:`check_profile`):
    the caller's own copy of :func:`read_profile`'s (cached) dict. Errors name the field
    (``profile`` ...)."""
    return copy.deepcopy(read_profile(path))


#: the profile file formats this version reads (top-level ``schema``; absent: 1)
PROFILE_SCHEMAS = (1,)
#: the rounds-table formats it reads (``rounds.schema``; absent: 1, the flat table)
ROUNDS_SCHEMAS = (1, 2)


def _check_schema(name: str, data: dict[str, Any], known: tuple[int, ...]) -> None:
    """A ``schema`` entry, when present, must be one this version reads: a newer file read
    by an older package would otherwise be misread silently."""
    if "schema" not in data:
        return
    val = data["schema"]
    if isinstance(val, bool) or not isinstance(val, int) or val not in known:
        raise ValidationError(name, f"a schema this version of sfl-opt reads "
                              f"({', '.join(map(str, known))}; a newer file needs a newer "
                              "sfl-opt)", val)


def check_profile(data: Any, name: str = "profile") -> dict[str, Any]:
    """Check a profile's content (what a writer must produce, what a reader accepts).

    It has a ``model`` entry with ``layers``, ``hidden``, ``heads``, ``seq``, ``vocab``
    and a ``workload`` entry; a ``rounds`` table, if present, has aligned ``ranks`` and
    ``rounds`` (normalised to lists here). Errors name the field (``profile`` ...).
    """
    if not isinstance(data, dict):
        raise ValidationError("profile", "a JSON object", type(data).__name__)
    _check_schema("profile.schema", data, PROFILE_SCHEMAS)
    model = data.get("model")
    if not isinstance(model, dict) or any(k not in model for k in
                                          ("layers", "hidden", "heads", "seq", "vocab")):
        raise ValidationError("profile.model", "a mapping with layers, hidden, heads, seq, vocab",
                              model)
    if not isinstance(data.get("workload"), dict):
        raise ValidationError("profile.workload", "a mapping of workload fields",
                              data.get("workload"))
    for key in ("layers", "hidden", "heads", "seq", "vocab"):
        v.positive_int(f"profile.model.{key}", model[key])
    for key, arr in data["workload"].items():
        if isinstance(arr, list) and len(arr) != model["layers"]:
            raise ValidationError(f"profile.workload.{key}",
                                  f"one entry per block (model.layers={model['layers']})",
                                  f"{len(arr)} entries")
    table = data.get("rounds")
    if table is not None:
        if not isinstance(table, dict) or "ranks" not in table or "rounds" not in table:
            raise ValidationError("profile.rounds", "a mapping with ranks and rounds", table)
        _check_schema("profile.rounds.schema", table, ROUNDS_SCHEMAS)
        ranks = v.int_array("profile.rounds.ranks", table["ranks"], unique=True)
        rounds = v.float_array("profile.rounds.rounds", table["rounds"], shape=(ranks.size,),
                               positive=True)
        table["ranks"], table["rounds"] = ranks.tolist(), rounds.tolist()
    return data


_DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


def profile_memory(profile: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The workload memory fields (bytes) of a profile's ``memory`` section ({} if absent).

    The profiler (``sfl_opt.harness.profiler``) measures memory once, for a batch of
    ``memory.batch`` samples at rank ``memory.rank``, in ``measurement.dtype``. This
    converts it as follows (with ``B`` = bytes per value of that dtype):

    - ``block_param_bytes[j] = block_params[j] - rank * lora_params[j] * B``: the
      measured block parameters include the rank-``rank`` adapters, which the model
      counts separately (from ``lora_params`` and ``param_bits``);
    - ``embed_param_bytes = embed_params`` (token and position embeddings);
    - ``saved_bytes_rank[j] = len(model.lora_targets) * seq * B``: the rank-dependent
      part was *not* measured separately (one rank only); it is the analytic count
      (each adapter saves ``x A``, ``seq`` values per unit rank), which matches
      ``saved_tensors_hooks`` exactly at ranks 1 and 8 on small models;
    - ``saved_bytes[j] = block_saved[j] / batch - rank * saved_bytes_rank[j]``
      (per sample: saved activations scale with the batch);
    - ``cut_bytes[j]`` = elements of block j's output (``act_bits[j]`` divided by
      ``measurement.act_bits``) times ``B``, as the profiler counts the cut.

    So the need of :func:`sfl_opt.model.memory.memory_need` at the measured batch and rank
    equals the profile's ``client_peak`` for every split.
    """
    data = profile if isinstance(profile, dict) else read_profile(profile)
    mem = data.get("memory")
    if mem is None:
        return {}
    keys = ("batch", "rank", "block_params", "block_saved", "embed_params")
    if not isinstance(mem, dict) or any(k not in mem for k in keys):
        raise ValidationError("profile.memory", f"a mapping with {list(keys)}", mem)
    meas = data.get("measurement") or {}
    dtype = meas.get("dtype", "float32")
    if dtype not in _DTYPE_BYTES:
        raise ValidationError("profile.measurement.dtype", f"one of {sorted(_DTYPE_BYTES)}",
                              dtype)
    nbytes = float(_DTYPE_BYTES[dtype])
    work = data["workload"]
    n = len(work["fwd"])
    batch = v.positive_int("profile.memory.batch", mem["batch"])
    rank = v.positive_int("profile.memory.rank", mem["rank"])
    lora = v.float_array("profile.workload.lora_params", work["lora_params"], shape=(n,),
                         positive=True)
    params = v.float_array("profile.memory.block_params", mem["block_params"], shape=(n,),
                           nonnegative=True)
    saved = v.float_array("profile.memory.block_saved", mem["block_saved"], shape=(n,),
                          nonnegative=True)
    act_bits = v.float_array("profile.workload.act_bits", work["act_bits"], shape=(n,),
                             positive=True)
    value_bits = v.scalar("profile.measurement.act_bits", meas.get("act_bits", 16),
                          positive=True)
    targets = data["model"].get("lora_targets", ["q_proj", "v_proj"])
    per_rank = len(targets) * float(data["model"]["seq"]) * nbytes * np.ones(n)
    return {
        "block_param_bytes": params - rank * lora * nbytes,
        "embed_param_bytes": float(mem["embed_params"]),
        "saved_bytes": saved / batch - rank * per_rank,
        "saved_bytes_rank": per_rank,
        "cut_bytes": act_bits / value_bits * nbytes,
    }


def profile_rounds(profile: str | Path | dict[str, Any], ranks: Any,
                   local_iters: int | None = None) -> np.ndarray:
    """Measured rounds-to-target of ``profile``'s ``rounds`` table for each of ``ranks``.

    ``local_iters`` (I): with a schema-2 table (``rounds[r][I]``) the rounds for that I,
    interpolated in log I (:func:`rounds_at`); None, or an old flat table measured at
    one I, gives the flat ``rounds`` vector. Raises :class:`ValidationError` naming
    ``ranks`` if a rank is not in the table (or naming ``profile.rounds`` if the
    profile has no table).
    """
    return rounds_at(profile, ranks, local_iters)[0]


def _rounds_table(data: dict[str, Any]) -> dict[str, Any]:
    table = data.get("rounds")
    if not table:
        raise ValidationError("profile.rounds", "a measured rounds table (sfl-opt measure-rounds)",
                              None)
    return table


def _interp_log(iters: np.ndarray, vals: np.ndarray, i: float) -> float:
    """``vals`` at ``i``, linear in log I between the measured ``iters`` (increasing),
    clamped to the end values outside them."""
    return float(np.interp(np.log(i), np.log(iters), vals))


def rounds_at(profile: str | Path | dict[str, Any], ranks: Any,
              local_iters: int | None = None) -> tuple[np.ndarray, str]:
    """``(rounds (len(ranks),), note)``: rounds-to-target per rank for ``local_iters`` (I)
    local iterations per round, and a note saying how they were obtained.

    Schema 2 (``rounds.schema == 2``, table ``rounds.table[str(r)][str(I)]`` measured at
    ``rounds.local_iters``): for each rank, rounds is interpolated **linearly in log I**
    between the two measured I around the problem's I, i.e. with I_a <= I <= I_b,
    ``rounds = R(I_a) + (R(I_b) - R(I_a)) * ln(I / I_a) / ln(I_b / I_a)``; outside the
    measured range it is **clamped** to the nearest measured I (the note says
    "extrapolated ... clamped"). ``local_iters=None`` means the table's
    ``reference_local_iters``.

    An old (flat) table measured at one I (``rounds.settings.local_iters``) gives its
    ``rounds`` vector whatever the I; the note says so when the I differ.
    """
    data = profile if isinstance(profile, dict) else read_profile(profile)
    table = _rounds_table(data)
    wanted = [int(r) for r in np.ravel(ranks)]
    if table.get("schema") == 2:
        iters = v.int_array("profile.rounds.local_iters", table["local_iters"], unique=True)
        iters = np.sort(iters)
        grid = table.get("table")
        if not isinstance(grid, dict):
            raise ValidationError("profile.rounds.table", "a mapping rank -> {I: rounds}", grid)
        missing = [r for r in wanted if str(r) not in grid]
        if missing:
            raise ValidationError("ranks", "ranks measured in the profile "
                                  f"{sorted(int(k) for k in grid)}", missing)
        ref = int(table.get("reference_local_iters", iters[-1]))
        i = ref if local_iters is None else v.positive_int("local_iters", local_iters)
        out = []
        for r in wanted:
            row = grid[str(r)]
            if not isinstance(row, dict) or any(str(x) not in row for x in iters):
                raise ValidationError(f"profile.rounds.table.{r}",
                                      f"rounds at every measured I {iters.tolist()}", row)
            vals = v.float_array(f"profile.rounds.table.{r}", [row[str(x)] for x in iters],
                                 positive=True)
            out.append(_interp_log(iters.astype(float), vals, float(i)))
        lo, hi = int(iters[0]), int(iters[-1])
        if i in iters.tolist():
            note = f"rounds(r, I={i}) as measured"
        elif lo < i < hi:
            below = int(iters[iters < i][-1])
            above = int(iters[iters > i][0])
            note = f"rounds(r, I={i}) interpolated in log I between I={below} and I={above}"
        else:
            edge = lo if i < lo else hi
            note = (f"rounds(r, I={i}) extrapolated: outside the measured I {lo}..{hi}, "
                    f"clamped to I={edge}")
        return np.array(out), note
    lookup = {int(r): float(n) for r, n in zip(table["ranks"], table["rounds"], strict=True)}
    missing = [r for r in wanted if r not in lookup]
    if missing:
        raise ValidationError("ranks", f"ranks measured in the profile {sorted(lookup)}",
                              missing)
    measured = (table.get("settings") or {}).get("local_iters")
    if measured is None:
        note = "rounds(r) at an unrecorded I"
    elif local_iters is None or int(measured) == int(local_iters):
        note = f"rounds(r, I={int(measured)}) as measured"
    else:
        note = (f"rounds(r) measured at I={int(measured)} only, used at I={int(local_iters)} "
                "unchanged (old table: one I)")
    return np.array([lookup[r] for r in wanted]), note


def rounds_protocol(profile: str | Path | dict[str, Any]) -> str:
    """One line naming how a profile's rounds table was measured: the proxy model, the
    LoRA scaling and how the learning rate was chosen (from ``rounds.protocol`` of a
    schema-2 table, ``rounds.settings`` of an old one)."""
    data = profile if isinstance(profile, dict) else read_profile(profile)
    table = _rounds_table(data)
    parts = []
    proxy = table.get("measured_on")
    if isinstance(proxy, dict):
        parts.append(f"proxy model {proxy.get('name', '?')} (L={proxy.get('layers')}, "
                     f"d={proxy.get('hidden')}, seq={proxy.get('seq')})")
    proto = table.get("protocol")
    if isinstance(proto, dict):
        scaling = proto.get("scaling", "?")
        alpha = proto.get("alpha")
        parts.append(f"{scaling}" + (f" (alpha={alpha:g})" if isinstance(alpha, (int, float))
                                     else ""))
        lr = proto.get("lr")
        grid = proto.get("lr_grid") or []
        if isinstance(lr, dict):
            per = "rank and I" if any(isinstance(x, dict) for x in lr.values()) else "rank"
            parts.append(f"lr tuned per {per} over {len(grid)} rates" if grid
                         else f"lr tuned per {per}")
        if isinstance(proto.get("eval_every"), dict):
            parts.append("validation of the virtual FedAvg model within rounds")
        seeds = proto.get("seeds")
        if isinstance(seeds, list):
            parts.append(f"{len(seeds)} seeds")
    else:
        st = table.get("settings") or {}
        if "lr" in st:
            parts.append(f"one lr {st['lr']:g} for every rank")
        if "lora_alpha" in st:
            parts.append(f"lora_alpha {st['lora_alpha']}")
    return ", ".join(parts)


__all__ = ["DEFAULT_PROFILE", "PROFILES_DIR", "bundled_profile_path", "check_profile",
           "load_profile", "profile_memory", "profile_rounds", "read_profile", "rounds_at",
           "rounds_protocol"]
