"""The optimisation problem (SPEC §1, §5): its data, validation and JSON round-trip.

The default scenario (SPEC §6) is built by :mod:`sfl_opt.model.scenario`
(``Problem.default`` delegates to it); measured profiles are read by
:mod:`sfl_opt.model.profiles`."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import ValidationError
from .convergence import Callable as CallableModel
from .convergence import ConvergenceModel, Table
from .convergence import from_dict as model_from_dict
from .energy import validate_energy_fields
from .memory import memory_feasible, memory_need, memory_table
from .workload import Workload

_ARRAY_FIELDS = ("gain_s", "gain_f", "bw_s", "bw_f", "p_max", "client_flops", "rate_down",
                 "splits", "ranks", "rounds")
_SCALAR_FIELDS = ("noise_psd", "p_total_s", "p_total_f", "server_flops", "rate_bcast")
_INT_FIELDS = ("batch",)
#: optional radio scalars with their defaults (written to JSON only when not the default)
_RADIO_FIELDS = {"max_se": math.inf, "se_attenuation": 1.0}
#: the largest finite spectral-efficiency cap over the attenuation, log2(1 + SNR)
SE_CAP_MAX = 1000.0
#: the optional allocated downlink (SPEC §8.4): all three given, or none (fixed rates)
_DOWNLINK_FIELDS = ("gain_d", "bw_d", "p_total_d")
#: the gain fields of the links (:meth:`Problem.with_gains`)
_GAIN_FIELDS = ("gain_s", "gain_f", "gain_d")
#: how many whole problems were validated in this process (tests count it)
VALIDATIONS = {"problem": 0}
#: the optional energy fields (defaults: :data:`sfl_opt.model.energy.DEFAULTS`)
_ENERGY_FIELDS = ("compute_power", "server_power", "bs_power", "client_energy")
#: the ``sfl_opt_problem`` format version written by :meth:`Problem.to_json`
FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Problem:
    """One instance of the SflLLM joint optimisation problem (SPEC §2).

    Fields (SI units):

    - ``gain_s (K, M)``, ``gain_f (K, N)``: linear channel power gains of client k on
      s-link subchannel m / f-link subchannel n;
    - ``bw_s (M,)``, ``bw_f (N,)``: subchannel bandwidths, Hz;
    - ``noise_psd``: noise power spectral density, W/Hz;
    - ``p_max (K,)``: per-client transmit power cap on each link, W;
    - ``p_total_s``, ``p_total_f``: total transmit power cap over all clients per link,
      W (``inf`` for none);
    - ``client_flops (K,)``, ``server_flops``: compute speeds, FLOP/s;
    - ``rate_down (K,)``: main-server-to-client rate, bit/s; ``rate_bcast``: federated
      server broadcast rate, bit/s (``inf`` neglects the term);
    - ``batch``: samples per local iteration b; ``local_iters``: iterations per round I
      (an int), or a candidate set of I (a sequence of distinct ints, stored as a sorted
      tuple: ``solve`` then chooses I; see :attr:`local_iters_candidates`,
      :meth:`at_local_iters`);
    - ``splits``: candidate split points (1..L-1); ``ranks``: candidate LoRA ranks;
      ``rounds``: rounds to reach the target quality for each rank (aligned with ``ranks``)
      at ``local_iters``; with a candidate set of I, shape ``(len(I), len(ranks))``.
      ``None`` when ``convergence`` is given: then derived from it;
    - ``convergence``: the :class:`~sfl_opt.model.convergence.ConvergenceModel` giving
      iterations and rounds to target per (rank, I). None: the one-column
      :meth:`~sfl_opt.model.convergence.Table.from_rounds` of ``rounds`` at ``local_iters``
      (the same iterations at every I). With a model, ``rounds`` must be None or equal
      the model's rounds;
    - ``workload``: per-sample :class:`~sfl_opt.model.workload.Workload`;
    - ``rounds_source``: where ``rounds`` comes from (``"illustrative"`` is printed
      wherever results are shown);
    - ``client_memory (K,)``: memory each client can use for training, bytes (``inf``:
      unlimited, the default; a single number is every client's cap; SPEC §8.2). A
      finite cap needs a workload that models memory; only (split, rank) pairs whose
      :meth:`memory_need` fits every client's cap are candidates (``evaluate`` rejects
      the others, ``solve`` skips them).
    - optional allocated downlink (SPEC §8.4; all three or none): ``gain_d (K, D)``
      linear gains of the base station to client k on downlink subchannel d, ``bw_d
      (D,)`` Hz, ``p_total_d`` W the base station's power (no per-client cap). When
      given, the down stage is ``max_k (TcB_k + S_dn / Rd_k)`` over an allocation of
      the D subchannels and ``rate_down`` is not used; when absent (the default, the
      paper's reading) every client receives at its fixed ``rate_down``.
    - ``max_se``: spectral-efficiency cap per subchannel, bit/s/Hz (``inf``: plain
      Shannon, the default of a hand-built problem; ``Problem.default`` uses 7.4, the
      256-QAM peak of the NR MCS table); ``se_attenuation`` α in (0, 1]: the truncated
      Shannon rate of 3GPP TR 36.942 Annex A, ``bw min(α log2(1 + SNR), max_se)`` on
      every allocated subchannel of every link (the s-, f- and allocated downlink).
      Power beyond the cap is wasted; the solvers never spend it.
    - energy (:mod:`sfl_opt.model.energy`; defaults in :data:`sfl_opt.model.energy.DEFAULTS`):
      ``compute_power (K,)`` W each client draws while computing (its J/FLOP is
      ``compute_power / client_flops``), ``server_power`` W the main server draws while
      computing, ``bs_power`` W the base station's transmit power (the fixed-rate
      downlink shares it equally between the K clients, the broadcast uses all of it);
      ``client_energy (K,)``: optional budget, J per client per training run (compute
      plus transmit; ``inf``: none, the default; one number is every client's budget).
      ``evaluate`` rejects a point over a budget and every method of ``solve`` honours
      it (:mod:`sfl_opt.methods.budget`).
    """

    gain_s: np.ndarray
    gain_f: np.ndarray
    bw_s: np.ndarray
    bw_f: np.ndarray
    noise_psd: float
    p_max: np.ndarray
    p_total_s: float
    p_total_f: float
    client_flops: np.ndarray
    server_flops: float
    rate_down: np.ndarray
    rate_bcast: float
    batch: int
    local_iters: int | tuple[int, ...]
    splits: np.ndarray
    ranks: np.ndarray
    rounds: np.ndarray | None
    workload: Workload
    rounds_source: str = "user"
    client_memory: np.ndarray | None = None
    gain_d: np.ndarray | None = None
    bw_d: np.ndarray | None = None
    p_total_d: float | None = None
    band: str = "separate"
    max_se: float = math.inf
    se_attenuation: float = 1.0
    compute_power: np.ndarray | None = None
    server_power: float | None = None
    bs_power: float | None = None
    client_energy: np.ndarray | None = None
    convergence: Any = None

    def __post_init__(self) -> None:
        validate_problem(self)

    # ------------------------------------------------------------- dimensions
    @property
    def K(self) -> int:
        """Number of clients."""
        return int(self.gain_s.shape[0])

    @property
    def M(self) -> int:
        """Number of s-link subchannels."""
        return int(self.gain_s.shape[1])

    @property
    def N(self) -> int:
        """Number of f-link subchannels."""
        return int(self.gain_f.shape[1])

    @property
    def D(self) -> int:
        """Number of downlink subchannels (0 in the fixed-rate downlink model)."""
        return 0 if self.gain_d is None else int(self.gain_d.shape[1])

    @property
    def se_cap(self) -> float:
        """The cap on ``log2(1 + SNR)`` of one subchannel, ``max_se / se_attenuation``
        (inf: none); the kernels' ``lcap``."""
        return self.max_se / self.se_attenuation

    def subchannel_rate(self, bw: Any, snr: Any) -> np.ndarray:
        """Rate (bit/s) of subchannels of bandwidth ``bw`` (Hz) at signal-to-noise ratio
        ``snr``: ``bw min(se_attenuation log2(1 + snr), max_se)``."""
        se = self.se_attenuation * (np.log1p(np.asarray(snr, dtype=float)) / np.log(2.0))
        return np.asarray(bw, dtype=float) * np.minimum(se, self.max_se)

    @property
    def downlink(self) -> str:
        """``"allocated"`` when the downlink subchannels are optimised, else ``"fixed"``."""
        return "fixed" if self.gain_d is None else "allocated"

    @property
    def L(self) -> int:
        """Number of transformer blocks."""
        return self.workload.layers

    # ----------------------------------------------------- local iterations I
    @property
    def local_iters_candidates(self) -> tuple[int, ...]:
        """The candidate local iterations per round: ``(local_iters,)`` for a fixed I."""
        li = self.local_iters
        return tuple(li) if isinstance(li, tuple) else (int(li),)

    @property
    def chooses_local_iters(self) -> bool:
        """True when ``local_iters`` is a candidate set (``solve`` chooses I)."""
        return isinstance(self.local_iters, tuple)

    def at_local_iters(self, local_iters: int) -> Problem:
        """The fixed-I problem at one of the candidates, its ``rounds`` from
        ``convergence`` (a fixed-I problem returns itself for its own I)."""
        i = v.positive_int("local_iters", local_iters)
        if i not in self.local_iters_candidates:
            raise ValidationError("local_iters", "one of the problem's candidates "
                                  f"{list(self.local_iters_candidates)}", i)
        if not self.chooses_local_iters:
            return self
        return self.replace(local_iters=i, rounds=None)

    # ----------------------------------------------------------------- memory
    def memory_need(self, split: int | np.ndarray, rank: int) -> np.ndarray:
        """Memory each client needs at ``(split, rank)``, bytes, shape ``(K,)``.

        ``split`` is one cut for all clients (the entries are then equal) or one per
        client, shape ``(K,)`` (``split_mode="per_client"``); the model of
        :mod:`sfl_opt.model.memory`. A workload without memory fields raises a
        :class:`ValidationError` naming ``workload.block_param_bytes``.
        """
        if np.ndim(split) == 0:
            need = memory_need(self.workload, self.batch, int(split), float(rank))
            return np.full(self.K, need)
        sp = np.asarray(split, dtype=np.int64)
        if sp.shape != (self.K,):
            raise ValidationError("split", f"an integer or shape ({self.K},)",
                                  f"shape {sp.shape}")
        return memory_table(self.workload, self.batch, sp, [float(rank)])[:, 0]

    def memory_feasible(self) -> np.ndarray:
        """Which candidate pairs fit every client's ``client_memory``: bool array
        ``(len(splits), len(ranks))`` (all True when every cap is ``inf``)."""
        return memory_feasible(self.workload, self.batch, self.splits, self.ranks,
                               self.client_memory)

    # ----------------------------------------------------------------- copies
    def replace(self, **changes: Any) -> Problem:
        """A validated copy with some fields changed."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = sorted(set(changes) - set(data))
        if unknown:
            raise ValidationError("replace", f"field names of Problem {sorted(data)}", unknown)
        conv = data.get("convergence")
        if conv is not None and not getattr(conv, "derived", False) and "rounds" not in changes \
                and {"local_iters", "ranks", "convergence"} & set(changes):
            data["rounds"] = None  # derived again from the model
        if "rounds" in changes and changes["rounds"] is not None \
                and "convergence" not in changes and conv is not None:
            data["convergence"] = None  # given rounds replace the model (one-column table)
        data.update(changes)
        return Problem(**data)

    def with_gains(self, **gains: Any) -> Problem:
        """A copy with some links' gains replaced (keywords ``gain_s``, ``gain_f``,
        ``gain_d``; linear), each checked as the constructor checks it (positive, finite,
        the field's present shape) while every other field, validated already, is shared:
        no whole-problem validation (a training simulation makes one per round)."""
        out = copy.copy(self)
        for name, g in gains.items():
            old = getattr(self, name, None) if name in _GAIN_FIELDS else None
            if old is None:
                links = [n for n in _GAIN_FIELDS if getattr(self, n) is not None]
                raise ValidationError("with_gains", f"gains of the problem's links {links}",
                                      name)
            object.__setattr__(out, name, v.float_array(name, g, shape=old.shape, positive=True))
        return out

    def permute_clients(self, perm: np.ndarray) -> Problem:
        """The same problem with client ``i`` of the result being client ``perm[i]`` here."""
        perm = np.asarray(perm, dtype=int)
        if sorted(perm.tolist()) != list(range(self.K)):
            raise ValidationError("perm", f"a permutation of 0..{self.K - 1}", perm)
        extra = {} if self.gain_d is None else {"gain_d": self.gain_d[perm]}
        return self.replace(gain_s=self.gain_s[perm], gain_f=self.gain_f[perm],
                            p_max=self.p_max[perm], client_flops=self.client_flops[perm],
                            rate_down=self.rate_down[perm],
                            client_memory=self.client_memory[perm],
                            compute_power=self.compute_power[perm],
                            client_energy=self.client_energy[perm], **extra)

    # ------------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain-Python representation; non-finite floats become the strings 'inf'."""
        out: dict[str, Any] = {}
        for name in _ARRAY_FIELDS:
            out[name] = [_enc(x) for x in np.ravel(getattr(self, name)).tolist()]
            if getattr(self, name).ndim == 2:
                k = getattr(self, name).shape[1]
                flat = out[name]
                out[name] = [flat[i:i + k] for i in range(0, len(flat), k)]
        for name in _SCALAR_FIELDS:
            out[name] = _enc(getattr(self, name))
        for name in _INT_FIELDS:
            out[name] = int(getattr(self, name))
        li = self.local_iters
        out["local_iters"] = list(li) if isinstance(li, tuple) else int(li)
        if not getattr(self.convergence, "derived", False):
            out["convergence"] = self.convergence.to_dict()
        out["workload"] = self.workload.to_dict()
        out["rounds_source"] = self.rounds_source
        out["client_memory"] = [_enc(x) for x in self.client_memory.tolist()]
        if self.gain_d is not None:  # the fixed-rate model writes no downlink fields
            assert self.bw_d is not None and self.p_total_d is not None
            out["gain_d"] = [[_enc(x) for x in row] for row in self.gain_d.tolist()]
            out["bw_d"] = [_enc(x) for x in self.bw_d.tolist()]
            out["p_total_d"] = _enc(self.p_total_d)
        if self.band != "separate":
            out["band"] = self.band
        for name, default in _RADIO_FIELDS.items():
            if getattr(self, name) != default:
                out[name] = _enc(getattr(self, name))
        out["compute_power"] = [_enc(x) for x in self.compute_power.tolist()]
        out["server_power"] = _enc(self.server_power)
        out["bs_power"] = _enc(self.bs_power)
        out["client_energy"] = [_enc(x) for x in self.client_energy.tolist()]
        return out

    def to_json(self, indent: int | None = 1) -> str:
        """JSON text that :meth:`from_json` turns back into an equal problem (exactly)."""
        return json.dumps({"sfl_opt_problem": FORMAT_VERSION, **self.to_dict()}, indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        if not isinstance(data, dict):
            raise ValidationError("problem", "a JSON object of Problem fields", data)
        data = dict(data)
        version = data.pop("sfl_opt_problem", FORMAT_VERSION)
        if isinstance(version, bool) or version != FORMAT_VERSION:
            raise ValidationError("sfl_opt_problem", f"format version {FORMAT_VERSION} (this "
                                  "sfl-opt reads only that one)", version)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError("problem", f"only the fields {sorted(known)}", unknown)
        missing = sorted(known - set(data) - {"rounds_source", "band", "client_memory",
                                               "convergence", *_DOWNLINK_FIELDS, *_RADIO_FIELDS,
                                               *_ENERGY_FIELDS})
        if missing:
            raise ValidationError("problem", "every Problem field", f"missing {missing}")
        for name in _ARRAY_FIELDS:
            data[name] = _dec_nested(data[name])
        for name in (*_SCALAR_FIELDS, *(n for n in _RADIO_FIELDS if n in data)):
            data[name] = _dec(data[name])
        if "client_memory" in data:
            data["client_memory"] = _dec_nested(data["client_memory"])
        for name in (*_DOWNLINK_FIELDS, *_ENERGY_FIELDS):
            if name in data:
                data[name] = _dec_nested(data[name])
        data["workload"] = Workload.from_dict(data["workload"])
        if isinstance(data.get("local_iters"), list):
            data["local_iters"] = tuple(data["local_iters"])
        if data.get("convergence") is not None:
            data["convergence"] = model_from_dict(data["convergence"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Problem:
        """Parse the output of :meth:`to_json`."""
        return cls.from_dict(v.json_text("json", text))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if not isinstance(b, np.ndarray) or a.shape != b.shape \
                        or not np.array_equal(a, b):
                    return False
            elif isinstance(b, np.ndarray) or a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    # ----------------------------------------------------------- the default
    @classmethod
    def default(cls, seed: int = 0, **overrides: Any) -> Problem:
        """The bundled default scenario of SPEC §6, drawn with ``seed``; every keyword of
        :func:`sfl_opt.model.scenario.default_problem` (whose defaults are the mapping
        :data:`sfl_opt.model.scenario.DEFAULTS`) is an override. A thin alias of that
        function, which lives in the layer above (it builds a ``Problem``) and installs
        itself here when :mod:`sfl_opt.model` is imported."""
        return DEFAULT_SCENARIO[0](seed, **overrides)


#: the function behind :meth:`Problem.default`:
#: :func:`sfl_opt.model.scenario.default_problem`, installed by :mod:`sfl_opt.model.scenario`
#: (imported with the package :mod:`sfl_opt.model`), so ``problem`` never imports upwards
DEFAULT_SCENARIO: list[Callable[..., Problem]] = []


def _enc(x: float) -> float | str:
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    return x


def _dec(x: Any) -> Any:
    if isinstance(x, str) and x in ("inf", "-inf", "nan"):
        return float(x)
    return x


def _dec_nested(x: Any) -> Any:
    if isinstance(x, list):
        return [_dec_nested(y) for y in x]
    return _dec(x)


def validate_problem(p: Problem) -> None:
    """Check every field of ``p`` and store normalised read-only arrays.

    Raises :class:`~sfl_opt.errors.ValidationError` (a ``ValueError``) naming the field.
    """
    VALIDATIONS["problem"] += 1
    set_ = object.__setattr__
    gain_s = v.float_array("gain_s", p.gain_s, ndim=2, positive=True)
    k, m = gain_s.shape
    gain_f = v.float_array("gain_f", p.gain_f, ndim=2, positive=True)
    if gain_f.shape[0] != k:
        raise ValidationError("gain_f", f"{k} rows (one per client, as gain_s)",
                              f"shape {gain_f.shape}")
    n = gain_f.shape[1]
    if k > m:
        raise ValidationError("gain_s", f"at least as many s-link subchannels as clients (K={k})",
                              f"M={m}")
    if k > n:
        raise ValidationError("gain_f", f"at least as many f-link subchannels as clients (K={k})",
                              f"N={n}")
    set_(p, "gain_s", gain_s)
    set_(p, "gain_f", gain_f)
    set_(p, "bw_s", v.float_array("bw_s", p.bw_s, shape=(m,), positive=True))
    set_(p, "bw_f", v.float_array("bw_f", p.bw_f, shape=(n,), positive=True))
    set_(p, "noise_psd", v.scalar("noise_psd", p.noise_psd, positive=True))
    set_(p, "p_max", v.float_array("p_max", p.p_max, shape=(k,), positive=True))
    set_(p, "p_total_s", v.scalar("p_total_s", p.p_total_s, positive=True, allow_inf=True))
    set_(p, "p_total_f", v.scalar("p_total_f", p.p_total_f, positive=True, allow_inf=True))
    set_(p, "client_flops", v.float_array("client_flops", p.client_flops, shape=(k,),
                                          positive=True))
    set_(p, "server_flops", v.scalar("server_flops", p.server_flops, positive=True))
    set_(p, "rate_down", v.float_array("rate_down", p.rate_down, shape=(k,), positive=True,
                                       allow_inf=True))
    set_(p, "rate_bcast", v.scalar("rate_bcast", p.rate_bcast, positive=True, allow_inf=True))
    set_(p, "batch", v.positive_int("batch", p.batch))
    set_(p, "local_iters", _local_iters(p.local_iters))
    if not isinstance(p.workload, Workload):
        raise ValidationError("workload", "a sfl_opt.Workload", type(p.workload).__name__)
    L = p.workload.layers
    splits = v.int_array("splits", p.splits, unique=True)
    if splits.min() < 1 or splits.max() > L - 1:
        raise ValidationError("splits", f"split points within 1..{L - 1} (L={L} blocks)",
                              splits.tolist())
    set_(p, "splits", splits)
    ranks = v.int_array("ranks", p.ranks, unique=True)
    if ranks.min() < 1:
        raise ValidationError("ranks", "LoRA ranks >= 1", ranks.tolist())
    set_(p, "ranks", ranks)
    _validate_rounds(p, ranks)
    if not isinstance(p.rounds_source, str):
        raise ValidationError("rounds_source", "a string", p.rounds_source)
    if p.client_memory is None:
        set_(p, "client_memory", np.full(k, np.inf))
    else:
        caps = p.client_memory
        if isinstance(caps, (int, float, np.integer, np.floating)) and not isinstance(caps, bool):
            caps = np.full(k, float(caps))  # one cap for every client
        set_(p, "client_memory", v.float_array("client_memory", caps, shape=(k,),
                                               positive=True, allow_inf=True))
    _check_memory(p)
    _validate_downlink(p, k)
    validate_energy_fields(p, k)
    v.choice("band", p.band, ("separate", "shared"))
    _validate_radio(p)
    if p.band == "shared" and (m != n or not np.array_equal(p.bw_s, p.bw_f)):
        raise ValidationError("band", "'separate', or 'shared' with gain_s and gain_f over "
                              "the same subchannels (M = N, bw_s == bw_f)",
                              f"'shared' with M={m}, N={n}")


def _local_iters(value: Any) -> int | tuple[int, ...]:
    """``local_iters``: a positive int, or a candidate set (distinct positive ints, a
    sorted tuple; one candidate is that int)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = v.int_array("local_iters", value, unique=True)
        if arr.min() < 1:
            raise ValidationError("local_iters", "local iterations per round >= 1",
                                  arr.tolist())
        out = tuple(sorted(int(x) for x in arr))
        return out[0] if len(out) == 1 else out
    if isinstance(value, np.integer):
        value = int(value)
    return v.positive_int("local_iters", value)


def _validate_rounds(p: Problem, ranks: np.ndarray) -> None:
    """``rounds`` and ``convergence`` (see the class docstring)."""
    set_ = object.__setattr__
    conv = p.convergence
    if conv is not None and not isinstance(conv, ConvergenceModel):
        raise ValidationError("convergence", "a sfl_opt.convergence.ConvergenceModel or None",
                              type(conv).__name__)
    iters = p.local_iters_candidates
    if conv is None or conv.derived:
        if p.rounds is None:
            raise ValidationError("rounds", "rounds per rank (or a convergence model)", None)
        if p.chooses_local_iters:
            raise ValidationError("convergence", "a convergence model when local_iters is a "
                                  "candidate set (the rounds depend on I)", None)
        rounds = v.float_array("rounds", p.rounds, ndim=1, positive=True)
        if rounds.shape != ranks.shape:
            raise ValidationError("rounds", f"one entry per rank ({ranks.size})",
                                  f"{rounds.size} entries")
        set_(p, "rounds", rounds)
        if conv is None or not np.array_equal(conv.ranks, np.sort(ranks)) \
                or conv.local_iters.tolist() != [iters[0]] \
                or not np.array_equal(conv.table[:, 0], (rounds * iters[0])[np.argsort(ranks)]):
            if np.isfinite(rounds * iters[0]).all():
                set_(p, "convergence", Table.from_rounds(ranks, rounds, iters[0]))
            else:  # rounds x I overflows: kept as given, an error where it is used
                lookup = dict(zip(ranks.tolist(), rounds.tolist(), strict=True))
                model = CallableModel(lambda r, i, s, i0=iters[0]: lookup[r] * i0,
                                 name="rounds x I (overflows float64)")
                model.derived = True
                set_(p, "convergence", model)
        return
    expected = np.array([conv.rounds_for(ranks, i) for i in iters])
    if not p.chooses_local_iters:
        expected = expected[0]
    if p.rounds is None:
        set_(p, "rounds", expected)
        return
    rounds = v.float_array("rounds", p.rounds, shape=expected.shape, positive=True)
    if not np.allclose(rounds, expected, rtol=1e-9, atol=0.0):
        raise ValidationError("rounds", "None or the convergence model's rounds at local_iters "
                              f"{list(iters)} ({np.round(expected, 6).tolist()})",
                              rounds.tolist())
    set_(p, "rounds", rounds)


def _check_memory(p: Problem) -> None:
    """A finite ``client_memory`` needs a workload that models memory, and some
    candidate pair that fits every cap (else the error names the least need)."""
    caps = p.client_memory
    if np.isinf(caps).all():
        return
    if not p.workload.has_memory:
        raise ValidationError("client_memory", "inf for every client (the workload "
                              f"({p.workload.source}) does not model memory)", caps.tolist())
    need = memory_table(p.workload, p.batch, p.splits, p.ranks)
    cap = float(caps.min())
    if not (need <= cap).any():
        i, q = np.unravel_index(int(np.argmin(need)), need.shape)
        raise ValidationError(
            "client_memory", f"a cap that fits some (split, rank) candidate: the least need "
            f"is {need[i, q]:.4g} bytes ({need[i, q] / 1e9:.3f} GB) at split "
            f"{int(p.splits[i])}, rank {int(p.ranks[q])}, batch {p.batch}",
            f"smallest cap {cap:.4g} bytes ({cap / 1e9:.3f} GB)")


def _validate_radio(p: Problem) -> None:
    """``max_se`` > 0 (inf allowed), ``se_attenuation`` in (0, 1], their ratio at most
    :data:`SE_CAP_MAX` when finite."""
    set_ = object.__setattr__
    max_se = v.scalar("max_se", p.max_se, positive=True, allow_inf=True)
    alpha = v.scalar("se_attenuation", p.se_attenuation, positive=True)
    if alpha > 1.0:
        raise ValidationError("se_attenuation", "a factor in (0, 1] (TR 36.942 Annex A uses "
                              "0.4-0.75)", alpha)
    if math.isfinite(max_se) and max_se / alpha > SE_CAP_MAX:
        raise ValidationError("max_se", f"a cap with max_se / se_attenuation <= {SE_CAP_MAX:g}"
                              " bit/s/Hz, or inf for none", max_se)
    set_(p, "max_se", max_se)
    set_(p, "se_attenuation", alpha)


def _validate_downlink(p: Problem, k: int) -> None:
    """The optional allocated downlink: all of ``gain_d``, ``bw_d``, ``p_total_d`` or none."""
    given = [name for name in _DOWNLINK_FIELDS if getattr(p, name) is not None]
    if not given:
        return
    if len(given) != len(_DOWNLINK_FIELDS):
        missing = [n for n in _DOWNLINK_FIELDS if n not in given]
        raise ValidationError(given[0], "to come with " + " and ".join(missing)
                              + " (an allocated downlink needs gain_d, bw_d and p_total_d)",
                              f"missing {missing}")
    set_ = object.__setattr__
    gain_d = v.float_array("gain_d", p.gain_d, ndim=2, positive=True)
    if gain_d.shape[0] != k:
        raise ValidationError("gain_d", f"{k} rows (one per client, as gain_s)",
                              f"shape {gain_d.shape}")
    if gain_d.shape[1] < k:
        raise ValidationError("gain_d", f"at least as many downlink subchannels as clients "
                              f"(K={k})", f"D={gain_d.shape[1]}")
    set_(p, "gain_d", gain_d)
    set_(p, "bw_d", v.float_array("bw_d", p.bw_d, shape=(gain_d.shape[1],), positive=True))
    set_(p, "p_total_d", v.scalar("p_total_d", p.p_total_d, positive=True))
