"""Exact uplink bandwidth split for a fixed set of devices, and the minimum bandwidth
that meets a deadline (SPEC §4).

Device k with ``snr_bw`` a_k = p_k g_k / N0 (Hz) has the rate
r_k(b) = b log2(1 + a_k / b) bit/s (concave increasing in b, r_k(b) < a_k / ln 2) and
the per-round energy E_k(b) = e_k + p_k S_k / r_k(b) J (convex decreasing in b).
The Numba kernels are in :mod:`sfl_opt.kernels.online`.

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
from .._records import ArrayRecord
from ..errors import ValidationError
from ..kernels.online import energy_kernel, refine_logx, refine_x, split_kernel

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
    refine_x(np.ascontiguousarray(delta), np.ascontiguousarray(x0), x)
    out[near] = a[near] / x
    with np.errstate(divide="ignore"):
        logc = np.log(rate_ln2[far]) - np.log(a[far])
    u = np.empty(logc.size)
    refine_logx(np.ascontiguousarray(logc), u)
    out[far] = np.exp(np.log(a[far]) - u)
    return out


# ------------------------------------------------------------------ Python API
@dataclass(frozen=True)
class Split(ArrayRecord):
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
    cost = float(np.sum(w * energy_kernel(a, s, p, e, out)))
    return Split(bandwidth=out, price=float(price), cost=cost)
