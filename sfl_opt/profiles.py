"""Measured device profiles: where they live, their schema and their loader.

One module for both sides: the harness (``sfl-opt profile``, ``measure-rounds``) writes
profiles into :data:`PROFILES_DIR`, the solver (``Problem.default``,
``Workload.from_profile``) reads them. Schema: docs/profiles.md.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from . import _validation as v
from .errors import ValidationError

#: The repository's ``profiles/`` folder (next to the package: source checkout or
#: editable install), where the harness writes. The source of the packaged copies.
PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
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
    packaged = resources.files(__package__).joinpath(PACKAGE_PROFILES, name)
    if packaged.is_file():
        return Path(str(packaged))
    return None


def load_profile(path: str | Path) -> dict[str, Any]:
    """Read and check a profile JSON file (schema: docs/profiles.md, :func:`check_profile`).
    Errors name the field (``profile`` ...)."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError("profile", "an existing profile JSON file", str(path))
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValidationError("profile", f"valid JSON in {p.name}", str(exc)) from None
    return check_profile(data, p.name)


def check_profile(data: Any, name: str = "profile") -> dict[str, Any]:
    """Check a profile's content (what a writer must produce, what a reader accepts).

    It has a ``model`` entry with ``layers``, ``hidden``, ``heads``, ``seq``, ``vocab``
    and a ``workload`` entry; a ``rounds`` table, if present, has aligned ``ranks`` and
    ``rounds`` (normalised to lists here). Errors name the field (``profile`` ...).
    """
    if not isinstance(data, dict):
        raise ValidationError("profile", "a JSON object", type(data).__name__)
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

    So the need of :func:`sfl_opt.memory.memory_need` at the measured batch and rank
    equals the profile's ``client_peak`` for every split.
    """
    data = profile if isinstance(profile, dict) else load_profile(profile)
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


def profile_rounds(profile: str | Path | dict[str, Any], ranks: Any) -> np.ndarray:
    """Measured rounds-to-target of ``profile``'s ``rounds`` table for each of ``ranks``.

    Raises :class:`ValidationError` naming ``ranks`` if a rank is not in the table (or
    naming ``profile.rounds`` if the profile has no table).
    """
    data = profile if isinstance(profile, dict) else load_profile(profile)
    table = data.get("rounds")
    if not table:
        raise ValidationError("profile.rounds", "a measured rounds table (sfl-opt measure-rounds)",
                              None)
    lookup = {int(r): float(n) for r, n in zip(table["ranks"], table["rounds"], strict=True)}
    wanted = [int(r) for r in np.ravel(ranks)]
    missing = [r for r in wanted if r not in lookup]
    if missing:
        raise ValidationError("ranks", f"ranks measured in the profile {sorted(lookup)}",
                              missing)
    return np.array([lookup[r] for r in wanted])


__all__ = ["DEFAULT_PROFILE", "PROFILES_DIR", "bundled_profile_path", "check_profile",
           "load_profile", "profile_rounds"]
