"""The default scenario of SPEC §6 (``Problem.default`` delegates here).

:data:`DEFAULTS` is the one mapping of the scenario's keyword defaults (SI units); the
builder :func:`default_problem` takes its keyword defaults from it, and the sweeps and
experiments read it (never a function signature). The workload and the rounds table come
from a measured profile (:mod:`sfl_opt.model.profiles`) or the analytic GPT-2 model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import NumericalRangeError, ValidationError
from . import channel, hardware
from .architectures import get_model
from .convergence import Table
from .delay import check_magnitudes
from .hardware import client_devices
from .hardware import server as server_spec
from .problem import DEFAULT_SCENARIO, Problem
from .profiles import (
    bundled_profile_path,
    convergence_model,
    read_profile,
    rounds_at,
    rounds_protocol,
)
from .workload import MEMORY_FIELDS, Workload

#: Rounds-to-target per rank used until a measured profile is bundled. Illustrative only.
ILLUSTRATIVE_ROUNDS = {1: 300.0, 2: 240.0, 4: 200.0, 8: 185.0, 16: 180.0}

#: GPT-2 small dimensions used when no profile fixes them.
GPT2_DIMS = {"layers": 12, "hidden": 768, "seq": 512}

#: keyword defaults of :func:`default_problem` (SI units: Hz, W, FLOP/s, m, dB, bytes);
#: ``None`` for ``layers``/``hidden``/``seq`` means "the profile's model, else GPT-2
#: small" (:data:`GPT2_DIMS`), for ``subchannels_f`` "as many as ``subchannels``", for
#: ``client_memory`` "the devices' memory, else unlimited", for ``devices``/``server``
#: "not from the catalogue" (``client_flops``/``server_flops`` apply).
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
    "noise_figure_db": 5.0,
    "max_se": 7.4,
    "se_attenuation": 1.0,
    "split_min": 1,
    "client_memory": None,
    "devices": None,
    "server": None,
    "memory_bits": 16,
    "downlink": "fixed",
    "subchannels_d": None,
    "band": "separate",
    "model": None,
    "compute_power": None,
    "server_power": None,
    "client_energy": None,
}

#: ``downlink`` options: the paper's fixed rates, or an allocated downlink (SPEC §8.4)
DOWNLINKS = ("fixed", "allocated")
#: ``band`` options: separate s-link and f-link bands, or one shared pool (SPEC §8.4)
BANDS = ("separate", "shared")


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
    local_iters: int | Sequence[int] = DEFAULTS["local_iters"],
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
    noise_figure_db: float = DEFAULTS["noise_figure_db"],
    max_se: float = DEFAULTS["max_se"],
    se_attenuation: float = DEFAULTS["se_attenuation"],
    split_min: int = DEFAULTS["split_min"],
    client_memory: float | Sequence[float] | None = DEFAULTS["client_memory"],
    devices: str | Sequence[str] | None = DEFAULTS["devices"],
    server: str | None = DEFAULTS["server"],
    memory_bits: int = DEFAULTS["memory_bits"],
    downlink: str = DEFAULTS["downlink"],
    subchannels_d: int | None = DEFAULTS["subchannels_d"],
    band: str = DEFAULTS["band"],
    model: str | None = DEFAULTS["model"],
    compute_power: float | Sequence[float] | None = DEFAULTS["compute_power"],
    server_power: float | None = DEFAULTS["server_power"],
    client_energy: float | Sequence[float] | None = DEFAULTS["client_energy"],
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

    Second-edition options (SPEC §8.2, §8.3; the defaults keep §6):

    - ``noise_figure_db``: receiver noise figure, dB, added to the -174 dBm/Hz floor
      (every link, the downlink and broadcast rates included); 5 dB, a base-station
      receiver (3GPP TR 36.942 Table 4.3; docs/model.md), since the first edition's 0 dB;
    - ``max_se``, ``se_attenuation``: the truncated Shannon rate ``bw min(α log2(1 + SNR),
      max_se)`` of every subchannel (TR 36.942 Annex A) and of the fixed downlink and
      broadcast rates; ``max_se = 7.4`` bit/s/Hz is the peak spectral efficiency of the
      256-QAM MCS table of TS 38.214 (Table 5.1.3.1-2, MCS 27: 948/1024 x 8 bit), α = 1.
      ``max_se=float("inf"), noise_figure_db=0`` is the first edition's radio;
    - ``p_total``: ``float("inf")`` is the per-device-caps-only variant (no total power
      cap on either link): a total cap over different handsets models a regulatory or
      interference budget, not a battery;
    - ``split_min``: privacy floor, candidate splits are ``split_min..L-1`` (the client
      keeps at least ``split_min`` blocks);
    - ``devices``: a catalogue name (:data:`sfl_opt.model.hardware.DEVICES`) or a list of
      names, cycled over the clients (:func:`sfl_opt.model.hardware.clients_from`): each
      client's ``client_flops`` (effective FLOP/s) and ``client_memory`` (bytes) come
      from its device, replacing the uniform ``client_flops`` draw (which is still made,
      so the channels are the same as without ``devices``); ``client_flops`` must then
      be left at its default;
    - ``server``: a catalogue name (:data:`sfl_opt.model.hardware.SERVERS`) whose effective
      FLOP/s is ``server_flops`` (which must then be left at its default);
    - ``client_memory``: bytes usable by each client (one number for all, or K
      numbers; ``inf`` unlimited); None: the devices' memory with ``devices``, else
      unlimited. Given with ``devices`` it replaces the devices' memory;
    - ``compute_power`` (W per client while computing; one number or K), ``server_power``
      (W): None takes the catalogue's ``power`` of ``devices``/``server``, else
      :data:`sfl_opt.model.energy.DEFAULTS`; ``client_energy``: a per-client energy budget, J
      per training run (one number or K; None: none) — see :mod:`sfl_opt.model.energy`;
    - ``memory_bits``: bits per frozen weight and per saved activation value in the
      client memory model: 16 (default: mixed-precision training with FP16/BF16 weights and
      activations, as the catalogue's FLOP/s assume) uses the analytic
      :meth:`Workload.gpt2` memory fields of the model's dimensions (with the profile's
      heads and vocabulary); 32 with a profile keeps its measured float32 memory
      section (docs/model.md §6.3), without one the analytic model at 32 bits.

    Workload and ``rounds`` (``profile``; ``layers``, ``hidden``, ``seq`` default
    to GPT-2 small's 12, 768, 512 tokens):

    - ``model``: a name of the LLM catalogue :data:`sfl_opt.models.MODELS` (e.g.
      ``"llama-3.2-1b"``): the analytic workload of that architecture at ``seq`` tokens
      (default 512) with its default LoRA targets, frozen weights at ``memory_bits``
      (16, or 8 / 4 for quantised base weights, 32 for float32; saved activations at 16
      bits, 32 with ``memory_bits=32``); ``layers`` and ``hidden`` must then be None.
      ``rounds`` still come from the profile (measured on the GPT-2 proxy: the rounds
      for another model are an assumption, said so in ``rounds_source``);

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
    (a rank missing from the table is a ValidationError naming ``ranks``) at
    ``local_iters``: a schema-2 table ``rounds[r][I]`` is interpolated linearly in
    log I and clamped outside the measured I (:func:`sfl_opt.model.profiles.rounds_at`); an
    old table measured at one I is used as is. ``rounds_source`` is ``"measured: <profile
    file name>, <how rounds(r, I) was read>, on the <proxy model, LoRA scaling, learning
    rate choice>"`` (:func:`sfl_opt.model.profiles.rounds_protocol`).

    Radio options (SPEC §8.4; the defaults keep §6, and with the same ``seed`` the
    options change no gain the default draws — their extra draws come from their own
    random streams):

    - ``downlink="allocated"``: ``subchannels_d`` (D, default ``bs_bandwidth /
      subchannel_bw`` rounded, at least K) downlink subchannels splitting
      ``bs_bandwidth`` Hz equally, gains ``gain_d`` = the downlink's large-scale gain
      (the one behind ``rate_down``) times Rayleigh fading per subchannel, the base
      station's ``bs_power`` W as ``p_total_d``. ``"fixed"`` (default): ``rate_down``.
    - ``band="shared"``: the s-link and the f-link each see the whole pool of the M + N
      subchannels (the s-link's M first, then the f-link's N): on the other link's
      subchannels a link's gains are its own large-scale gain times fresh Rayleigh
      fading. ``"separate"`` (default): M and N disjoint subchannels.
    """
    v.seed("seed", seed)
    k = v.positive_int("clients", clients)
    nf = v.scalar("noise_figure_db", noise_figure_db, nonnegative=True)
    max_se = v.scalar("max_se", max_se, positive=True, allow_inf=True)
    se_attenuation = v.scalar("se_attenuation", se_attenuation, positive=True)
    se = {"max_se": max_se, "se_attenuation": se_attenuation}
    allowed_bits = (16, 32) if model is None else (4, 8, 16, 32)
    if isinstance(memory_bits, bool) or memory_bits not in allowed_bits:
        raise ValidationError("memory_bits", "16 (analytic mixed-precision memory) or 32 "
                              "(the profile's float32 measurement); with a catalogue model "
                              "also 8 or 4 (quantised frozen weights)", memory_bits)
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
    iters = _iters_arg(local_iters)
    rank_arr = v.int_array("ranks", ranks, unique=True)
    if rank_arr.min() < 1:
        raise ValidationError("ranks", "LoRA ranks >= 1", rank_arr.tolist())
    v.choice("downlink", downlink, DOWNLINKS)
    v.choice("band", band, BANDS)
    ch = _draw_channels(seed, k, m, n, r_min, r_max, shadowing_db, lo, hi)
    flops, g_down = ch["client_flops"], ch["large_d"]
    gain_s = ch["large_s"][:, None] * ch["fading_s"]
    gain_f = ch["large_f"][:, None] * ch["fading_f"]
    bw_s = np.full(m, float(subchannel_bw))
    bw_f = np.full(n, float(subchannel_bw))
    if band == "shared":
        extra = np.random.default_rng([seed, 2])
        gain_s = np.hstack([gain_s, ch["large_s"][:, None] * extra.exponential(1.0, (k, n))])
        gain_f = np.hstack([ch["large_f"][:, None] * extra.exponential(1.0, (k, m)), gain_f])
        bw_s = bw_f = np.concatenate([bw_s, bw_f])
    down: dict[str, Any] = {}
    if downlink == "allocated":
        bs_bw = v.scalar("bs_bandwidth", bs_bandwidth, positive=True)
        d = (max(k, int(round(bs_bw / float(subchannel_bw)))) if subchannels_d is None
             else v.positive_int("subchannels_d", subchannels_d))
        fade = np.random.default_rng([seed, 1]).exponential(1.0, (k, d))
        down = {"gain_d": g_down[:, None] * fade, "bw_d": np.full(d, bs_bw / d),
                "p_total_d": float(bs_power)}
    noise = channel.noise_psd(channel.NOISE_DBM_PER_HZ + nf)
    ranks = tuple(int(r) for r in rank_arr)
    if model is None:
        workload, rounds, rounds_source, conv_model = _default_workload_rounds(
            profile, ranks, iters, memory_bits, layers=layers, hidden=hidden, seq=seq)
    else:
        workload, rounds, rounds_source, conv_model = _model_workload_rounds(
            model, profile, ranks, iters, memory_bits, layers=layers, hidden=hidden,
            seq=seq)
    flops, caps, server_flops = _hardware(devices, server, k, flops, client_flops,
                                          server_flops, client_memory)
    L = workload.layers
    split_min = v.positive_int("split_min", split_min)
    if split_min > L - 1:
        raise ValidationError("split_min", f"a privacy floor within 1..{L - 1} (L={L} blocks)",
                              split_min)
    problem = Problem(
        gain_s=gain_s,
        gain_f=gain_f,
        bw_s=bw_s,
        bw_f=bw_f,
        noise_psd=noise,
        p_max=np.full(k, float(p_max)),
        p_total_s=float(p_total),
        p_total_f=float(p_total),
        client_flops=flops,
        server_flops=float(server_flops),
        rate_down=channel.downlink_rates(g_down, bs_power, bs_bandwidth, noise, **se),
        rate_bcast=channel.broadcast_rate(g_down, bs_power, bs_bandwidth, noise, **se),
        batch=batch,
        local_iters=iters,
        splits=np.arange(split_min, L),
        ranks=np.array(ranks),
        rounds=None if rounds is None else np.array(rounds),
        convergence=conv_model,
        workload=workload,
        rounds_source=rounds_source,
        client_memory=caps,
        band=band,
        **se,
        compute_power=_catalogue_power(devices, k, compute_power, "compute_power"),
        server_power=_catalogue_power(server, k, server_power, "server_power"),
        bs_power=float(bs_power),
        client_energy=client_energy,
        **down,
    )
    if nf > DEFAULTS["noise_figure_db"]:
        _check_noise_figure(problem, nf)
    return problem


