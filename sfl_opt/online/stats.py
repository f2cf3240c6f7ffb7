"""Statistics of the online learning experiment: Student-t confidence intervals and the
policy labels shared by the experiment's tables and figures."""

from __future__ import annotations

import numpy as np

from .simulate import fmt_v


def t_ci(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(mean, half-width of the 95 % Student-t confidence interval) over ``axis``."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    m = x.mean(axis=axis)
    if n < 2:
        return m, np.full_like(m, np.nan)
    h = stats.t.ppf(0.975, n - 1) * x.std(axis=axis, ddof=1) / np.sqrt(n)
    return m, h


def policy_label(policy: str, V: float | None = None, guard: bool = False) -> str:
    """``lyapunov V=...`` (V in full) or the policy's name, with ``+guard`` when the
    energy guard was on."""
    name = f"lyapunov V={fmt_v(V)}" if policy == "lyapunov" else policy
    return name + (" +guard" if guard else "")


def run_label(run: dict) -> str:
    """:func:`policy_label` of a stored experiment run (``policy``, ``V``,
    ``energy_guard``)."""
    return policy_label(run["policy"], run["V"], bool(run.get("energy_guard", False)))
