"""The delay model of SPEC §2, computed exactly (``evaluate``) and per (split, rank) pair.

Units: seconds, bits, bit/s, FLOP, FLOP/s, W, W/Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import InfeasiblePointError, NumericalRangeError, ValidationError
from .client_splits import client_terms, split_vector, vector_terms
from .energy import Energy, breakdown_energy, budget_violation
from .problem import Problem

#: Relative tolerance on power caps when checking a point (floating-point slack).
POWER_RTOL = 1e-9
#: Range of signal-to-noise ratios (a client's power over one subchannel) the model
#: accepts: a client whose *best* subchannel stays below SNR_MIN (-100 dB) at its share
#: of the power cannot carry data (delays beyond any scale); above SNR_MAX water levels
#: overflow. Single weak subchannels are fine (rates use ``log1p``). See
#: :func:`check_magnitudes`.
SNR_MIN, SNR_MAX = 1e-10, 1e30
#: Largest total bandwidth of a link (Hz) the model accepts. The water-filling sums
#: bandwidths times water levels in nats (up to about 700 in float64) and rates are
#: bandwidths times spectral efficiencies: beyond about 1e305 Hz they overflow. 1e250 Hz
#: keeps a wide margin (real bands are below 1e12 Hz). See :func:`check_magnitudes`.
BW_MAX = 1e250
#: Smallest transmit power (W) the model accepts for ``p_max`` and the links' totals:
#: the power control's and the bound's products of powers and prices underflow float64
#: below about 1e-185 W. See :func:`check_magnitudes`.
POWER_MIN = 1e-150
#: Largest delay term (s) the model reports (about 3e7 years); beyond it the total
#: overflows or loses every digit of the smaller terms.
TIME_MAX = 1e15
#: Smallest transfer time (s) the model accepts for a client's payload at its best rate
#: (the whole band at its best subchannel): the power control divides by squared
#: transfer times, which underflow to zero below about 1e-154 s.
TIME_MIN = 1e-100
#: ln 2 (rates are ``log1p(snr) / LN2`` bit/s/Hz)
LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class PairTable:
    """Split/rank dependent quantities for every candidate pair (P = splits x ranks).

    Pair ``i`` is ``(splits[i // R], ranks[i % R])``. Per-sample workloads are
    multiplied by the batch here. Units: FLOP, bits, rounds.
    """

    split: np.ndarray      # (P,) split point l
    rank: np.ndarray       # (P,) LoRA rank r
    rounds: np.ndarray     # (P,) rounds(r)
    w_client_fwd: np.ndarray  # (P,) b * WcF, FLOP
    w_client_bwd: np.ndarray  # (P,) b * WcB, FLOP
    w_server: np.ndarray      # (P,) K * b * Ws, FLOP
    s_up: np.ndarray          # (P,) bits uplinked per client per iteration
    s_dn: np.ndarray          # (P,) bits downlinked per client per iteration
    s_ad: np.ndarray          # (P,) adapter bits per client per round

    def __len__(self) -> int:
        return int(self.split.shape[0])

    def take(self, idx: np.ndarray) -> PairTable:
        """The table of the pairs ``idx`` (indices into this table), in that order."""
        i = np.asarray(idx, dtype=np.int64)
        return PairTable(**{f.name: getattr(self, f.name)[i] for f in fields(self)})


#: how many pair tables were built (by :func:`pair_table`) in this process: ``solve``
#: builds one per call and hands it on (tests count it)
BUILDS = {"pair_table": 0}


def pair_table(problem: Problem) -> PairTable:
    """Workload terms of SPEC §2 for every (split, rank) candidate, vectorised (pair ``i``
    is ``(splits[i // R], ranks[i % R])``)."""
    BUILDS["pair_table"] += 1
    w = problem.workload
    b = float(problem.batch)
    sp = np.repeat(problem.splits, problem.ranks.size)
    rk = np.tile(problem.ranks, problem.splits.size).astype(float)
    rounds = np.tile(problem.rounds, problem.splits.size)
    cf = np.concatenate([[0.0], np.cumsum(w.fwd)])
    cb = np.concatenate([[0.0], np.cumsum(w.bwd)])
    cfr = np.concatenate([[0.0], np.cumsum(w.fwd_rank)])
    cbr = np.concatenate([[0.0], np.cumsum(w.bwd_rank)])
    cl = np.concatenate([[0.0], np.cumsum(w.lora_params)])
    L = w.layers
    wcf = w.embed_fwd + cf[sp] + rk * cfr[sp]
    wcb = w.embed_bwd + cb[sp] + rk * cbr[sp]
    ws = (w.head_fwd + w.head_bwd + (cf[L] - cf[sp]) + (cb[L] - cb[sp])
          + rk * ((cfr[L] - cfr[sp]) + (cbr[L] - cbr[sp])))
    act = w.act_bits[sp - 1]
    return PairTable(
        split=sp.astype(np.int64),
        rank=rk.astype(np.int64),
        rounds=rounds,
        w_client_fwd=b * wcf,
        w_client_bwd=b * wcb,
        w_server=problem.K * b * ws,
        s_up=b * (act + w.label_bits),
        s_dn=b * act,
        s_ad=rk * w.param_bits * cl[sp],
    )


def total_delay(rounds: Any, local_iters: float, t_stage: Any, t_rest_iter: Any,
                t_rest_round: Any) -> Any:
    """T_total (s) = ``rounds * (I * (t_stage + t_rest_iter) + t_rest_round)``.

    The one composition of the objective (SPEC §2), used by :func:`evaluate`, the
    prepared problem's ``total`` and the methods: ``t_stage`` is the stage the caller
    optimises (e.g. the s-link stage ``max_k (TcF_k + S_up/Rs_k)``), ``t_rest_iter`` the
    rest of an iteration (``Ts`` + the down stage), ``t_rest_round`` the per-round terms
    (``max_k S_ad/Rf_k + S_ad/rate_bcast``). Works element-wise on arrays.
    (``kernels.search.compose_total`` is the same formula inside Numba.)
    """
    return rounds * (local_iters * (t_stage + t_rest_iter) + t_rest_round)


def stage_for_total(total: Any, rounds: Any, local_iters: float, t_rest_iter: Any,
                    t_rest_round: Any) -> Any:
    """The inverse of :func:`total_delay` in ``t_stage``: the stage (s) at which the total
    delay equals ``total`` (s)."""
    return (total / rounds - t_rest_round) / local_iters - t_rest_iter


@dataclass(frozen=True)
class Breakdown:
    """Every term of the delay model for one point (seconds unless stated).

    Per-client arrays have shape (K,). ``total`` is the objective T_total.
    """

    split: int | np.ndarray      # the cut, or one per client (K,) (split_mode="per_client")
    rank: int
    rounds: float                # rounds(r), count
    client_fwd: np.ndarray       # TcF_k
    uplink: np.ndarray           # S_up / Rs_k
    server: float                # Ts (per client cuts: b sum_k Ws(l_k) / server_flops)
    downlink: np.ndarray         # S_dn / rate_down[k] (fixed) or S_dn / Rd_k (allocated)
    client_bwd: np.ndarray       # TcB_k
    fed_upload: np.ndarray       # S_ad / Rf_k
    broadcast: float             # S_ad / rate_bcast (per client cuts: max_k S_ad,k)
    rate_s: np.ndarray           # Rs_k, bit/s
    rate_f: np.ndarray           # Rf_k, bit/s
    power_s: np.ndarray          # client transmit power on the s-link, W
    power_f: np.ndarray          # client transmit power on the f-link, W
    t_up_stage: float            # max_k (TcF_k + S_up/Rs_k)
    t_down_stage: float          # max_k (S_dn/rate_down_k + TcB_k)
    t_iter: float                # T_iter
    t_fed: float                 # max_k S_ad/Rf_k
    t_round: float               # T_round
    total: float                 # T_total
    rate_d: np.ndarray | None = None   # Rd_k, bit/s (allocated downlink; None: fixed)
    power_d: np.ndarray | None = None  # base-station power towards client k, W (allocated)
    energy: Energy | None = None       # J per training run (sfl_opt.model.energy)

    @property
    def stage_shares(self) -> dict[str, float]:
        """Share of each stage in T_total (fractions summing to 1): ``"client_fwd_uplink"``
        (I t_up_stage), ``"server"`` (I Ts), ``"downlink_client_bwd"`` (I t_down_stage),
        ``"adapter_upload"`` (t_fed + broadcast), all per round."""
        parts = {"client_fwd_uplink": self.t_up_stage, "server": self.server,
                 "downlink_client_bwd": self.t_down_stage}
        iters = self.t_round - self.t_fed - self.broadcast  # = I * t_iter
        scale = iters / self.t_iter
        out = {k: scale * x / self.t_round for k, x in parts.items()}
        out["adapter_upload"] = (self.t_fed + self.broadcast) / self.t_round
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (arrays as lists; ``energy`` as :meth:`Energy.to_dict`)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["energy"] = None if self.energy is None else self.energy.to_dict()
        return {k: (x.tolist() if isinstance(x, np.ndarray) else x) for k, x in out.items()}


def link_rates(gain: np.ndarray, bw: np.ndarray, assign: np.ndarray, psd: np.ndarray,
               noise_psd: float, k: int, max_se: float = np.inf,
               se_attenuation: float = 1.0) -> np.ndarray:
    """Per-client rate (bit/s): sum over its subchannels of
    ``bw min(se_attenuation log2(1 + psd gain / N0), max_se)`` (truncated Shannon, TR 36.942
    Annex A; ``max_se`` bit/s/Hz, inf and 1 give plain Shannon), computed with
    ``log1p(snr) / ln 2`` so that a weak subchannel's rate keeps its digits."""
    m = np.arange(assign.size)
    # log1p: a deeply faded subchannel (snr far below float64's epsilon) keeps its digits
    se = se_attenuation * (np.log1p(psd * gain[assign, m] / noise_psd) / LN2)
    per_sub = bw * np.minimum(se, max_se)
    return np.bincount(assign, weights=per_sub, minlength=k)


def client_power(bw: np.ndarray, assign: np.ndarray, psd: np.ndarray, k: int) -> np.ndarray:
    """Per-client transmit power (W) = sum of psd * bw over its subchannels."""
    return np.bincount(assign, weights=psd * bw, minlength=k)


def check_link(problem: Problem, name: str, assign: Any, psd: Any, n_sub: int,
               p_total: float, bw: np.ndarray | None = None,
               p_max: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate one link's assignment and psd; raise InfeasiblePointError on a broken
    constraint. ``bw`` (Hz) and ``p_max`` (W per client) default to the s-/f-link's."""
    a = v.int_array(f"assign_{name}", assign)
    if a.shape != (n_sub,):
        raise ValidationError(f"assign_{name}", f"shape ({n_sub},)", f"shape {a.shape}")
    if a.min() < 0 or a.max() >= problem.K:
        raise ValidationError(f"assign_{name}", f"client indices in 0..{problem.K - 1}",
                              a.tolist())
    counts = np.bincount(a, minlength=problem.K)
    if (counts == 0).any():
        raise InfeasiblePointError(
            f"assign_{name}: every client needs at least one subchannel; clients "
            f"{np.flatnonzero(counts == 0).tolist()} have none")
    p = v.float_array(f"psd_{name}", psd, shape=(n_sub,), nonnegative=True)
    if bw is None:
        bw = problem.bw_s if name == "s" else problem.bw_f
    cap = problem.p_max if p_max is None else p_max
    power = client_power(bw, a, p, problem.K)
    over = power > cap * (1 + POWER_RTOL)
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise InfeasiblePointError(
            f"psd_{name}: client {i} transmits {power[i]:.6g} W over its cap "
            f"p_max={cap[i]:.6g} W")
    if power.sum() > p_total * (1 + POWER_RTOL):
        tot = power.sum()
        raise InfeasiblePointError(
            f"psd_{name}: total power {tot:.12g} W exceeds p_total_{name}={p_total:.12g} W by "
            f"{tot - p_total:.3g} W (relative {tot / p_total - 1:.3g}, tolerance {POWER_RTOL:g})")
    return a, p


def evaluate(problem: Problem, split: int | Any, rank: int, assign_s: Any, psd_s: Any,
             assign_f: Any, psd_f: Any, assign_d: Any = None, psd_d: Any = None,
             local_iters: int | None = None, *, table: PairTable | None = None) -> Breakdown:
    """Every delay term of SPEC §2 for one point, exactly.

    ``split`` is the cut of every client (an integer) or one cut per client, a
    ``(K,)`` array (``split_mode="per_client"``: the terms of
    :mod:`sfl_opt.model.client_splits`; an array of equal cuts gives the integer's delay).
    ``local_iters``: the point's I, required when ``problem.local_iters`` is a candidate
    set (the problem at that I, :meth:`~sfl_opt.Problem.at_local_iters`), else None or
    the problem's I.
    ``assign_*`` give the client index of each subchannel, ``psd_*`` its power spectral
    density (W/Hz); ``assign_d``/``psd_d`` the allocated downlink's (SPEC §8.4: required
    when ``problem.downlink == "allocated"``, rejected otherwise). Raises
    :class:`~sfl_opt.errors.InfeasiblePointError` (a ``ValueError``) when a client has no
    subchannel, a power cap is exceeded (beyond a relative ``POWER_RTOL``), a client's
    rate is zero, or the pair's memory need exceeds a client's ``client_memory``
    (:func:`check_memory`), or a client's energy per training run (``breakdown.energy``,
    :mod:`sfl_opt.model.energy`) exceeds its ``client_energy`` budget (beyond a relative
    ``ENERGY_RTOL``); ``ValidationError`` when the split or rank is not a candidate of the
    problem or the downlink arguments do not match its downlink model. ``table``:
    ``pair_table(problem)`` when the caller has built it already (``solve`` does), else
    it is built here.
    """
    if local_iters is not None:
        problem = problem.at_local_iters(local_iters)
    elif problem.chooses_local_iters:
        raise ValidationError("local_iters", "the point's I, one of the candidates "
                              f"{list(problem.local_iters_candidates)}", None)
    vec = None
    if isinstance(split, (int, np.integer)) and not isinstance(split, bool):
        split = _candidate("split", split, problem.splits)
    else:  # one split per client (split_mode="per_client", sfl_opt.model.client_splits)
        vec = split = split_vector(problem, split)
    rank = _candidate("rank", rank, problem.ranks)
    check_memory(problem, split, rank)
    a_s, p_s = check_link(problem, "s", assign_s, psd_s, problem.M, problem.p_total_s)
    a_f, p_f = check_link(problem, "f", assign_f, psd_f, problem.N, problem.p_total_f)
    k = problem.K
    se = (problem.max_se, problem.se_attenuation)  # the spectral-efficiency cap
    rs = link_rates(problem.gain_s, problem.bw_s, a_s, p_s, problem.noise_psd, k, *se)
    rf = link_rates(problem.gain_f, problem.bw_f, a_f, p_f, problem.noise_psd, k, *se)
    rates = [("s", rs, a_s, p_s, problem.gain_s), ("f", rf, a_f, p_f, problem.gain_f)]
    rd = pd = None
    if problem.gain_d is None:
        for name, val in (("assign_d", assign_d), ("psd_d", psd_d)):
            if val is not None:
                raise ValidationError(name, "None (the problem's downlink has fixed rates "
                                      "rate_down)", "an array")
    else:
        for name, val in (("assign_d", assign_d), ("psd_d", psd_d)):
            if val is None:
                raise ValidationError(name, "the downlink allocation (the problem's downlink "
                                      "is allocated)", None)
        assert problem.bw_d is not None and problem.p_total_d is not None
        a_d, p_d = check_link(problem, "d", assign_d, psd_d, problem.D, problem.p_total_d,
                              bw=problem.bw_d, p_max=np.full(k, problem.p_total_d))
        rd = link_rates(problem.gain_d, problem.bw_d, a_d, p_d, problem.noise_psd, k, *se)
        pd = client_power(problem.bw_d, a_d, p_d, k)
        rates.append(("d", rd, a_d, p_d, problem.gain_d))
    for name, r, a, p, gain in rates:
        if (r <= 0).any():
            i = int(np.flatnonzero(r <= 0)[0])
            mine = a == i
            if not (p[mine] > 0).any():
                why = "no power on its subchannels"
            else:
                snr = float(np.max(p[mine] * gain[i, np.flatnonzero(mine)] / problem.noise_psd))
                why = (f"its signal-to-noise ratio psd*gain/noise_psd is at most {snr:.3g}, so "
                       "its rate underflows to 0 in float64")
            raise InfeasiblePointError(f"psd_{name}: client {i} has zero rate ({why}), its "
                                       "delay would be infinite")
    tab = pair_table(problem) if table is None else table
    if vec is None:
        ri = int(np.flatnonzero(problem.ranks == rank)[0])
        si = int(np.flatnonzero(problem.splits == split)[0])
        i = si * problem.ranks.size + ri
        tcf = tab.w_client_fwd[i] / problem.client_flops
        tcb = tab.w_client_bwd[i] / problem.client_flops
        ts = float(tab.w_server[i] / problem.server_flops)
        up = tab.s_up[i] / rs
        dn = tab.s_dn[i] / (problem.rate_down if rd is None else rd)
        fed = tab.s_ad[i] / rf
        bc = float(tab.s_ad[i] / problem.rate_bcast)
        rounds = float(tab.rounds[i])
    else:
        vt = vector_terms(problem, vec, rank, client_terms(problem, tab))
        tcf, tcb, ts = vt["tcf"], vt["tcb"], vt["ts"]
        up = vt["s_up"] / rs
        dn = vt["s_dn"] / (problem.rate_down if rd is None else rd)
        fed = vt["s_ad"] / rf
        bc = float(vt["s_bc"] / problem.rate_bcast)
        rounds = vt["rounds"]
    t_up = float(np.max(tcf + up))
    t_dn = float(np.max(dn + tcb))
    t_iter = t_up + ts + t_dn
    t_fed = float(np.max(fed))
    t_round = problem.local_iters * t_iter + t_fed + bc
    total = float(total_delay(rounds, problem.local_iters, t_up, ts + t_dn, t_fed + bc))
    if not np.isfinite(total):
        terms = {"client_flops": float(np.max(np.maximum(tcf, tcb))),
                 f"gain_s (uplink time {np.max(up):.3g} s)": float(np.max(up)),
                 "server_flops": ts, "rate_down": float(np.max(dn)),
                 f"gain_f (adapter upload time {np.max(fed):.3g} s)": float(np.max(fed)),
                 "rate_bcast": bc, "rounds": rounds}
        worst = max(terms, key=lambda k: terms[k] if np.isfinite(terms[k]) else np.inf)
        raise NumericalRangeError(
            worst, "magnitudes whose total delay is finite in float64 (it overflows; the "
            f"largest factor is {terms[worst]:.3g})")
    bd = Breakdown(
        split=split, rank=rank, rounds=rounds, client_fwd=tcf, uplink=up, server=ts,
        downlink=dn, client_bwd=tcb, fed_upload=fed, broadcast=bc, rate_s=rs, rate_f=rf,
        power_s=client_power(problem.bw_s, a_s, p_s, k),
        power_f=client_power(problem.bw_f, a_f, p_f, k),
        t_up_stage=t_up, t_down_stage=t_dn, t_iter=t_iter, t_fed=t_fed, t_round=t_round,
        total=total,
        rate_d=rd, power_d=pd,
    )
    energy = breakdown_energy(problem, bd)
    over = budget_violation(problem, energy)
    if over is not None:
        c, e, cap = over
        raise InfeasiblePointError(
            f"client_energy: client {c} uses {e:.6g} J per training run, over its budget "
            f"of {cap:.6g} J (compute {energy.client_compute[c]:.4g} J, uplink "
            f"{energy.client_uplink[c]:.4g} J, adapter upload {energy.client_adapter[c]:.4g} J)")
    object.__setattr__(bd, "energy", energy)
    return bd


def check_memory(problem: Problem, split: int, rank: int) -> None:
    """Raise :class:`~sfl_opt.errors.InfeasiblePointError` naming ``client_memory`` when
    the memory need (bytes) at ``(split, rank)`` exceeds some client's cap."""
    caps = problem.client_memory
    if np.isinf(caps).all():
        return
    need = problem.memory_need(split, rank)
    over = np.flatnonzero(need > caps)
    if over.size:
        k = int(over[0])
        where = split if np.ndim(split) == 0 else f"{int(split[k])} (client {k}'s)"
        raise InfeasiblePointError(
            f"client_memory: split {where}, rank {rank} needs {need[k]:.4g} bytes "
            f"({need[k] / 1e9:.3f} GB), above client {k}'s cap of {caps[k]:.4g} "
            f"bytes ({caps[k] / 1e9:.3f} GB)")


def _candidate(name: str, value: Any, allowed: np.ndarray) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(name, "an integer", value)
    if int(value) not in set(allowed.tolist()):
        raise ValidationError(name, f"one of the problem's candidates {allowed.tolist()}", value)
    return int(value)


def check_magnitudes(problem: Problem, table: PairTable | None = None) -> None:
    """Reject magnitudes the model cannot compute in float64, naming the field.

    ``solve`` calls this before it runs a method. Checked (units SI):

    - each link's total bandwidth is at most :data:`BW_MAX` Hz, every power cap
      (``p_max``, ``p_total_s``, ``p_total_f``) at least :data:`POWER_MIN` W;
    - every gain, and every gain over the noise psd, is a finite, normal number;
    - the signal-to-noise ratio of each client over one subchannel at full power is at
      most :data:`SNR_MAX` (``p_max * gain / (noise_psd * bw)``, its best subchannel),
      and at least :data:`SNR_MIN` on its best subchannel with its share
      ``min(p_max, p_total / K)`` of the power (a client no subchannel can serve).
      Deeply faded subchannels are normal (one of 200 x 1024 Rayleigh draws is below
      1e-5 of the mean): they are never refused; their rate is computed stably
      (``log1p``) and the water-filling leaves them without power;
    - every per-pair compute and downlink term, the broadcast term and ``rounds`` times
      ``local_iters`` times the slowest of them stay below :data:`TIME_MAX` s, so does
      each link's least transfer time (the slowest client at its best rate), the
      fastest client's least transfer time is at least :data:`TIME_MIN` s, and the
      smallest uplink time is not lost below the compute time's rounding (the
      water-filling needs ``deadline - compute > 0``).

    Raises :class:`~sfl_opt.errors.NumericalRangeError` (a ``ValidationError``).
    ``table``: ``pair_table(problem)`` if the caller has it (else built here).
    """
    pr = problem
    k = pr.K
    with np.errstate(all="ignore"):
        for field, value in (("p_max", np.min(pr.p_max)), ("p_total_s", pr.p_total_s),
                             ("p_total_f", pr.p_total_f)):
            if not value >= POWER_MIN:
                raise NumericalRangeError(
                    field, f"a power of at least {POWER_MIN:g} W (smaller ones underflow in "
                    "the power control; check the units, W)", float(f"{value:.3g}"))
        for name, gain, bw, p_total in (("s", pr.gain_s, pr.bw_s, pr.p_total_s),
                                        ("f", pr.gain_f, pr.bw_f, pr.p_total_f)):
            if not bw.sum() <= BW_MAX:
                raise NumericalRangeError(
                    f"bw_{name}", f"a total bandwidth of at most {BW_MAX:g} Hz (rates and "
                    f"the water-filling's sums overflow float64 beyond; check bw_{name}'s "
                    "units)", float(f"{bw.sum():.3g}"))
            g_n = gain / pr.noise_psd
            n_g = pr.noise_psd / gain
            tiny = np.finfo(float).tiny
            if not (np.isfinite(g_n).all() and np.isfinite(n_g).all() and (g_n >= tiny).all()
                    and (n_g >= tiny).all() and (gain >= tiny).all()):
                raise NumericalRangeError(
                    f"gain_{name}", "gain / noise_psd within float64's normal range "
                    f"(gains {gain.min():.3g}..{gain.max():.3g}, noise_psd {pr.noise_psd:.3g} "
                    "W/Hz)")
            hi = pr.p_max * gain.max(axis=1) / (pr.noise_psd * bw.min())
            share = np.minimum(pr.p_max, p_total / k)
            lo = share * np.max(gain / bw, axis=1) / pr.noise_psd
            if not (hi <= SNR_MAX).all():
                i = int(np.argmax(np.where(np.isfinite(hi), hi, np.inf)))
                raise NumericalRangeError(
                    f"gain_{name}", f"a signal-to-noise ratio p_max*gain/(noise_psd*bw_{name}) "
                    f"<= {SNR_MAX:g} (change gain_{name}, p_max, noise_psd or bw_{name})",
                    f"{hi[i]:.3g} for client {i}")
            if not (lo >= SNR_MIN).all():
                i = int(np.argmin(lo))
                raise NumericalRangeError(
                    f"gain_{name}", f"every client's best subchannel at a signal-to-noise "
                    f"ratio min(p_max, p_total_{name}/K)*gain/(noise_psd*bw_{name}) >= "
                    f"{SNR_MIN:g} (below, no subchannel can carry its data; raise p_max or "
                    f"p_total_{name}, or lower noise_psd, or check gain_{name}'s units)",
                    f"{lo[i]:.3g} for client {i}")
        tab = pair_table(pr) if table is None else table
        checks = (
            ("workload", np.max(tab.s_up)),
            ("client_flops", np.max(tab.w_client_fwd + tab.w_client_bwd)
             / np.min(pr.client_flops)),
            ("server_flops", np.max(tab.w_server) / pr.server_flops),
            ("rate_down", np.max(tab.s_dn) / np.min(pr.rate_down)),
            ("rate_bcast", np.max(tab.s_ad) / pr.rate_bcast),
        )
        worst_iter, worst_field, worst_value = 0.0, "rounds", 0.0
        for field, value in checks:
            if not np.isfinite(value) or value > TIME_MAX:
                what = "bits" if field == "workload" else "s"
                raise NumericalRangeError(
                    field, f"magnitudes whose delay term stays below {TIME_MAX:g} {what} "
                    f"(with the workload and batch; in {what})", float(f"{value:.3g}"))
            if field != "workload":
                worst_iter += value
                if value > worst_value:
                    worst_field, worst_value = field, value
        # the slowest round of any pair without communication, times the rounds
        total = np.max(tab.rounds) * pr.local_iters * worst_iter
        if not np.isfinite(total) or total > TIME_MAX:
            field = "rounds" if np.max(tab.rounds) * pr.local_iters > 1e6 else worst_field
            raise NumericalRangeError(
                field, f"rounds * local_iters * (compute + downlink + broadcast) below "
                f"{TIME_MAX:g} s (largest term: {worst_field}, {worst_value:.3g} s)",
                float(f"{total:.3g}"))
        # the least communication time of the slowest client (its best rate: the whole
        # band at the best subchannel's SNR) must stay in range
        rate_hi = {}
        for name, gain, bw, bits in (("s", pr.gain_s, pr.bw_s, tab.s_up),
                                     ("f", pr.gain_f, pr.bw_f, tab.s_ad)):
            rate_hi[name] = pr.subchannel_rate(bw.sum(), pr.p_max * gain.max(axis=1)
                                               / (pr.noise_psd * bw.min()))
            t_min = float(np.max(np.min(bits) / rate_hi[name]))
            t_fast = float(np.min(np.min(bits) / rate_hi[name]))
            if not t_fast >= TIME_MIN:
                raise NumericalRangeError(
                    f"bw_{name}", f"bandwidths and gains whose least transfer time is at "
                    f"least {TIME_MIN:g} s (shorter ones underflow in the power control; "
                    f"change bw_{name}, gain_{name} or the workload)", float(f"{t_fast:.3g}"))
            if not t_min <= TIME_MAX:
                raise NumericalRangeError(
                    f"bw_{name}", f"bandwidths and gains whose least transfer time stays "
                    f"below {TIME_MAX:g} s (change bw_{name}, gain_{name} or the workload)",
                    float(f"{t_min:.3g}"))
        # the least uplink time must not vanish below the compute time's rounding
        t_up = np.min(tab.s_up) / rate_hi["s"]
        t_cf = np.max(tab.w_client_fwd) / pr.client_flops
        bad = ~(t_up > 1e-12 * t_cf)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise NumericalRangeError(
                "client_flops", "compute times within 1e12 times the uplink time (the "
                "uplink would be lost in the compute time's rounding)",
                f"client {i}: compute {t_cf[i]:.3g} s, uplink {t_up[i]:.3g} s")