#: fields of a magnitude error that a raised noise floor can cause (every rate)
_NOISE_FIELDS = ("gain_s", "gain_f", "bw_s", "bw_f", "rate_down", "rate_bcast", "client_flops")


def _check_noise_figure(problem: Problem, nf: float) -> None:
    """Name ``noise_figure_db`` when the noise floor it raises leaves the scenario's rates
    out of float64's reach (rather than the derived field a later solve would name)."""

    try:
        check_magnitudes(problem)
    except NumericalRangeError as exc:
        if exc.field not in _NOISE_FIELDS:
            raise
        raise NumericalRangeError(
            "noise_figure_db", "a receiver noise figure (dB) at which the scenario's links "
            f"still carry data (typical receivers: 2..10 dB; here {exc})", nf) from None


def _catalogue_power(names: Any, k: int, given: Any, field: str) -> Any:
    """``given`` if not None, else the catalogue's power (W) of the devices (cycled over
    the K clients, as their FLOP/s) or of the server, else None (the energy default)."""
    if given is not None or names is None:
        return given
    if field == "server_power":
        return server_spec(names).power
    return np.array([d.power for d in client_devices(names, k)])


def _hardware(devices: Any, server: Any, k: int, flops: np.ndarray,
              client_flops: Any, server_flops: float, client_memory: Any
              ) -> tuple[np.ndarray, np.ndarray | float, float]:
    """``(client_flops (K,), client_memory, server_flops)`` after the catalogue options
    of :func:`default_problem`."""
    caps: Any = np.inf
    if devices is not None:
        if tuple(client_flops) != tuple(DEFAULTS["client_flops"]):
            raise ValidationError("client_flops", "the default range when devices are given "
                                  "(the devices fix each client's FLOP/s)", client_flops)
        flops, caps = hardware.clients_from(devices, k)
    if server is not None:
        if float(server_flops) != float(DEFAULTS["server_flops"]):
            raise ValidationError("server_flops", "the default when a server is given (the "
                                  "catalogue fixes its FLOP/s)", server_flops)
        server_flops = hardware.server(server).flops
    if client_memory is not None:
        caps = client_memory
    return flops, caps, float(server_flops)


