"""Exact uplink bandwidth split for a fixed set of devices, and the minimum bandwidth
that meets a deadline (SPEC §4).

Device k with ``snr_bw`` a_k = p_k g_k / N0 (Hz) has the rate
r_k(b) = b log2(1 + a_k / b) bit/s (concave increasing in b, r_k(b) < a_k / ln 2) and
the per-round energy E_k(b) = e_k + p_k S_k / r_k(b) J (convex decreasing in b).

The split minimises Σ_k w_k E_k(b_k) s.t. Σ_k b_k ≤ B, b_k ≥ b_k^min. KKT: with the
marginal m_k(b) = −w_k E_k'(b) = w_k p_k S_k r_k'(b) / r_k(b)², each device with
w_k > 0 sits at m_k(b_k) = λ or at a bound; λ is found by a safeguarded Newton /
bisection on log λ (Σ b_k(λ) is decreasing in λ), each b_k(λ) by a safeguarded Newton
on log(a_k / b). Writing x = a / b, m = w p S ln2 · x² D(x) / (a² ln²(1 + x)) with
D(x) = ln(1 + x) − x / (1 + x).

Tie rule for zero weights: a device with w_k = 0 gets b_k^min whenever some device in
the set has w_k > 0 (all spare bandwidth goes to the positive weights, which use it);
if every weight is 0 the spare bandwidth is split equally on top of b^min.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import lambertw

from .. import _validation as v
from ..errors import ValidationError
from ..kernels._jit import kernel

_LN2 = math.log(2.0)


# --------------------------------------------------------------------- b_min
def min_bandwidth(bits: np.ndarray, time: np.ndarray, snr_bw: np.ndarray) -> np.ndarray:
    """Smallest bandwidth (Hz) with b log2(1 + a/b) ≥ bits / time.

    Closed form: with c = (bits / time) ln 2 / a ∈ (0, 1) and x = a / b the condition
    ln(1 + x) = c x gives x = −W₋₁(−c e^(−c)) / c − 1 (W₋₁ the lower Lambert-W
    branch). W₋₁ is ill-conditioned near its branch point (c → 1, i.e. b → ∞), so the
    W value is refined by a safeguarded Newton iteration on
    h(x) = 1 − ln(1 + x) / x = 1 − c, written with a series for small x.
    Returns ``inf`` where ``time <= 0`` or the rate is unreachable (c ≥ 1: the rate
    tends to a / ln 2 as b → ∞).
    """
    bits = np.asarray(bits, dtype=float)
    time = np.asarray(time, dtype=float)
    a = np.asarray(snr_bw, dtype=float)
    bits, time, a = np.broadcast_arrays(bits, time, a)
    out = np.full(bits.shape, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_ln2 = bits / time * _LN2
        c = rate_ln2 / a
    ok = (time > 0) & (c > 0) & (c < 1)
    # near the branch point (c -> 1) refine h(x) = 1 - c; at high SNR (c small, where
    # 1 - c rounds to 1) solve log(ln(1 + x) / x) = log c for u = log x instead
    near = ok & (c > 0.5)
    far = ok & ~near
    cc = c[near]
    delta = (a[near] - rate_ln2[near]) / a[near]
    with np.errstate(invalid="ignore", over="ignore"):
        x0 = -lambertw(-cc * np.exp(-cc), k=-1).real / cc - 1.0
    x = np.empty(cc.size)
    _refine_x(np.ascontiguousarray(delta), np.ascontiguousarray(x0), x)
    out[near] = a[near] / x
    with np.errstate(divide="ignore"):
        logc = np.log(rate_ln2[far]) - np.log(a[far])
    u = np.empty(logc.size)
    _refine_logx(np.ascontiguousarray(logc), u)
    out[far] = np.exp(np.log(a[far]) - u)
    return out


# -------------------------------------------------------------------- kernels
@kernel
def _dfun(x):
    """D(x) = ln(1 + x) − x / (1 + x) (series for small x)."""
    if x < 1e-3:
        return x * x * (0.5 - x * (2.0 / 3.0 - x * (0.75 - 0.8 * x)))
    return math.log1p(x) - x / (1.0 + x)


@kernel
def _hfun(x):
    """h(x) = 1 − ln(1 + x) / x (series for small x), increasing from 0 to 1."""
    if x < 1e-3:
        return x * (0.5 - x * (1.0 / 3.0 - x * (0.25 - x * (0.2 - x / 6.0))))
    return 1.0 - math.log1p(x) / x


@kernel
def _refine_x(delta, x0, out):
    """Solve h(x) = delta for each entry (0 < delta < 1), starting from x0."""
    for i in range(delta.size):
        d = delta[i]
        lo = 2.0 * d  # h(x) <= x / 2
        hi = max(4.0 * d, 1.0)
        while _hfun(hi) < d:
            hi *= 4.0
        x = x0[i]
        if not (lo <= x <= hi):
            x = math.sqrt(lo * hi)
        for _ in range(200):
            h = _hfun(x) - d
            if h == 0.0:
                break
            if h > 0.0:
                hi = x
            else:
                lo = x
            dh = _dfun(x) / (x * x)
            xn = x - h / dh if dh > 0.0 else 0.5 * (lo + hi)
            if not (lo < xn < hi):
                xn = 0.5 * (lo + hi)
            if abs(xn - x) <= 1e-15 * x or hi - lo <= 1e-15 * x:
                x = xn
                break
            x = xn
        out[i] = x


@kernel
def _log_g(u):
    """log(ln(1 + x) / x) at x = e^u, without overflow for large u; decreasing in u."""
    if u > 30.0:
        return math.log(u + math.log1p(math.exp(-u))) - u
    x = math.exp(u)
    return math.log(math.log1p(x)) - u


@kernel
def _refine_logx(logc, out):
    """Solve ln(1 + x) / x = c for u = log x, given log c (c <= 1/2, so x >= 2.5): a
    safeguarded Newton on the decreasing ``_log_g(u) - log c``."""
    for i in range(logc.size):
        t = logc[i]
        # x >= 1/c - 1 (as ln(1+x)/x >= 1/(1+x)) and ln(1 + x) <= 2 sqrt(x)
        lo = math.log(max(math.exp(-t) - 1.0, 1.0)) if t > -700.0 else -t - 1.0
        hi = lo + 1.0
        while _log_g(hi) > t:
            hi = lo + 2.0 * (hi - lo)
        u = 0.5 * (lo + hi)
        for _ in range(200):
            f = _log_g(u) - t
            if f == 0.0:
                break
            if f > 0.0:
                lo = u
            else:
                hi = u
            if u > 30.0:
                lx = u + math.log1p(math.exp(-u))
                dx = 1.0 / (1.0 + math.exp(-u))
            else:
                x = math.exp(u)
                lx = math.log1p(x)
                dx = x / (1.0 + x)
            df = dx / lx - 1.0
            un = u - f / df if df < 0.0 else 0.5 * (lo + hi)
            if not (lo < un < hi):
                un = 0.5 * (lo + hi)
            if abs(un - u) <= 1e-15 * max(1.0, abs(u)) or hi - lo <= 1e-15 * max(1.0, abs(u)):
                u = un
                break
            u = un
        out[i] = u


@kernel
def _log_marginal(u, logc):
    """log m and d(log m)/du at x = e^u for m = C x² D(x) / ln²(1+x), logc = log C."""
    x = math.exp(u)
    lx = math.log1p(x)
    d = _dfun(x)
    val = logc + 2.0 * u + math.log(d) - 2.0 * math.log(lx)
    opx = 1.0 + x
    der = 2.0 + x * x / (opx * opx * d) - 2.0 * x / (opx * lx)
    return val, der


@kernel
def _solve_u(logc, loglam, ulo, uhi, u0):
    """u ∈ (ulo, uhi) with log m(u) = loglam (assumes a sign change); returns (u, dh/du)."""
    u = u0
    if not (ulo < u < uhi):
        u = 0.5 * (ulo + uhi)
    der = 2.0
    for _ in range(200):
        h, der = _log_marginal(u, logc)
        h -= loglam
        if h == 0.0:
            return u, der
        if h > 0.0:
            uhi = u
        else:
            ulo = u
        un = u - h / der
        if not (ulo < un < uhi):
            un = 0.5 * (ulo + uhi)
        if abs(un - u) <= 1e-14 * (1.0 + abs(u)) or uhi - ulo <= 1e-14 * (1.0 + abs(u)):
            return un, der
        u = un
    return u, der


@kernel
def _response(loglam, active, logc, snr_bw, bmin, ub, ulo, uhi, mlo, mhi, uw, out_b):
    """Bandwidths b_k(λ) of the active positive-weight devices at price λ = e^loglam
    (others keep out_b); returns (Σ b over active, d Σb / d loglam)."""
    total = 0.0
    deriv = 0.0
    for k in range(active.size):
        if not active[k]:
            continue
        if mhi[k] <= loglam:
            out_b[k] = bmin[k]
        elif mlo[k] >= loglam:
            out_b[k] = ub[k]
        else:
            u, der = _solve_u(logc[k], loglam, ulo[k], uhi[k], uw[k])
            uw[k] = u
            b = snr_bw[k] * math.exp(-u)
            out_b[k] = b
            deriv -= b / der
        total += out_b[k]
    return total, deriv


@kernel
def response_scratch(n):
    """Scratch arrays (logc, ub, ulo, uhi, mlo, mhi, uw) of the price response, length n."""
    return (np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n),
            np.zeros(n))


@kernel
def response_setup(weight, snr_bw, bits, power, bmin, ub, logc, ulo, uhi, mlo, mhi, uw):
    """For every device with weight > 0 and upper bandwidth ``ub``: the log-constant of
    its marginal energy, the bracket [ulo, uhi] of u = log(snr_bw / b) for b in
    [bmin, ub], the log-marginals at both ends and a starting point ``uw``."""
    for k in range(weight.size):
        if weight[k] <= 0.0:
            continue
        logc[k] = math.log(weight[k] * power[k] * bits[k] * _LN2) - 2.0 * math.log(snr_bw[k])
        ulo[k] = math.log(snr_bw[k] / ub[k])
        uhi[k] = math.log(snr_bw[k] / bmin[k])
        mlo[k] = _log_marginal(ulo[k], logc[k])[0]
        mhi[k] = _log_marginal(uhi[k], logc[k])[0]
        uw[k] = 0.5 * (ulo[k] + uhi[k])


@kernel
def split_kernel(weight, snr_bw, bits, power, bmin, total, out_b):
    """Exact minimiser of Σ w_k p_k S_k / r_k(b_k) s.t. Σ b ≤ total, b ≥ bmin.

    Writes the bandwidths to ``out_b`` and returns the price λ (J/Hz; 0 when every
    weight is 0); returns −1 if Σ bmin > total.
    """
    n = weight.size
    sum_min = 0.0
    for k in range(n):
        sum_min += bmin[k]
    spare = total - sum_min
    if spare < -1e-9 * total:
        return -1.0
    spare = max(spare, 0.0)
    npos = 0
    for k in range(n):
        out_b[k] = bmin[k]
        if weight[k] > 0.0:
            npos += 1
    if npos == 0:
        for k in range(n):
            out_b[k] = bmin[k] + spare / n
        return 0.0
    active = np.zeros(n, dtype=np.bool_)
    logc, ub, ulo, uhi, mlo, mhi, uw = response_scratch(n)
    for k in range(n):
        ub[k] = bmin[k] + spare
    response_setup(weight, snr_bw, bits, power, bmin, ub, logc, ulo, uhi, mlo, mhi, uw)
    lam_lo = np.inf
    lam_hi = -np.inf
    for k in range(n):
        if weight[k] <= 0.0:
            continue
        active[k] = True
        lam_lo = min(lam_lo, mlo[k])
        lam_hi = max(lam_hi, mhi[k])
    if spare == 0.0:
        return math.exp(lam_hi)
    target = total - sum_min
    for k in range(n):
        if active[k]:
            target += bmin[k]
    # g(l) = Σ_active b(l) − target is decreasing; g(lam_lo) ≥ 0 ≥ g(lam_hi)
    lo = lam_lo
    hi = lam_hi
    ell = 0.5 * (lo + hi)
    for _ in range(300):
        s, ds = _response(ell, active, logc, snr_bw, bmin, ub, ulo, uhi, mlo, mhi, uw, out_b)
        g = s - target
        if abs(g) <= 1e-13 * total:
            break
        if g > 0.0:
            lo = ell
        else:
            hi = ell
        if hi - lo <= 1e-15 * (1.0 + abs(ell)):
            break
        nxt = ell - g / ds if ds < 0.0 else 0.5 * (lo + hi)
        if not (lo < nxt < hi):
            nxt = 0.5 * (lo + hi)
        ell = nxt
    # put the last sliver of the budget on the interior devices (keeps Σ b = total)
    s = 0.0
    free = 0.0
    for k in range(n):
        s += out_b[k]
        if active[k] and bmin[k] < out_b[k] < ub[k]:
            free += out_b[k] - bmin[k]
    resid = total - s
    if free > 0.0:
        for k in range(n):
            if active[k] and bmin[k] < out_b[k] < ub[k]:
                out_b[k] += resid * (out_b[k] - bmin[k]) / free
    return math.exp(ell)


@kernel
def energy_kernel(snr_bw, bits, power, ecomp, b):
    """Per-round energies e + p S / (b log2(1 + a/b)) (J)."""
    out = np.empty(b.size)
    for k in range(b.size):
        r = b[k] * math.log2(1.0 + snr_bw[k] / b[k])
        out[k] = ecomp[k] + power[k] * bits[k] / r
    return out


# ------------------------------------------------------------------ Python API
@dataclass(frozen=True)
class Split:
    """Result of :func:`split_bandwidth`: ``bandwidth (n,)`` Hz, the bandwidth
    ``price`` λ (weighted J per Hz) and the weighted energy ``cost`` Σ w_k E_k (J)."""

    bandwidth: np.ndarray
    price: float
    cost: float


def split_bandwidth(weight: np.ndarray, snr_bw: np.ndarray, bits: np.ndarray,
                    power: np.ndarray, b_min: np.ndarray, total: float,
                    compute_energy: np.ndarray | None = None) -> Split:
    """Exact bandwidth split (Hz) minimising Σ w_k E_k(b_k) over one fixed set of devices.

    ``weight`` (n,) ≥ 0 (e.g. the virtual queues Q_k, J), ``snr_bw`` (n,) Hz,
    ``bits`` (n,) uplink bits, ``power`` (n,) W, ``b_min`` (n,) Hz, ``total`` B Hz,
    ``compute_energy`` (n,) J (default 0). Raises ``ValueError`` if Σ b_min > B.
    """
    w = v.float_array("weight", weight, ndim=1, nonnegative=True)
    n = w.size
    a = v.float_array("snr_bw", snr_bw, shape=(n,), positive=True)
    s = v.float_array("bits", bits, shape=(n,), positive=True)
    p = v.float_array("power", power, shape=(n,), positive=True)
    bmin = v.float_array("b_min", b_min, shape=(n,), positive=True)
    total = v.scalar("total", total, positive=True)
    e = (np.zeros(n) if compute_energy is None else
         v.float_array("compute_energy", compute_energy, shape=(n,), nonnegative=True))
    out = np.empty(n)
    price = split_kernel(w, a, s, p, bmin, total, out)
    if price < 0:
        raise ValidationError("b_min", f"Σ b_min <= total = {total:g} Hz", float(bmin.sum()))
    out.setflags(write=False)
    cost = float(np.sum(w * energy_kernel(a, s, p, e, out)))
    return Split(bandwidth=out, price=float(price), cost=cost)
