"""Water-filling for one client over its own subchannels.

Inputs use normalised gains: ``la = log2(gain / noise_psd)`` and ``inva = noise_psd / gain``
(W/Hz), and bandwidths ``bw`` (Hz). The psd on a subchannel at water level ``w`` (W/Hz) is
``(w - inva)^+``; its rate is ``bw * log2(w / inva)`` when positive.

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
def min_power_for_rate(la, inva, bw, n, rate, active):
    """Minimum total power (W) reaching ``rate`` bit/s over the first ``n`` subchannels.

    Returns ``(power, level)``; ``level`` is the water level w (W/Hz). ``active`` is a
    boolean scratch array of length >= n. A rate <= 0 needs no power (level 0). A rate
    beyond floating-point range returns ``inf`` power.
    """
    if rate <= 0.0:
        return 0.0, 0.0
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
def max_rate_for_power(la, inva, bw, n, power, active):
    """Maximum rate (bit/s) with total power ``power`` W over the first ``n`` subchannels.

    Returns ``(rate, level)``. ``active`` is a boolean scratch array of length >= n.
    """
    if power <= 0.0:
        return 0.0, 0.0
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
def psd_at_level(inva, level, out):
    """Fill ``out`` with the water-filling psd ``(level - inva)^+`` (W/Hz)."""
    for i in range(inva.shape[0]):
        x = level - inva[i]
        out[i] = x if x > 0.0 else 0.0


def normalise(gain: np.ndarray, noise_psd: float) -> tuple[np.ndarray, np.ndarray]:
    """``(log2(gain / noise_psd), noise_psd / gain)`` as contiguous float arrays."""
    g = np.asarray(gain, dtype=float)
    return np.ascontiguousarray(np.log2(g / noise_psd)), np.ascontiguousarray(noise_psd / g)