def _draw_channels(seed: int, k: int, m: int, n: int, r_min: float, r_max: float,
                   shadowing_db: float, flops_lo: float, flops_hi: float) -> dict[str, Any]:
    """The random draws of the default scenario, in their fixed order: distances (m),
    client compute (FLOP/s), the s-link's and f-link's large-scale gains (K,) and
    Rayleigh fading (K, M) / (K, N), the downlink's large-scale gain (K,)."""
    rng = np.random.default_rng(seed)
    dist = channel.ring_distances(rng, k, r_min, r_max)
    flops = rng.uniform(flops_lo, flops_hi, size=k)
    large_s, fading_s = channel.draw_link(rng, dist, m, shadowing_db)
    large_f, fading_f = channel.draw_link(rng, dist, n, shadowing_db)
    large_d = channel.large_scale_gain(dist, rng.normal(0.0, shadowing_db, size=k))
    return {"distance": dist, "client_flops": flops, "large_s": large_s, "fading_s": fading_s,
            "large_f": large_f, "fading_f": fading_f, "large_d": large_d}


def large_scale_gains(seed: int = 0, **overrides: Any) -> dict[str, np.ndarray]:
    """The large-scale linear gains (path loss and shadowing, (K,) per link: ``"s"``,
    ``"f"``, ``"d"``) and client ``"distance"`` (m) behind ``default_problem(seed,
    **overrides)``, for fading models that redraw the small-scale part
    (:mod:`sfl_opt.experiments.dynamic`). Only the radio keywords matter."""
    kw = {**DEFAULTS, **overrides}
    k = v.positive_int("clients", kw["clients"])
    m = v.positive_int("subchannels", kw["subchannels"])
    n = m if kw["subchannels_f"] is None else v.positive_int("subchannels_f", kw["subchannels_f"])
    lo, hi = kw["client_flops"]
    ch = _draw_channels(v.seed("seed", seed), k, m, n, kw["r_min"], kw["r_max"],
                        kw["shadowing_db"], lo, hi)
    return {"s": ch["large_s"], "f": ch["large_f"], "d": ch["large_d"],
            "distance": ch["distance"]}


