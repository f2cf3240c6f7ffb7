"""Numba kernels of the online scheduler (:mod:`sfl_opt.online`); each also runs as
plain Python under ``NUMBA_DISABLE_JIT=1``.

Bandwidth split for a fixed set (:mod:`sfl_opt.online.bandwidth`):

- :func:`refine_x`: the minimum-bandwidth equation h(x) = 1 − ln(1+x)/x = δ;
- :func:`split_kernel`: the exact min Σ w_k E_k(b_k) s.t. Σ b ≤ B, b ≥ b^min (price
  λ by safeguarded Newton/bisection on log λ, each b_k(λ) by Newton on log x);
- :func:`energy_kernel`: per-round energies.

Set choice (:mod:`sfl_opt.online.schedule`):

- :func:`set_cost`: the exact cost V w Ψ(N) + min split of one set;
- :func:`enumerate_sets`: every subset (the reference);
- :func:`efficient_kernel`: :func:`scan_candidates` (Lagrangian scan of the
  bandwidth price and the prefix sets around the crossing) then
  :func:`local_search` (additions, removals and swaps ranked at the current price,
  each re-solved exactly).

The derivations are in docs/online.md §3.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel

_LN2 = math.log(2.0)


# ----------------------------------------------------------- bandwidth split
@kernel
def rate(a, b):
    """Uplink rate b·log2(1 + a/b) (bit/s) of bandwidth b Hz at a = p·g/N0 Hz, without
    overflow when a/b exceeds the float range (b tiny, e.g. a deadline of 1e308 s) and
    exact for a/b tiny (b huge): log1p, and ln(a/b) = ln a − ln b past 1e300."""
    if b <= 0.0:
        return 0.0
    y = a / b
    if y < 1e300:
        return b * math.log1p(y) / _LN2
    return b * (math.log(a) - math.log(b) + math.log1p(b / a)) / _LN2


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
def refine_x(delta, x0, out):
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
def refine_logx(logc, out):
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
    if u < -6.9:  # x < 1e-3 (a huge band): D = x²·q and ln(1+x) = x·r by series, in
        # log space (x² and D underflow long before x does)
        x = math.exp(u)
        q = 0.5 - x * (2.0 / 3.0 - x * (0.75 - 0.8 * x))
        r = 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
        opx = 1.0 + x
        return (logc + 2.0 * u + math.log(q) - 2.0 * math.log(r),
                2.0 + 1.0 / (opx * opx * q) - 2.0 / (opx * r))
    if u > 30.0:  # x = e^u past overflow: ln(1+x) = u + ln(1 + e^-u), x/(1+x) = sig
        lx = u + math.log1p(math.exp(-u))
        sig = 1.0 / (1.0 + math.exp(-u))
        d = lx - sig
    else:
        x = math.exp(u)
        lx = math.log1p(x)
        d = _dfun(x)
        sig = x / (1.0 + x)
    val = logc + 2.0 * u + math.log(d) - 2.0 * math.log(lx)
    der = 2.0 + sig * sig / d - 2.0 * sig / lx
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
def _response(loglam, active, logc, snr_bw, bmin, ub, ulo, uhi, mlo, mhi, uw, out_b, scale):
    """Bandwidths b_k(λ) of the active positive-weight devices at price λ = e^loglam
    (others keep out_b); returns (Σ b over active, d Σb / d loglam), both divided by
    ``scale`` (so that the sum of bands near 1e308 Hz does not overflow)."""
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
            deriv -= b / scale / der
        total += out_b[k] / scale
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
        ulo[k] = math.log(snr_bw[k]) - math.log(ub[k])   # no overflow of a/b
        uhi[k] = math.log(snr_bw[k]) - math.log(bmin[k])
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
    # sums of bands are taken in units of sc (bands near 1e308 Hz would overflow)
    sc = 1.0 if total < 1e290 else total
    sum_min = 0.0
    for k in range(n):
        sum_min += bmin[k] / sc
    spare = total - sum_min * sc
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
        ub[k] = min(bmin[k] + spare, total)   # = total − Σ_{j≠k} b_j^min <= total
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
        return math.exp(min(lam_hi, 709.0))  # the price saturates at 8e307
    target = total / sc   # Σ_active b = B − Σ_inactive b^min, in units of sc
    for k in range(n):
        if not active[k]:
            target -= bmin[k] / sc
    # g(l) = Σ_active b(l) − target is decreasing; g(lam_lo) ≥ 0 ≥ g(lam_hi)
    lo = lam_lo
    hi = lam_hi
    ell = 0.5 * (lo + hi)
    for _ in range(300):
        s, ds = _response(ell, active, logc, snr_bw, bmin, ub, ulo, uhi, mlo, mhi, uw, out_b,
                          sc)
        g = s - target
        if abs(g) <= 1e-13 * total / sc:
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
        s += out_b[k] / sc
        if active[k] and bmin[k] < out_b[k] < ub[k]:
            free += (out_b[k] - bmin[k]) / sc
    resid = total / sc - s
    if free > 0.0:
        for k in range(n):
            if active[k] and bmin[k] < out_b[k] < ub[k]:
                out_b[k] += resid * ((out_b[k] - bmin[k]) / sc) / free * sc
    return math.exp(min(ell, 709.0))


@kernel
def energy_kernel(snr_bw, bits, power, ecomp, b):
    """Per-round energies e + p S / (b log2(1 + a/b)) (J)."""
    out = np.empty(b.size)
    for k in range(b.size):
        out[k] = ecomp[k] + power[k] * bits[k] / rate(snr_bw[k], b[k])
    return out


# --------------------------------------------------------------- set choice
@kernel
def _prepare(q, a, s, p, bmin, cap, logc, ub, ulo, uhi, mlo, mhi, uw):
    for k in range(q.size):
        ub[k] = max(cap, bmin[k])
    response_setup(q, a, s, p, bmin, ub, logc, ulo, uhi, mlo, mhi, uw)


@kernel
def _phi_at(ell, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, out_b, out_phi):
    """Price response at λ = e^ell: b_k(λ) and φ_k(λ) = c_k + Q_k E^tx_k(b_k) + λ b_k
    (``e`` = c_k, the device's fixed cost, see :func:`set_cost`)."""
    lam = math.exp(min(ell, 709.0))  # prices past 8e307 J/Hz act alike
    for k in range(q.size):
        if q[k] <= 0.0:
            out_b[k] = bmin[k]
            out_phi[k] = e[k] + lam * bmin[k]
            continue
        if mhi[k] <= ell:
            b = bmin[k]
        elif mlo[k] >= ell:
            b = ub[k]
        else:
            u, _ = _solve_u(logc[k], ell, ulo[k], uhi[k], uw[k])
            uw[k] = u
            b = a[k] * math.exp(-u)
        out_b[k] = b
        r = rate(a[k], b)
        out_phi[k] = e[k] + q[k] * (p[k] * s[k] / r) + lam * b


@kernel
def _best_prefix(phi, b, vwpsi, mask):
    """Best set for fixed prices: the N smallest φ with N minimising V w Ψ(N) + Σ φ.
    Writes ``mask`` and returns the set's bandwidth demand Σ b."""
    order = np.argsort(phi)
    best = vwpsi[0]
    best_n = 0
    acc = 0.0
    for n in range(1, phi.size + 1):
        acc += phi[order[n - 1]]
        val = vwpsi[n] + acc
        if val < best:
            best = val
            best_n = n
    demand = 0.0
    mask[:] = False
    for i in range(best_n):
        mask[order[i]] = True
        demand += b[order[i]]
    return demand


@kernel
def _dual_scan(q, a, s, p, e, bmin, total, vwpsi, mask_lo, mask_hi, phi):
    """Bisection on log λ for the crossing of the bandwidth demand of the prefix-optimal
    set; fills the sets just below (demand > B) and above (demand ≤ B) the crossing
    and the prices φ at the upper end. Returns log λ of the upper end."""
    n = q.size
    logc, ub, ulo, uhi, mlo, mhi, uw = response_scratch(n)
    _prepare(q, a, s, p, bmin, total, logc, ub, ulo, uhi, mlo, mhi, uw)
    b = np.zeros(n)
    lo = np.inf
    hi = -np.inf
    bmin_min = np.inf
    for k in range(n):
        bmin_min = min(bmin_min, bmin[k])
        if q[k] > 0.0:
            lo = min(lo, mlo[k])
            hi = max(hi, mhi[k])
    gain = vwpsi[0] - vwpsi[n]
    for k in range(n):  # negative fixed costs (penalty offsets) are gains too
        if e[k] < 0.0:
            gain -= e[k]
    if gain > 0.0:
        hi = max(hi, math.log(gain) - math.log(bmin_min))
    if not math.isfinite(hi):
        hi = 0.0
    if not math.isfinite(lo):
        lo = hi - 60.0
    lo -= 1.0
    hi += 1.0
    _phi_at(lo, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, b, phi)
    if _best_prefix(phi, b, vwpsi, mask_lo) <= total:
        mask_hi[:] = mask_lo
        return lo
    _phi_at(hi, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, b, phi)
    _best_prefix(phi, b, vwpsi, mask_hi)
    mask = np.zeros(n, dtype=np.bool_)
    for _ in range(80):
        if hi - lo <= 1e-12 * (1.0 + abs(hi)):
            break
        mid = 0.5 * (lo + hi)
        _phi_at(mid, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, b, phi)
        if _best_prefix(phi, b, vwpsi, mask) > total:
            lo = mid
            mask_lo[:] = mask
        else:
            hi = mid
            mask_hi[:] = mask
    _phi_at(hi, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, b, phi)
    return hi


@kernel
def set_cost(mask, q, a, s, p, e, bmin, total, vwpsi, out_b):
    """Exact cost of the set ``mask``: V w Ψ(N) + Σ c_k + min split Σ Q_k E^tx_k; inf if
    Σ b_min > B. ``e`` holds each device's fixed cost c_k (J²) when scheduled: its
    queue times its compute energy plus any per-device penalty offset (which may be
    negative: the data-share term of Ψ, see ``schedule._solve_capped``); the transmit
    energy is p S / r(b). Writes the split to ``out_b`` (0 outside the set); returns
    (cost, price)."""
    idx = np.nonzero(mask)[0]
    m = idx.size
    out_b[:] = 0.0
    if m == 0:
        return vwpsi[0], 0.0
    smin = 0.0
    for i in range(m):
        smin += bmin[idx[i]]
    if smin > total * (1.0 + 1e-12):
        return np.inf, 0.0
    qq = q[idx]
    aa = a[idx]
    ss = s[idx]
    pp = p[idx]
    bb = np.empty(m)
    price = split_kernel(qq, aa, ss, pp, bmin[idx], total, bb)
    ee = e[idx]
    cost = vwpsi[m]
    for i in range(m):
        cost += ee[i] + qq[i] * (pp[i] * ss[i] / rate(aa[i], bb[i]))
        out_b[idx[i]] = bb[i]
    return cost, price


@kernel
def enumerate_sets(q, a, s, p, e, bmin, total, vwpsi, best_mask):
    """Every subset of the n devices (all deadline-feasible); returns the least cost."""
    n = q.size
    best = np.inf
    mask = np.zeros(n, dtype=np.bool_)
    b = np.zeros(n)
    for code in range(1 << n):
        for k in range(n):
            mask[k] = ((code >> k) & 1) == 1
        cost, _ = set_cost(mask, q, a, s, p, e, bmin, total, vwpsi, b)
        if cost < best:
            best = cost
            best_mask[:] = mask
    return best


@kernel
def scan_candidates(q, a, s, p, e, bmin, total, vwpsi, best_mask, best_b, phi):
    """Lagrangian scan (:func:`_dual_scan`), then the exact cost of the sets on both
    sides of the crossing and of the prefix sets of sizes N−1, N+1, N+2 (by φ at the
    crossing). Writes the best set and split and φ; returns (cost, price)."""
    n = q.size
    mask_lo = np.zeros(n, dtype=np.bool_)
    mask_hi = np.zeros(n, dtype=np.bool_)
    _dual_scan(q, a, s, p, e, bmin, total, vwpsi, mask_lo, mask_hi, phi)
    order = np.argsort(phi)
    n_hi = 0
    for k in range(n):
        if mask_hi[k]:
            n_hi += 1
    best_mask[:] = False
    best_b[:] = 0.0
    best = vwpsi[0]
    price = 0.0
    trial = np.zeros(n, dtype=np.bool_)
    tb = np.zeros(n)
    for cand in range(5):
        if cand == 0:
            trial[:] = mask_lo
        elif cand == 1:
            trial[:] = mask_hi
        else:
            size = n_hi + cand - 3  # n_hi - 1, n_hi + 1, n_hi + 2
            if size < 0 or size > n or size == n_hi:
                continue
            trial[:] = False
            for i in range(size):
                trial[order[i]] = True
        val, pr = set_cost(trial, q, a, s, p, e, bmin, total, vwpsi, tb)
        if val < best:
            best = val
            price = pr
            best_mask[:] = trial
            best_b[:] = tb
    return best, price


@kernel
def _rank_moves(best_mask, best_b, price, q, a, s, p, e, phi, width, adds, drops):
    """The ``width`` most promising additions (smallest φ_k at the price) and removals
    (largest Q_j E_j(b_j) + λ b_j); returns their counts (na, nd)."""
    n = q.size
    key = np.empty(n)
    for k in range(n):
        if best_mask[k]:
            bk = best_b[k]
            key[k] = -(e[k] + q[k] * (p[k] * s[k] / rate(a[k], bk)) + price * bk)
        else:
            key[k] = phi[k]  # add the cheapest first
    srt = np.argsort(key)
    na = 0
    nd = 0
    for i in range(n):
        k = srt[i]
        if best_mask[k]:
            if nd < width:
                drops[nd] = k
                nd += 1
        elif na < width:
            adds[na] = k
            na += 1
    return na, nd


@kernel
def _best_move(best, best_mask, adds, na, drops, nd, q, a, s, p, e, bmin, total, vwpsi,
               mv_b):
    """Exact cost of every addition, removal and swap of the ranked candidates; returns
    (cost, price, removal index, addition index) of the best one improving on ``best``
    (indices −2 if none; −1 for "no removal"/"no addition") and writes its split."""
    n = q.size
    trial = np.zeros(n, dtype=np.bool_)
    tb = np.zeros(n)
    move_val = best * (1.0 - 1e-12)
    move_j = -2
    move_k = -2
    move_price = 0.0
    for j_i in range(-1, nd):
        for k_i in range(-1, na):
            if j_i < 0 and k_i < 0:
                continue
            trial[:] = best_mask
            if j_i >= 0:
                trial[drops[j_i]] = False
            if k_i >= 0:
                trial[adds[k_i]] = True
            val, pr = set_cost(trial, q, a, s, p, e, bmin, total, vwpsi, tb)
            if val < move_val:
                move_val = val
                move_price = pr
                move_j = j_i
                move_k = k_i
                mv_b[:] = tb
    return move_val, move_price, move_j, move_k


@kernel
def local_search(q, a, s, p, e, bmin, total, vwpsi, width, max_iter, best_mask, best_b,
                 best, price):
    """Improve the set ``best_mask`` (cost ``best``, price ``price``) by the best
    addition/removal/swap among the ``width`` best ranked at the current exact price,
    until none improves or ``max_iter`` moves. Updates the set and split in place;
    returns (cost, price)."""
    n = q.size
    logc, ub, ulo, uhi, mlo, mhi, uw = response_scratch(n)
    _prepare(q, a, s, p, bmin, total, logc, ub, ulo, uhi, mlo, mhi, uw)
    bresp = np.empty(n)
    phi = np.empty(n)
    mv_b = np.zeros(n)
    adds = np.full(width, -1)
    drops = np.full(width, -1)
    for _ in range(max_iter):
        ell = math.log(price) if price > 0.0 else -700.0
        _phi_at(ell, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, bresp, phi)
        adds[:] = -1
        drops[:] = -1
        na, nd = _rank_moves(best_mask, best_b, price, q, a, s, p, e, phi, width, adds, drops)
        move_val, move_price, move_j, move_k = _best_move(
            best, best_mask, adds, na, drops, nd, q, a, s, p, e, bmin, total, vwpsi, mv_b)
        if move_j == -2:
            break
        if move_j >= 0:
            best_mask[drops[move_j]] = False
        if move_k >= 0:
            best_mask[adds[move_k]] = True
        best = move_val
        price = move_price
        best_b[:] = mv_b
    return best, price


@kernel
def efficient_kernel(q, a, s, p, e, bmin, total, vwpsi, width, max_iter, out_mask, out_b):
    """:func:`scan_candidates` then :func:`local_search`, with exact re-solves.
    Writes the set and split; returns (cost, price)."""
    phi = np.empty(q.size)
    best, price = scan_candidates(q, a, s, p, e, bmin, total, vwpsi, out_mask, out_b, phi)
    return local_search(q, a, s, p, e, bmin, total, vwpsi, width, max_iter, out_mask, out_b,
                        best, price)
