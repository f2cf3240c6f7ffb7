"""The default scenario of SPEC §6 (``Problem.default`` delegates here).

:data:`DEFAULTS` is the one mapping of the scenario's keyword defaults (SI units); the
builder :func:`default_problem` takes its keyword defaults from it, and the sweeps and
experiments read it (never a function signature). The workload and the rounds table come
from a measured profile (:mod:`sfl_opt.profiles`) or the analytic GPT-2 model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import _validation as v
from . import channel
from .errors import ValidationError
from .problem import Problem
from .profiles import bundled_profile_path, load_profile, profile_rounds
from .workload import Workload

#: Rounds-to-target per rank used until a measured profile is bundled. Illustrative only.
ILLUSTRATIVE_ROUNDS = {1: 300.0, 2: 240.0, 4: 200.0, 8: 185.0, 16: 180.0}

#: GPT-2 small dimensions used when no profile fixes them.
GPT2_DIMS = {"layers": 12, "hidden": 768, "seq": 512}

#: keyword defaults of :func:`default_problem` (SI units: Hz, W, FLOP/s, m, dB); ``None``
#: for ``layers``/``hidden``/``seq`` means "the profile's model, else GPT-2 small"
#: (:data:`GPT2_DIMS`), for ``subchannels_f`` "as many as ``subchannels``".
DEFAULTS: dict[str, Any] = {
    "clients": 5,
    "subchannels": 20,
    "subchannels_f": None,
    "subchannel_bw": 1e6,
    "p_max": 0.2,
    "p_total": 0.6,
    "client_flops": (0.2e12, 1.0e12),
    "server_flops": 50e12,
    "local_iters": 50,
    "batch": 8,
    "seq": None,
    "layers": None,
    "hidden": None,
    "ranks": (1, 2, 4, 8, 16),
    "bs_power": 10.0,
    "bs_bandwidth": 20e6,
    "r_min": 50.0,
    "r_max": 500.0,
    "shadowing_db": 8.0,
    "profile": "bundled",
}


def default_problem(
    seed: int = 0,
    *,
    clients: int = DEFAULTS["clients"],
    subchannels: int = DEFAULTS["subchannels"],
    subchannels_f: int | None = DEFAULTS["subchannels_f"],
    subchannel_bw: float = DEFAULTS["subchannel_bw"],
    p_max: float = DEFAULTS["p_max"],
    p_total: float = DEFAULTS["p_total"],
    client_flops: tuple[float, float] = DEFAULTS["client_flops"],
    server_flops: float = DEFAULTS["server_flops"],
    local_iters: int = DEFAULTS["local_iters"],
    batch: int = DEFAULTS["batch"],
    seq: int | None = DEFAULTS["seq"],
    layers: int | None = DEFAULTS["layers"],
    hidden: int | None = DEFAULTS["hidden"],
    ranks: tuple[int, ...] = DEFAULTS["ranks"],
    bs_power: float = DEFAULTS["bs_power"],
    bs_bandwidth: float = DEFAULTS["bs_bandwidth"],
    r_min: float = DEFAULTS["r_min"],
    r_max: float = DEFAULTS["r_max"],
    shadowing_db: float = DEFAULTS["shadowing_db"],
    profile: str | Path | None = DEFAULTS["profile"],
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
    if isinstance(client_flops, str) or not hasattr(client_flops, "__len__") \
            or len(client_flops) != 2:
        raise ValidationError("client_flops", "a (low, high) pair of FLOP/s", client_flops)
    lo, hi = (v.scalar("client_flops", x, positive=True) for x in client_flops)
    if hi < lo:
        raise ValidationError("client_flops", "a (low, high) range with low <= high",
                              client_flops)
    subchannel_bw = v.scalar("subchannel_bw", subchannel_bw, positive=True)
    p_max = v.scalar("p_max", p_max, positive=True)
    p_total = v.scalar("p_total", p_total, positive=True, allow_inf=True)
    server_flops = v.scalar("server_flops", server_flops, positive=True)
    bs_power = v.scalar("bs_power", bs_power, positive=True)
    bs_bandwidth = v.scalar("bs_bandwidth", bs_bandwidth, positive=True)
    shadowing_db = v.scalar("shadowing_db", shadowing_db, nonnegative=True)
    r_min = v.scalar("r_min", r_min, positive=True)
    r_max = v.scalar("r_max", r_max, positive=True)
    if not r_min < r_max:
        raise ValidationError("r_max", f"a radius > r_min={r_min:g} m", r_max)
    v.positive_int("batch", batch)
    v.positive_int("local_iters", local_iters)
    rank_arr = v.int_array("ranks", ranks, unique=True)
    if rank_arr.min() < 1:
        raise ValidationError("ranks", "LoRA ranks >= 1", rank_arr.tolist())
    rng = np.random.default_rng(seed)
    dist = channel.ring_distances(rng, k, r_min, r_max)
    flops = rng.uniform(lo, hi, size=k)
    gain_s = channel.draw_subchannel_gains(rng, dist, m, shadowing_db)
    gain_f = channel.draw_subchannel_gains(rng, dist, n, shadowing_db)
    g_down = channel.large_scale_gain(dist, rng.normal(0.0, shadowing_db, size=k))
    noise = channel.noise_psd()
    ranks = tuple(int(r) for r in rank_arr)
    workload, rounds, rounds_source = _default_workload_rounds(
        profile, ranks, layers=layers, hidden=hidden, seq=seq)
    return Problem(
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


def _default_workload_rounds(
    profile: str | Path | None, ranks: tuple[int, ...], **dims: int | None
) -> tuple[Workload, list[float], str]:
    """Workload, rounds per rank and rounds_source of the default scenario (see
    :func:`default_problem`)."""
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
        full = {k: (GPT2_DIMS[k] if val is None else int(val)) for k, val in dims.items()}
        _check_ranks_fit(ranks, full["hidden"])
        rounds = [ILLUSTRATIVE_ROUNDS.get(r, _interp_rounds(r)) for r in ranks]
        return Workload.gpt2(**full), rounds, "illustrative"
    data = load_profile(path)
    _check_ranks_fit(ranks, int(dims["hidden"] or data["model"]["hidden"]))
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


def _check_ranks_fit(ranks: tuple[int, ...], hidden: int) -> None:
    """A LoRA rank cannot exceed the hidden width of the adapted d x d projections."""
    big = [r for r in ranks if r > hidden]
    if big:
        raise ValidationError("ranks", f"LoRA ranks <= the hidden width d={hidden}", big)


def _interp_rounds(rank: int) -> float:
    """Illustrative rounds for a rank outside the table (log-linear interpolation)."""
    keys = np.array(sorted(ILLUSTRATIVE_ROUNDS), dtype=float)
    vals = np.array([ILLUSTRATIVE_ROUNDS[int(k)] for k in keys])
    return float(np.interp(np.log2(max(rank, 1)), np.log2(keys), vals))


__all__ = ["DEFAULTS", "GPT2_DIMS", "ILLUSTRATIVE_ROUNDS", "default_problem"]