def _iters_arg(local_iters: Any) -> int | tuple[int, ...]:
    """``local_iters`` of :func:`default_problem`: an int or a candidate set."""
    if isinstance(local_iters, (list, tuple, np.ndarray)):
        arr = v.int_array("local_iters", local_iters, unique=True)
        if arr.min() < 1:
            raise ValidationError("local_iters", "local iterations per round >= 1",
                                  arr.tolist())
        out = tuple(sorted(int(x) for x in arr))
        return out[0] if len(out) == 1 else out
    return v.positive_int("local_iters", local_iters)


def _default_workload_rounds(
    profile: str | Path | None, ranks: tuple[int, ...], iters: int | tuple[int, ...],
    memory_bits: int, **dims: int | None
) -> tuple[Workload, list[float] | None, str, Any]:
    """Workload, rounds per rank (None: from the model), rounds_source and convergence
    model of the default scenario (see :func:`default_problem`)."""
    for name, val in dims.items():
        if val is not None:
            v.positive_int(name, val)
    cands = iters if isinstance(iters, tuple) else (iters,)
    local_iters = cands[0]
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
        bits = {"weight_bits": memory_bits, "saved_bits": memory_bits}
        model = None
        if len(cands) > 1:  # illustrative rounds at the default I, iterations held
            i0 = int(DEFAULTS["local_iters"])
            model = Table(ranks, [i0], [[x * i0] for x in rounds], source="illustrative")
            rounds = None
        return Workload.gpt2(**full, **bits), rounds, "illustrative", model
    data = read_profile(path)
    _check_ranks_fit(ranks, int(dims["hidden"] or data["model"]["hidden"]))
    rounds_arr, note = rounds_at(data, ranks, local_iters)
    rounds: list[float] | None = rounds_arr.tolist()
    conv = None
    if (data.get("rounds") or {}).get("schema") in (2, 3):
        conv = convergence_model(data)
        rounds = None
        if len(cands) > 1:
            note = (f"rounds(r, I) for I in {list(cands)} from the table (log-log in "
                    "iterations)")
    source = f"measured: {path.name}, {note}"
    proto = rounds_protocol(data)
    if proto:
        source += f", on the {proto}"
    model = data["model"]
    differs = [k for k, val in dims.items() if val is not None and int(val) != int(model[k])]
    if differs and explicit:
        k = differs[0]
        raise ValidationError(k, f"None or the profile's {k}={model[k]} ({path.name} fixes "
                                 "the model; pass profile=None for the analytic workload)",
                              dims[k])
    full = {k: int(model[k]) if val is None else int(val) for k, val in dims.items()}
    analytic = Workload.gpt2(**full, heads=int(model["heads"]), vocab=int(model["vocab"]),
                             weight_bits=memory_bits, saved_bits=memory_bits)
    if differs:
        return analytic, rounds, source, conv
    work = Workload.from_profile(path)
    if memory_bits == 16 or not work.has_memory:
        # the profile's memory section is float32 (docs/model.md §6.3): take the analytic
        # mixed-precision memory fields of the same model instead
        work = work_with_memory(work, analytic)
    return work, rounds, source, conv


