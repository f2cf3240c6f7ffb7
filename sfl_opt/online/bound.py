"""The convergence bound of the online scheduler: the penalty Ψ(N), the round weights,
and the fit of its constants to measured loss curves.

Under L-smoothness, the PL condition (μ), one SGD step of size η per round on the
average of N participants' minibatch gradients (batch b, per-sample variance σ²,
gradient dissimilarity δ², N of K devices sampled without replacement)::

    gap_{t+1} ≤ ρ·gap_t + Ψ(N_t),   ρ = 1 − μη
    Ψ(N) = (L η² / 2) · ( σ² / (b N) + δ² (K − N) / (N (K − 1)) ),   N ≥ 1
    Ψ(0) = μ η Δ0            (an idle round forfeits the contraction μη·gap ≤ μη·Δ0)
    gap_T ≤ ρ^T Δ0 + Σ_t w_t Ψ(N_t),   w_t = ρ^(T−1−t)

Units: Ψ and the gap in loss units; the other constants as in
:class:`~.problem.OnlineProblem`. See docs/online.md §2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ValidationError


def psi_values(n: np.ndarray, K: int, batch: int, L: float, mu: float, eta: float,
               sigma2: float, delta2: float, gap0: float) -> np.ndarray:
    """Ψ(n) (loss units) for participant counts ``n`` (no range check; see the module
    doc for the formula)."""
    n = np.asarray(n, dtype=float)
    safe = np.maximum(n, 1.0)
    het = delta2 * (K - safe) / (safe * (K - 1)) if K > 1 else np.zeros_like(safe)
    active = 0.5 * L * eta**2 * (sigma2 / (batch * safe) + het)
    return np.where(n >= 1, active, mu * eta * gap0)


def round_weights(rho: float, rounds: int) -> np.ndarray:
    """(rounds,) weights w_t = ρ^(T−1−t) of the bound after T = ``rounds`` rounds."""
    t = np.arange(rounds)
    return rho ** (rounds - 1 - t)


# ------------------------------------------------------------------ calibration
@dataclass(frozen=True)
class BoundFit:
    """Constants of the one-round recursion fitted to measured loss curves.

    Ψ(N) is affine in 1/N: Ψ(N) = α/N − c/(K−1) with α = Lη²/2·(σ²/b + δ²K/(K−1)) and
    c = Lη²δ²/2, so a loss curve identifies ρ, α and one constant, not σ² and δ²
    apart (the constant −c/(K−1) merges with (1 − ρ)F*). The model fitted is::

        loss_{t+1} = ρ·loss_t + γ + α / N_t          (rounds with N_t ≥ 1)

    ``rho`` ρ, ``alpha`` α (loss units), ``gamma`` γ (loss units). Ψ differences are
    identified: Ψ(N) − Ψ(K) = α (1/N − 1/K). ``floor`` = (γ + α/K)/(1 − ρ) is the loss
    the recursion settles at with every device every round. ``residual_rms`` and
    ``residual_max`` are the one-step residuals (loss units), ``r2`` the share of the
    variance of the one-step *decrease* loss_t − loss_{t+1} explained, ``rows`` the
    number of transitions.
    """

    rho: float
    alpha: float
    gamma: float
    K: int
    residual_rms: float
    residual_max: float
    r2: float
    rows: int

    def psi_excess(self, n: np.ndarray | int) -> np.ndarray:
        """Ψ(N) − Ψ(K) = α (1/N − 1/K) for N ≥ 1 (loss units)."""
        nn = np.maximum(np.asarray(n, dtype=float), 1.0)
        return self.alpha * (1.0 / nn - 1.0 / self.K)

    @property
    def floor(self) -> float:
        """(γ + α/K)/(1 − ρ): the fixed point with N = K every round (loss units)."""
        return (self.gamma + self.alpha / self.K) / (1.0 - self.rho) if self.rho != 1 \
            else float("nan")

    @property
    def horizon(self) -> float:
        """1 / (1 − ρ): the number of recent rounds that carry most of the weight."""
        return float(np.inf) if self.rho >= 1 else 1.0 / (1.0 - self.rho)


def fit_bound(curves: Sequence[np.ndarray], counts: Sequence[np.ndarray], K: int) -> BoundFit:
    """Least-squares fit of :class:`BoundFit` to loss curves.

    ``curves[i]`` (T_i + 1,) losses before and after each round of run i, ``counts[i]``
    (T_i,) its participants per round. Rounds with N = 0 are left out (the model
    leaves the loss unchanged there). The recursion is linear in (ρ, γ, α), solved by
    ``numpy.linalg.lstsq`` over every transition of every run.
    """
    if len(curves) != len(counts) or not curves:
        raise ValidationError("curves", "one count array per loss curve (at least one)",
                              f"{len(curves)} curves, {len(counts)} count arrays")
    X, y = [], []
    for loss, n in zip(curves, counts, strict=True):
        loss = np.asarray(loss, dtype=float)
        n = np.asarray(n, dtype=float)
        if loss.shape != (n.size + 1,):
            raise ValidationError("curves", "T + 1 losses for T rounds",
                                  f"{loss.size} losses, {n.size} rounds")
        ok = n >= 1
        nn = np.maximum(n, 1.0)
        X.append(np.column_stack([loss[:-1], np.ones(n.size), 1.0 / nn])[ok])
        y.append(loss[1:][ok])
    A = np.vstack(X)
    b = np.concatenate(y)
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    rho, gamma, alpha = (float(x) for x in coef)
    resid = b - A @ coef
    dec = A[:, 0] - b
    ss = float(np.sum((dec - dec.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss if ss > 0 else float("nan")
    return BoundFit(rho=rho, alpha=alpha, gamma=gamma, K=int(K),
                    residual_rms=float(np.sqrt(np.mean(resid**2))),
                    residual_max=float(np.max(np.abs(resid))), r2=r2, rows=int(b.size))
