"""The optimisation problem (SPEC §1, §5, §6): validated, immutable, JSON round-trip."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from . import _validation as v
from . import channel
from .errors import ValidationError
from .workload import Workload, bundled_profile_path, load_profile, profile_rounds

#: Rounds-to-target per rank used until a measured profile is bundled. Illustrative only.
ILLUSTRATIVE_ROUNDS = {1: 300.0, 2: 240.0, 4: 200.0, 8: 185.0, 16: 180.0}

_ARRAY_FIELDS = ("gain_s", "gain_f", "bw_s", "bw_f", "p_max", "client_flops", "rate_down",
                 "splits", "ranks", "rounds")
_SCALAR_FIELDS = ("noise_psd", "p_total_s", "p_total_f", "server_flops", "rate_bcast")
_INT_FIELDS = ("batch", "local_iters")


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
    - ``batch``: samples per local iteration b; ``local_iters``: iterations per round I;
    - ``splits``: candidate split points (1..L-1); ``ranks``: candidate LoRA ranks;
      ``rounds``: rounds to reach the target quality for each rank (aligned with ``ranks``);
    - ``workload``: per-sample :class:`~sfl_opt.workload.Workload`;
    - ``rounds_source``: where ``rounds`` comes from (``"illustrative"`` is printed
      wherever results are shown).
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
    local_iters: int
    splits: np.ndarray
    ranks: np.ndarray
    rounds: np.ndarray
    workload: Workload
    rounds_source: str = "user"

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
    def L(self) -> int:
        """Number of transformer blocks."""
        return self.workload.layers

    # ----------------------------------------------------------------- copies
    def replace(self, **changes: Any) -> Problem:
        """A validated copy with some fields changed."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = sorted(set(changes) - set(data))
        if unknown:
            raise ValidationError("replace", f"field names of Problem {sorted(data)}", unknown)
        data.update(changes)
        return Problem(**data)

    def permute_clients(self, perm: np.ndarray) -> Problem:
        """The same problem with client ``i`` of the result being client ``perm[i]`` here."""
        perm = np.asarray(perm, dtype=int)
        if sorted(perm.tolist()) != list(range(self.K)):
            raise ValidationError("perm", f"a permutation of 0..{self.K - 1}", perm)
        return self.replace(gain_s=self.gain_s[perm], gain_f=self.gain_f[perm],
                            p_max=self.p_max[perm], client_flops=self.client_flops[perm],
                            rate_down=self.rate_down[perm])

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
        out["workload"] = self.workload.to_dict()
        out["rounds_source"] = self.rounds_source
        return out

    def to_json(self, indent: int | None = 1) -> str:
        """JSON text that :meth:`from_json` turns back into an equal problem (exactly)."""
        return json.dumps({"sfl_opt_problem": 1, **self.to_dict()}, indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        if not isinstance(data, dict):
            raise ValidationError("problem", "a JSON object of Problem fields", data)
        data = dict(data)
        data.pop("sfl_opt_problem", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError("problem", f"only the fields {sorted(known)}", unknown)
        missing = sorted(known - set(data) - {"rounds_source"})
        if missing:
            raise ValidationError("problem", "every Problem field", f"missing {missing}")
        for name in _ARRAY_FIELDS:
            data[name] = _dec_nested(data[name])
        for name in _SCALAR_FIELDS:
            data[name] = _dec(data[name])
        data["workload"] = Workload.from_dict(data["workload"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Problem:
        """Parse the output of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError("json", "valid JSON text", str(exc)) from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    # ----------------------------------------------------------- the default
    @classmethod
    def default(
        cls,
        seed: int = 0,
        *,
        clients: int = 5,
        subchannels: int = 20,
        subchannels_f: int | None = None,
        subchannel_bw: float = 1e6,
        p_max: float = 0.2,
        p_total: float = 0.6,
        client_flops: tuple[float, float] = (0.2e12, 1.0e12),
        server_flops: float = 50e12,
        local_iters: int = 50,
        batch: int = 8,
        seq: int | None = None,
        layers: int | None = None,
        hidden: int | None = None,
        ranks: tuple[int, ...] = (1, 2, 4, 8, 16),
        bs_power: float = 10.0,
        bs_bandwidth: float = 20e6,
        r_min: float = 50.0,
        r_max: float = 500.0,
        shadowing_db: float = 8.0,
        profile: str | Path | None = "bundled",
    ) -> Problem:
        """The bundled default scenario of SPEC §6, drawn with ``seed``.

        K = ``clients`` in a ring ``r_min``..``r_max`` m around the base station,
        3GPP path loss, ``shadowing_db`` log-normal shadowing per client and link,
        Rayleigh fading per subchannel, -174 dBm/Hz noise, ``subchannels`` (M) and
        ``subchannels_f`` (N, default M) subchannels of ``subchannel_bw`` Hz,
        ``p_max`` W per client, ``p_total`` W per link, client compute uniform in
        ``client_flops`` FLOP/s, ``server_flops`` FLOP/s, the GPT-2 workload (see
        ``profile``), downlink from a ``bs_power`` W base station over
        ``bs_bandwidth`` Hz shared equally. Every keyword is a sweepable override.

        Workload and ``rounds`` (``profile``; ``layers``, ``hidden``, ``seq`` default
        to GPT-2 small's 12, 768, 512 tokens):

        - ``"bundled"`` (default): the measured profile ``profiles/cpu-gpt2-small.json``
          of the source tree. Its measured workload is used when ``layers``,
          ``hidden`` and ``seq`` are left at None or equal the profile's model; if you
          override any of them with another value, the workload is the analytic
          ``Workload.gpt2(layers, hidden, seq)`` instead (the profile does not describe
          that model) while ``rounds`` still come from the profile's measured table.
          If the file is missing (non-editable install), the analytic workload and the
          illustrative rounds table are used (``rounds_source="illustrative"``).
        - a path: that profile's workload and measured ``rounds`` table. ``layers``,
          ``hidden``, ``seq`` must then be None or equal the profile's model, else a
          :class:`ValidationError` names the field.
        - None: the analytic workload and the illustrative rounds table.

        With a profile, ``rounds`` are looked up for each of ``ranks`` in its table
        (a rank missing from the table is a ValidationError naming ``ranks``) and
        ``rounds_source`` is ``"measured: <profile file name>"``.
        """
        v.seed("seed", seed)
        k = v.positive_int("clients", clients)
        m = v.positive_int("subchannels", subchannels)
        n = m if subchannels_f is None else v.positive_int("subchannels_f", subchannels_f)
        lo, hi = (v.scalar("client_flops", x, positive=True) for x in client_flops)
        if hi < lo:
            raise ValidationError("client_flops", "a (low, high) range with low <= high",
                                  client_flops)
        rng = np.random.default_rng(seed)
        dist = channel.ring_distances(rng, k, r_min, r_max)
        flops = rng.uniform(lo, hi, size=k)
        gain_s = channel.draw_subchannel_gains(rng, dist, m, shadowing_db)
        gain_f = channel.draw_subchannel_gains(rng, dist, n, shadowing_db)
        g_down = channel.large_scale_gain(dist, rng.normal(0.0, shadowing_db, size=k))
        noise = channel.noise_psd()
        ranks = tuple(int(r) for r in ranks)
        workload, rounds, rounds_source = _default_workload_rounds(
            profile, ranks, layers=layers, hidden=hidden, seq=seq)
        return cls(
            gain_s=gain_s,
            gain_f=gain_f,
            bw_s=np.full(m, float(subchannel_bw)),
            bw_f=np.full(n, float(subchannel_bw)),
            noise_psd=noise,
            p_max=np.full(k, float(p_max)),
            p_total_s=float(p_total),
            p_total_f=float(p_total),
            client_flops=flops,
            server_flops=float(server_flops),
            rate_down=channel.downlink_rates(g_down, bs_power, bs_bandwidth, noise),
            rate_bcast=channel.broadcast_rate(g_down, bs_power, bs_bandwidth, noise),
            batch=batch,
            local_iters=local_iters,
            splits=np.arange(1, workload.layers),
            ranks=np.array(ranks),
            rounds=np.array(rounds),
            workload=workload,
            rounds_source=rounds_source,
        )


#: GPT-2 small dimensions used by ``Problem.default`` when no profile fixes them.
_DEFAULT_DIMS = {"layers": 12, "hidden": 768, "seq": 512}


def _default_workload_rounds(
    profile: str | Path | None, ranks: tuple[int, ...], **dims: int | None
) -> tuple[Workload, list[float], str]:
    """Workload, rounds per rank and rounds_source for ``Problem.default`` (see there)."""
    for name, val in dims.items():
        if val is not None:
            v.positive_int(name, val)
    explicit = profile is not None and not (isinstance(profile, str) and profile == "bundled")
    if explicit:
        path = Path(profile)  # type: ignore[arg-type]
    elif profile is None:
        path = None
    else:
        path = bundled_profile_path()
    if path is None:
        full = {k: (_DEFAULT_DIMS[k] if val is None else int(val)) for k, val in dims.items()}
        rounds = [ILLUSTRATIVE_ROUNDS.get(r, _interp_rounds(r)) for r in ranks]
        return Workload.gpt2(**full), rounds, "illustrative"
    data = load_profile(path)
    rounds = profile_rounds(data, ranks).tolist()
    source = f"measured: {path.name}"
    model = data["model"]
    proxy = (data.get("rounds") or {}).get("measured_on")
    if isinstance(proxy, dict) and any(proxy.get(k) != model.get(k)
                                       for k in ("layers", "hidden", "seq")):
        source += (f" (rounds measured on the proxy model {proxy.get('name', '?')}: "
                   f"L={proxy.get('layers')}, d={proxy.get('hidden')}, seq={proxy.get('seq')})")
    differs = [k for k, val in dims.items() if val is not None and int(val) != int(model[k])]
    if not differs:
        return Workload.from_profile(path), rounds, source
    if explicit:
        k = differs[0]
        raise ValidationError(k, f"None or the profile's {k}={model[k]} ({path.name} fixes "
                                 "the model; pass profile=None for the analytic workload)",
                              dims[k])
    full = {k: int(model[k]) if val is None else int(val) for k, val in dims.items()}
    return Workload.gpt2(**full), rounds, source


def _interp_rounds(rank: int) -> float:
    """Illustrative rounds for a rank outside the table (log-linear interpolation)."""
    keys = np.array(sorted(ILLUSTRATIVE_ROUNDS), dtype=float)
    vals = np.array([ILLUSTRATIVE_ROUNDS[int(k)] for k in keys])
    return float(np.interp(np.log2(max(rank, 1)), np.log2(keys), vals))


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
    set_(p, "local_iters", v.positive_int("local_iters", p.local_iters))
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
    rounds = v.float_array("rounds", p.rounds, ndim=1, positive=True)
    if rounds.shape != ranks.shape:
        raise ValidationError("rounds", f"one entry per rank ({ranks.size})",
                              f"{rounds.size} entries")
    set_(p, "rounds", rounds)
    if not isinstance(p.rounds_source, str):
        raise ValidationError("rounds_source", "a string", p.rounds_source)
