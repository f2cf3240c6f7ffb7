"""Water-filling for one client over its own subchannels.

Inputs use normalised gains: ``la = log2(gain / noise_psd)`` and ``inva = noise_psd / gain``
(W/Hz), and bandwidths ``bw`` (Hz). The psd on a subchannel at water level ``w`` (W/Hz) is
``(w - inva)^+``; its rate is ``bw * log2(w / inva)`` when positive.

Spectral-efficiency cap (truncated Shannon, 3GPP TR 36.942 Annex A): with ``lcap`` finite a
subchannel's rate is ``bw * min(log2(1 + psd / inva), lcap)``. Power beyond the cap is
wasted, so the psd is boxed: ``psd = clip(w - inva, 0, (2^lcap - 1) inva)`` (*box-
constrained water-filling*, the KKT conditions of the capped problem with one level w).
The capped solvers saturate subchannels iteratively: the uncapped level on the
non-saturated set is never above the capped optimum's level (the capped rate is below
the uncapped one: minimum power for a rate), resp. never above it (the saturated power
is freed: maximum rate for a power), so every subchannel above its cap at that level is
saturated at the optimum; fix it at its cap and re-solve the rest from scratch.

Both solvers drop weak subchannels iteratively from the full set. This is exact: for any
set A that contains the optimal active set, the level computed on A is never above
(power problem) / never below (rate problem) the optimal level, so a subchannel
dropped by the test is inactive at the optimum, and when nothing is dropped the
level satisfies the KKT conditions (see docs/model.md).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel


@kernel
def min_power_for_rate(la, inva, bw, n, rate, active, lcap=math.inf):
    """Minimum total power (W) reaching ``rate`` bit/s over the first ``n`` subchannels.

    Returns ``(power, level)``; ``level`` is the water level w (W/Hz). ``active`` is a
    boolean scratch array of length >= n. A rate <= 0 needs no power (level 0). A rate
    beyond floating-point range, or beyond ``lcap * sum(bw)`` with the spectral-efficiency
    cap ``lcap`` (log2(1 + SNR) per subchannel, module doc), returns ``inf`` power.
    """
    if rate <= 0.0:
        return 0.0, 0.0
    if lcap < math.inf:
        return _min_power_capped(la, inva, bw, n, rate, active, lcap)
    for i in range(n):
        active[i] = True
    lw = 0.0
    while True:
        sbw = 0.0
        sl = 0.0
        for i in range(n):
            if active[i]:
                sbw += bw[i]
                sl += bw[i] * la[i]
        lw = (rate - sl) / sbw
        changed = False
        for i in range(n):
            if active[i] and lw + la[i] <= 0.0:
                active[i] = False
                changed = True
        if not changed:
            break
    if lw > 1000.0:
        return math.inf, math.inf
    w = 2.0 ** lw
    power = 0.0
    for i in range(n):
        if active[i]:
            power += bw[i] * (w - inva[i])
    return power, w


@kernel
def max_rate_for_power(la, inva, bw, n, power, active, lcap=math.inf):
    """Maximum rate (bit/s) with total power ``power`` W over the first ``n`` subchannels.

    Returns ``(rate, level)``. ``active`` is a boolean scratch array of length >= n.
    ``lcap``: the spectral-efficiency cap (module doc); when the power saturates every
    subchannel the rate is ``lcap * sum(bw)`` and the level the least one saturating all.
    """
    if power <= 0.0:
        return 0.0, 0.0
    if lcap < math.inf:
        return _max_rate_capped(la, inva, bw, n, power, active, lcap)
    for i in range(n):
        active[i] = True
    w = 0.0
    while True:
        sbw = 0.0
        sinv = 0.0
        for i in range(n):
            if active[i]:
                sbw += bw[i]
                sinv += bw[i] * inva[i]
        if sbw == 0.0:
            return _faded_rate(inva, bw, n, power)
        w = (power + sinv) / sbw
        changed = False
        for i in range(n):
            if active[i] and w <= inva[i]:
                active[i] = False
                changed = True
        if not changed:
            break
    lw = math.log2(w)
    rate = 0.0
    for i in range(n):
        if active[i]:
            rate += bw[i] * (lw + la[i])
    return rate, w


@kernel
def _min_power_capped(la, inva, bw, n, rate, active, lcap):
    """:func:`min_power_for_rate` with the cap ``lcap`` (finite): saturation rounds."""
    total = 0.0
    for i in range(n):
        total += bw[i]
    if rate > lcap * total * (1.0 + 1e-13):  # (a relative rounding margin: saturate all)
        return math.inf, math.inf
    sat = np.zeros(n, dtype=np.bool_)
    rsat = 0.0  # rate of the saturated subchannels, bit/s
    lw = -math.inf
    while True:
        rr = rate - rsat
        n_act = 0
        for i in range(n):
            active[i] = not sat[i]
            if active[i]:
                n_act += 1
        if rr <= 0.0 or n_act == 0:
            # the saturated subchannels already carry the rate (up to rounding)
            for i in range(n):
                active[i] = False
            lw = -math.inf
            for i in range(n):
                if sat[i] and lcap - la[i] > lw:
                    lw = lcap - la[i]
            break
        sbw = 1.0
        while True:  # uncapped water-filling on the non-saturated set
            sbw = 0.0
            sl = 0.0
            for i in range(n):
                if active[i]:
                    sbw += bw[i]
                    sl += bw[i] * la[i]
            if sbw == 0.0:  # rounding dropped every one: rr is below the last digit
                break
            lw = (rr - sl) / sbw
            changed = False
            for i in range(n):
                if active[i] and lw + la[i] <= 0.0:
                    active[i] = False
                    changed = True
            if not changed:
                break
        if sbw == 0.0:
            lw = -math.inf
            for i in range(n):
                if sat[i] and lcap - la[i] > lw:
                    lw = lcap - la[i]
            break
        changed = False
        for i in range(n):
            if active[i] and lw + la[i] > lcap:
                sat[i] = True
                rsat += bw[i] * lcap
                changed = True
        if not changed:
            break
    if lw > 1000.0:
        return math.inf, math.inf
    w = 2.0 ** lw
    g = 2.0 ** lcap - 1.0
    power = 0.0
    for i in range(n):
        if sat[i]:
            power += bw[i] * g * inva[i]
        elif active[i]:
            power += bw[i] * (w - inva[i])
    return power, w


@kernel
def _max_rate_capped(la, inva, bw, n, power, active, lcap):
    """:func:`max_rate_for_power` with the cap ``lcap`` (finite): saturation rounds."""
    sat = np.zeros(n, dtype=np.bool_)
    g = 2.0 ** lcap - 1.0
    top = 2.0 ** lcap  # saturated iff w >= top * inva
    psat = 0.0  # power of the saturated subchannels, W
    w = 0.0
    while True:
        pp = power - psat
        n_act = 0
        for i in range(n):
            active[i] = not sat[i]
            if active[i]:
                n_act += 1
        if pp <= 0.0 or n_act == 0:
            for i in range(n):
                active[i] = False
            w = 0.0
            for i in range(n):
                if sat[i] and top * inva[i] > w:
                    w = top * inva[i]
            break
        sbw = 1.0
        while True:  # uncapped water-filling on the non-saturated set
            sbw = 0.0
            sinv = 0.0
            for i in range(n):
                if active[i]:
                    sbw += bw[i]
                    sinv += bw[i] * inva[i]
            if sbw == 0.0:  # rounding dropped every one: pp is below the last digit
                break
            w = (pp + sinv) / sbw
            changed = False
            for i in range(n):
                if active[i] and w <= inva[i]:
                    active[i] = False
                    changed = True
            if not changed:
                break
        if sbw == 0.0:
            w = 0.0
            for i in range(n):
                if sat[i] and top * inva[i] > w:
                    w = top * inva[i]
            if w == 0.0:  # nothing saturated: the power is lost in inva's rounding
                r, wf = _faded_rate(inva, bw, n, pp)
                return r, wf
            break
        changed = False
        for i in range(n):
            if active[i] and w > top * inva[i]:
                sat[i] = True
                psat += bw[i] * g * inva[i]
                changed = True
        if not changed:
            break
    rate = 0.0
    lw = math.log2(w) if w > 0.0 else 0.0
    for i in range(n):
        if sat[i]:
            rate += bw[i] * lcap
        elif active[i]:
            rate += bw[i] * (lw + la[i])
    return rate, w


@kernel
def _faded_rate(inva, bw, n, power):
    """``(rate, level)`` when ``power`` is lost in the rounding of every subchannel's
    ``inva`` (deeply faded subchannels: ``power / bw`` below ``inva``'s last digit): all
    the power on the best subchannel, its rate ``bw log2(1 + power / (bw inva))`` by
    ``log1p`` (tiny but positive, so the client's delay is huge, not a division by 0)."""
    j = 0
    for i in range(1, n):
        if inva[i] < inva[j]:
            j = i
    rate = bw[j] * math.log1p(power / (bw[j] * inva[j])) / math.log(2.0)
    if not rate > 0.0:
        rate = 5e-324  # the smallest positive float: an enormous, finite delay
    return rate, inva[j] + power / bw[j]


@kernel
def psd_at_level(inva, level, out, lcap=math.inf):
    """Fill ``out`` with the water-filling psd ``(level - inva)^+`` (W/Hz), boxed at the
    cap's psd ``(2^lcap - 1) inva`` when the spectral-efficiency cap ``lcap`` is finite."""
    g = 2.0 ** lcap - 1.0 if lcap < math.inf else math.inf
    for i in range(inva.shape[0]):
        x = level - inva[i]
        x = x if x > 0.0 else 0.0
        cap = g * inva[i]
        out[i] = x if x < cap else cap


@kernel
def capped_psd(psd, inva, lcap):
    """The psd (W/Hz) clipped at the cap's psd ``(2^lcap - 1) inva``: power beyond the
    spectral-efficiency cap is wasted (``lcap = inf`` leaves it unchanged)."""
    if not lcap < math.inf:
        return psd
    g = 2.0 ** lcap - 1.0
    return min(psd, g * inva)


def normalise(gain: np.ndarray, noise_psd: float) -> tuple[np.ndarray, np.ndarray]:
    """``(log2(gain / noise_psd), noise_psd / gain)`` as contiguous float arrays."""
    g = np.asarray(gain, dtype=float)
    return np.ascontiguousarray(np.log2(g / noise_psd)), np.ascontiguousarray(noise_psd / g)