def _model_workload_rounds(
    model: str, profile: str | Path | None, ranks: tuple[int, ...],
    local_iters: int | tuple[int, ...],
    memory_bits: int, **dims: int | None
) -> tuple[Workload, list[float], str]:
    """Workload of catalogue ``model`` (analytic) and the rounds of the GPT-2 proxy
    profile (or the illustrative table without one)."""
    arch = get_model(model)
    for name in ("layers", "hidden"):
        if dims[name] is not None:
            raise ValidationError(name, f"None with model={arch.name!r} (the catalogue fixes "
                                        "the model's dimensions)", dims[name])
    seq = 512 if dims["seq"] is None else v.positive_int("seq", dims["seq"])
    _check_ranks_fit(ranks, arch.hidden)
    saved = 32 if memory_bits == 32 else 16
    work = arch.workload(seq, weight_bits=memory_bits, saved_bits=saved)
    _, rounds, source, conv = _default_workload_rounds(profile, ranks, local_iters,
                                                       memory_bits if memory_bits in (16, 32)
                                                       else 16, layers=None, hidden=None,
                                                       seq=None)
    note = (f"{source}; rounds(r, I) of the GPT-2 proxy assumed for {arch.name} (not "
            "measured on it)")
    return work, rounds, note, conv


def model_dims(profile: Any = "bundled") -> dict[str, int]:
    """``layers``, ``hidden`` and ``seq`` of the default scenario's model when the
    keywords leave them at ``None``: the profile's (``"bundled"``: the bundled one; a path)
    or GPT-2 small's (:data:`GPT2_DIMS`) with ``profile=None`` or no bundled profile."""
    path = bundled_profile_path() if isinstance(profile, str) and profile == "bundled" \
        else (None if profile is None else Path(profile))
    if path is None:
        return dict(GPT2_DIMS)
    model = read_profile(path)["model"]
    return {k: int(model[k]) for k in GPT2_DIMS}


def work_with_memory(work: Workload, memory_of: Workload) -> Workload:
    """``work`` with the memory fields of ``memory_of`` (same number of blocks)."""
    mem = {name: getattr(memory_of, name) for name in MEMORY_FIELDS}
    data = {f.name: getattr(work, f.name) for f in fields(work)}
    return Workload(**{**data, **mem})


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


__all__ = ["BANDS", "DEFAULTS", "DOWNLINKS", "GPT2_DIMS", "ILLUSTRATIVE_ROUNDS",
           "default_problem", "large_scale_gains"]


# Problem.default is a thin alias of default_problem (problem.py never imports upwards)
DEFAULT_SCENARIO[:] = [default_problem]
