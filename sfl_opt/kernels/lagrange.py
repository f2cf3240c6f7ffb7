"""Native lower bound on a link's stage: the Lagrangian dual of the time-sharing relaxation.

Problem (one link: the s-link of a pair, or the f-link with c = 0, S = 1): the least
deadline t such that every client k reaches rate ``D_k(t) = S / (t - c_k)`` with its
subchannels under the caps ``sum psd bw <= p_max[k]`` and ``sum <= p_total``. In the
*time-sharing relaxation* client k may use a fraction ``theta_km`` of subchannel m
(``sum_k theta_km <= 1``); a partial assignment ``fixed`` (``fixed[m] = k``, or -1 when
free) forces ``theta_{fixed[m], m} = 1``.

For multipliers ``mu_k >= 0`` (rate constraints), ``nu_k >= 0`` (own caps) and
``lam >= 0`` (total cap; 0 when it cannot bind), with power prices
``pi_k = nu_k + lam``, weak duality gives for every relaxed point meeting t
(docs/model.md, "Native lower bound")

    sum_k mu_k D_k(t)  <=  G = sum_k nu_k p_max[k] + lam p_total
                               + sum_m max_{k allowed on m} h_km,
    h_km = (bw_m mu_k / ln 2) phi(x_km),  x_km = mu_k a_km / (pi_k ln 2),

``phi(x) = ln x - 1 + 1/x`` for x > 1 (0 otherwise), ``a_km = gain/N0 = 1/inva``. With a
spectral-efficiency cap ``lcap`` (rate ``bw min(log2(1 + psd a), lcap)``, :mod:`.waterfill`)
the per-subchannel supremum is taken over psd up to the cap's, ``(2^lcap - 1) / a``:
``phi_c(x) = phi(x)`` for ``x <= 2^lcap`` and ``lcap ln 2 - (2^lcap - 1) / x`` above (the
value at the boxed psd; continuous with a continuous slope at ``x = 2^lcap``), so the
bound stays a valid lower bound of the capped problem. Every t
with ``sum mu_k D_k(t) > G`` is infeasible, and so is every smaller t (the demands only
grow): the root of ``sum_k mu_k S / (t - c_k) = G`` is a lower bound on the relaxed and
on the integral optimum, for *any* multipliers. The multipliers are only optimised
(BFGS on the root, in log space, with the max over clients smoothed by a log-sum-exp,
which is itself an upper bound on the max); validity never depends on that. Every
rounding step errs low: the certified value uses the exact max, G is inflated by
``SAFE`` plus a bound on its summation error (all its terms are non-negative), phi by a
bound on its own rounding error, and the returned t is re-checked with a left side
deflated the same way. Units: s, bits, W,
W/Hz, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .waterfill import max_rate_for_power

LN2 = math.log(2.0)
#: relative inflation of the dual value G (and deflation of the left side)
SAFE = 1e-12


@kernel
def phi_upper(x, lcap=math.inf):
    """An upper bound on ``phi(x) = ln x - 1 + 1/x`` (x > 1; 0 below), or on ``phi_c`` of
    the spectral-efficiency cap ``lcap`` (module doc), including a bound on the rounding
    error of the argument (relative 8 eps) and of the evaluation."""
    if not x > 1.0 - 1e-13:
        return 0.0
    if lcap < math.inf and x > 2.0 ** lcap:
        # phi_c' = (2^lcap - 1)/x^2 < 1/x: an argument error of 8 eps x moves it by <= 8 eps
        v = lcap * LN2 - (2.0 ** lcap - 1.0) / x
        if v < 0.0:
            v = 0.0
        return v * (1.0 + 1e-12) + 1e-15 * (lcap * LN2 + 2.0) + 4e-15 + 1e-300
    if x == math.inf:
        return math.inf
    u = x - 1.0
    au = abs(u)
    if au < 1e-2:
        # alternating series sum_{n>=2} (-1)^n (n-1)/n u^n, truncated after u^6; the
        # error is below the first omitted term, 6/7 |u|^7
        v = u * u * (0.5 + u * (-2.0 / 3.0 + u * (0.75 + u * (-0.8 + u * (5.0 / 6.0)))))
        if v < 0.0:
            v = 0.0
        err = au ** 7
    else:
        v = math.log(x) - 1.0 + 1.0 / x
        err = 1e-15 * (abs(math.log(x)) + 2.0)
    # phi'(x) x = (x - 1)/x <= min(1, 1.1 |u|) (x > 1 - 1e-2 here): an argument error of
    # 8 eps x moves phi by <= 2e-15 min(1, 1.1 |u|) (it was bounded by 2e-15 |u|, which
    # grew with x: +2 at x = 1e15, x 470 at x = 1e19, a needlessly loose bound at high SNR)
    return v * (1.0 + 1e-12) + err + 2e-15 * min(1.1 * au, 1.0) + 1e-300


#: BFGS budgets from which vanishing multipliers are also tried at 0
SNAP_ITER = 50
#: largest first trial step of one log-multiplier in a BFGS line search
STEP_CAP = 8.0
#: log-multipliers are kept in [-ZMAX, ZMAX] so that no product over- or underflows
ZMAX = 300.0


@kernel
def _unpack(z, K, has_lam, mu, nu):
    """mu, nu from log-parameters (clamped to +-ZMAX); returns lam."""
    for k in range(K):
        mu[k] = math.exp(min(max(z[k], -ZMAX), ZMAX))
        nu[k] = math.exp(min(max(z[K + k], -ZMAX), ZMAX))
    return math.exp(min(max(z[2 * K], -ZMAX), ZMAX)) if has_lam else 0.0


@kernel
def dual_value(inva, bw, fixed, mu, nu, lam, pmax, ptot, lcap=math.inf):
    """The dual value G (module doc), rounded up. ``fixed`` (M,): owner or -1."""
    K, M = inva.shape
    g = 0.0
    for k in range(K):
        g += nu[k] * pmax[k]
    if lam > 0.0:
        g += lam * ptot
    for m in range(M):
        o = fixed[m]
        best = 0.0
        for k in range(K):
            if o >= 0 and k != o:
                continue
            if mu[k] == 0.0:
                continue
            pk = nu[k] + lam
            x = mu[k] / (pk * LN2 * inva[k, m])
            v = mu[k] * phi_upper(x, lcap)
            if v > best:
                best = v
        g += bw[m] * best / LN2
    # each term carries <= 8 rounding errors, the sum of n non-negative terms <= n - 1
    return g * (1.0 + SAFE + 4e-16 * (K * M + 2 * K + 8))


@kernel
def dual_lhs(mu, c, S, t):
    """``sum_k mu_k S / (t - c_k)`` rounded down (inf when t <= some c_k with mu_k > 0)."""
    s = 0.0
    for k in range(c.shape[0]):
        if mu[k] == 0.0:
            continue
        d = t - c[k]
        if not d > 0.0:
            return math.inf
        s += mu[k] * S / d
    return s * (1.0 - SAFE - 4e-16 * (c.shape[0] + 4))


@kernel
def _root(mu, c, S, g, safe):
    """Largest t with ``sum mu_k S/(t - c_k) >= g`` (Newton from the left on a convex
    decreasing function). With ``safe`` every accepted iterate is re-checked with the
    rounded-down left side, so the returned t is certified. Returns -inf if g is inf."""
    K = c.shape[0]
    if not g < math.inf:
        return -math.inf
    t = -math.inf
    for k in range(K):
        if mu[k] > 0.0:
            x = c[k] + mu[k] * S / g * (1.0 - 1e-9)
            if x > t:
                t = x
    if safe and not dual_lhs(mu, c, S, t) >= g:
        return -math.inf  # pragma: no cover - one term alone exceeds g
    for _ in range(100):
        f = 0.0
        df = 0.0
        for k in range(K):
            if mu[k] > 0.0:
                d = t - c[k]
                if not d > 0.0:
                    return -math.inf  # rounding put t on a pole: certify nothing
                f += mu[k] * S / d
                df += mu[k] * S / d / d
        if not df > 0.0:
            break  # t so large that the slope underflows
        step = (f - g) / df
        x = t + step * (1.0 - 1e-9) if safe else t + step
        if not x > t:
            break
        if safe and not dual_lhs(mu, c, S, x) >= g:
            break
        done = (x - t) <= 1e-14 * abs(x)
        t = x
        if done:
            break
    return t


@kernel
def certified_root(inva, bw, fixed, mu, nu, lam, pmax, ptot, c, S, lcap=math.inf):
    """The lower bound (s) certified by the multipliers: every t' below it is infeasible
    for every completion of ``fixed`` (and for the time-sharing relaxation)."""
    g = dual_value(inva, bw, fixed, mu, nu, lam, pmax, ptot, lcap)
    return _root(mu, c, S, g, True)


@kernel
def _smooth_eval(z, inva, bw, fixed, pmax, ptot, c, S, has_lam, tau, grad, mu, nu, dgm, dgp,
                 hbuf, lbuf, lcap):
    """Root t of the smoothed dual (max over clients -> tau log-sum-exp) and its gradient
    with respect to z (filled into ``grad``). Returns t (-inf if undefined). ``hbuf`` and
    ``lbuf`` (K,) are scratch."""
    K, M = inva.shape
    lam = _unpack(z, K, has_lam, mu, nu)
    top = 2.0 ** lcap if lcap < math.inf else math.inf  # phi_c's switch point
    gcap = top - 1.0
    g = 0.0
    for k in range(K):
        g += nu[k] * pmax[k]
        dgm[k] = 0.0
        dgp[k] = 0.0
        # x_km = r_k / inva_km
        lbuf[k] = mu[k] / ((nu[k] + lam) * LN2)
    if has_lam:
        g += lam * ptot
    for m in range(M):
        o = fixed[m]
        hmax = 0.0
        for k in range(K):
            hbuf[k] = -1.0
            if o >= 0 and k != o:
                continue
            x = lbuf[k] / inva[k, m]
            if x > top:
                h = bw[m] * mu[k] * (lcap * LN2 - gcap / x) / LN2
            else:
                h = bw[m] * mu[k] * (math.log(x) - 1.0 + 1.0 / x) / LN2 if x > 1.0 else 0.0
            hbuf[k] = h
            if h > hmax:
                hmax = h
        # log-sum-exp over allowed clients (and the "unused" option h = 0)
        ssum = 0.0 if o >= 0 else math.exp(-hmax / tau)
        for k in range(K):
            if hbuf[k] >= 0.0:
                e = math.exp((hbuf[k] - hmax) / tau)
                ssum += e
                hbuf[k] = e if hbuf[k] > 0.0 else 0.0
            else:
                hbuf[k] = 0.0
        g += hmax + tau * math.log(ssum)
        for k in range(K):
            if hbuf[k] > 0.0:
                x = lbuf[k] / inva[k, m]
                sig = hbuf[k] / ssum
                if x > top:  # the psd is boxed at the cap's
                    dgm[k] += sig * bw[m] * lcap
                    dgp[k] -= sig * bw[m] * gcap * inva[k, m]
                else:
                    dgm[k] += sig * bw[m] * math.log2(x)
                    dgp[k] -= sig * bw[m] * (x - 1.0) * inva[k, m]
    t = _root(mu, c, S, g, False)
    if not t > -math.inf:
        return t
    # implicit differentiation of F(t, z) = sum mu S/(t - c) - G(z) = 0
    dft = 0.0
    for k in range(K):
        d = t - c[k]
        if not d > 0.0:
            return -math.inf
        dft -= mu[k] * S / d / d
    if not dft < 0.0:
        return -math.inf
    for k in range(K):
        d = t - c[k]
        grad[k] = -(mu[k] * (S / d - dgm[k])) / dft
        grad[K + k] = -(-nu[k] * (pmax[k] + dgp[k])) / dft
    if has_lam:
        s = ptot
        for k in range(K):
            s += dgp[k]
        grad[2 * K] = -(-lam * s) / dft
    return t


@kernel
def initial_multipliers(la, inva, bw, fixed, pmax, ptot, lcap=math.inf):
    """Starting log-multipliers ``z`` (2K+1,): each client's water level w_k at
    ``min(p_max, p_total/K)`` over the subchannels it may use, ``mu_k = w_k`` (then every
    power price is 1/ln 2), split evenly between own cap and total cap."""
    K, M = la.shape
    z = np.zeros(2 * K + 1)
    active = np.empty(M, dtype=np.bool_)
    bla = np.empty(M)
    binv = np.empty(M)
    bbw = np.empty(M)
    for k in range(K):
        n = 0
        for m in range(M):
            if fixed[m] < 0 or fixed[m] == k:
                bla[n] = la[k, m]
                binv[n] = inva[k, m]
                bbw[n] = bw[m]
                n += 1
        q = min(pmax[k], ptot / K)
        lw = 0.0
        if n > 0 and q > 0.0:
            _, lv = max_rate_for_power(bla, binv, bbw, n, q, active, lcap)
            lw = math.log(lv)
        z[k] = lw
        z[K + k] = math.log(0.5 / LN2)
    z[2 * K] = math.log(0.5 / LN2)
    return z


@kernel
def total_cap_binds(pmax, ptot):
    """Whether the total cap can bind (``p_total < sum p_max``)."""
    s = 0.0
    for k in range(pmax.shape[0]):
        s += pmax[k]
    return ptot < s


@kernel
def link_dual_bound(la, inva, bw, fixed, c, S, pmax, ptot, z, max_iter, target,
                    lcap=math.inf):
    """Lower bound (s) on the least deadline of any completion of ``fixed`` (and of the
    time-sharing relaxation), from multipliers optimised by BFGS on the smoothed root.

    ``z`` (2K+1,) holds the starting log-multipliers (``initial_multipliers``) and is
    updated to the best ones found. Stops early once the certified bound reaches
    ``target`` (use inf to optimise fully). Returns ``(bound, evaluations)``; the bound
    is ``-inf`` when nothing could be certified. ``lcap``: the spectral-efficiency cap
    (log2(1 + SNR) per subchannel; inf: none).
    """
    K, M = inva.shape
    has_lam = total_cap_binds(pmax, ptot)
    n = 2 * K + 1 if has_lam else 2 * K
    mu = np.empty(K)
    nu = np.empty(K)
    dgm = np.empty(K)
    dgp = np.empty(K)
    hbuf = np.empty(K)
    lbuf = np.empty(K)
    grad = np.zeros(2 * K + 1)
    g_new = np.zeros(2 * K + 1)
    x_new = z.copy()
    best_z = z.copy()
    H = np.eye(n)
    evals = 0
    # certified value at the start
    lam = _unpack(z, K, has_lam, mu, nu)
    best = certified_root(inva, bw, fixed, mu, nu, lam, pmax, ptot, c, S, lcap)
    if best >= target:
        return best, 1
    # smoothing temperature: a fraction of the typical per-subchannel dual term
    g0 = dual_value(inva, bw, fixed, mu, nu, lam, pmax, ptot, lcap)
    it = 0
    for stage in range(3):
        if max_iter >= SNAP_ITER and stage > 0:
            # multipliers that should vanish (a slack cap, a client that is not critical)
            # approach 0 only slowly in log space: try them at 0 (the clamp) directly
            for i in range(n):
                old = z[i]
                z[i] = -ZMAX
                lam = _unpack(z, K, has_lam, mu, nu)
                r = certified_root(inva, bw, fixed, mu, nu, lam, pmax, ptot, c, S, lcap)
                evals += 1
                if r > best:
                    best = r
                    for j in range(n):
                        best_z[j] = z[j]
                else:
                    z[i] = old
            if best >= target:
                break
        tau = max(g0 / M * (1e-2, 1e-4, 1e-7)[stage], 1e-300)
        # iteration budget: a quarter for each smoothing stage, the rest for the last
        stage_end = max_iter if stage == 2 else it + max(max_iter // 4, 1)
        for i in range(n):
            for j in range(n):
                H[i, j] = 1.0 if i == j else 0.0
        # minimise f = -log t (scale-free; t > max c >= 0)
        t0 = _smooth_eval(z, inva, bw, fixed, pmax, ptot, c, S, has_lam, tau, grad, mu, nu,
                          dgm, dgp, hbuf, lbuf, lcap)
        evals += 1
        if not t0 > 0.0:
            break
        f = -math.log(t0)
        for i in range(n):
            grad[i] = -grad[i] / t0
        while it < stage_end:
            it += 1
            # direction d = -H grad
            d = np.zeros(n)
            slope = 0.0
            for i in range(n):
                s = 0.0
                for j in range(n):
                    s -= H[i, j] * grad[j]
                d[i] = s
                slope += s * grad[i]
            if not slope < 0.0:
                for i in range(n):
                    d[i] = -grad[i]
                    for j in range(n):
                        H[i, j] = 1.0 if i == j else 0.0
                slope = 0.0
                for i in range(n):
                    slope -= grad[i] * grad[i]
                if not slope < 0.0:
                    break
            # cap the step length in log space
            dn = 0.0
            for i in range(n):
                dn = max(dn, abs(d[i]))
            step = 1.0 if dn <= STEP_CAP else STEP_CAP / dn
            accepted = False
            fn = f
            for _ in range(30):
                for i in range(n):
                    x_new[i] = min(max(z[i] + step * d[i], -ZMAX), ZMAX)
                tn = _smooth_eval(x_new, inva, bw, fixed, pmax, ptot, c, S, has_lam, tau,
                                  g_new, mu, nu, dgm, dgp, hbuf, lbuf, lcap)
                evals += 1
                fn = -math.log(tn) if tn > 0.0 else math.inf
                if fn <= f + 1e-4 * step * slope and fn < math.inf:
                    accepted = True
                    break
                step *= 0.5
            if not accepted:
                break
            for i in range(n):
                g_new[i] = -g_new[i] / tn
            # certified value at the new point
            lam = _unpack(x_new, K, has_lam, mu, nu)
            r = certified_root(inva, bw, fixed, mu, nu, lam, pmax, ptot, c, S, lcap)
            if r > best:
                best = r
                for i in range(n):
                    best_z[i] = x_new[i]
                if best >= target:
                    break
            # BFGS update of the inverse Hessian
            sy = 0.0
            for i in range(n):
                sy += (x_new[i] - z[i]) * (g_new[i] - grad[i])
            if sy > 1e-300:
                sv = x_new[:n] - z[:n]
                yv = g_new[:n] - grad[:n]
                Hy = H @ yv
                yHy = 0.0
                for i in range(n):
                    yHy += yv[i] * Hy[i]
                for i in range(n):
                    for j in range(n):
                        H[i, j] += ((sy + yHy) / sy * sv[i] * sv[j] / sy
                                    - (Hy[i] * sv[j] + sv[i] * Hy[j]) / sy)
            conv = abs(f - fn) <= 1e-13 * abs(fn)
            # the root is invariant under scaling every multiplier (adding a constant to
            # z): re-centre so that the log rate multipliers average 0
            shift = 0.0
            for k in range(K):
                shift += x_new[k]
            shift /= K
            for i in range(n):
                z[i] = x_new[i] - shift
                grad[i] = g_new[i]
            f = fn
            if best >= target or conv:
                break
        if best >= target:
            break
    for i in range(n):
        z[i] = best_z[i]
    return best, evals
