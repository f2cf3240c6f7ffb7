"""The ``native`` power backend: exact bisection on the deadline with water-filling (Numba)."""

from __future__ import annotations

import time

import numpy as np

from ..kernels import normalise, power_control
from ..kernels.power import STATUS_OK
from ..status import Status, Termination, TerminationReason
from .base import NO_SUBCHANNEL, PowerBackend, PowerSolution, PowerSubproblem


class NativeBackend(PowerBackend):
    """Exact power control without a solver: for a deadline t each client's least power
    is water-filling over its subchannels; t is bisected to relative tolerance ``rtol``."""

    name = "native"
    description = "exact bisection on the deadline + water-filling (Numba kernels)"
    requires = ("numba",)
    capabilities = frozenset({"exact", "jit", "bound", "kernel"})

    def __init__(self, rtol: float = 1e-12) -> None:
        if not 0 < rtol < 1:
            raise ValueError(f"rtol: expected a number in (0, 1), got {rtol!r}")
        self.rtol = float(rtol)
        if self.rtol != 1e-12:  # not the tolerance the methods' kernels search with
            self.capabilities = type(self).capabilities - {"kernel"}

    def solve(self, sub: PowerSubproblem) -> PowerSolution:
        t0 = time.perf_counter()
        la, inva = normalise(sub.gain, sub.noise_psd)
        t, psd, status, iters = power_control(
            la, inva, np.ascontiguousarray(sub.bw, dtype=float),
            np.ascontiguousarray(sub.assign, dtype=np.int64),
            np.ascontiguousarray(sub.c, dtype=float), float(sub.S),
            np.ascontiguousarray(sub.p_max, dtype=float), float(sub.p_total), self.rtol,
            float(sub.lcap))
        elapsed = time.perf_counter() - t0
        if status != STATUS_OK:
            return PowerSolution(np.inf, psd, Status.ERROR, NO_SUBCHANNEL, int(iters), elapsed)
        achieved, violation = sub.check(psd)
        # the root search brackets the optimum: t (1 - rtol) is not above it
        return PowerSolution(achieved, psd, Status.OPTIMAL,
                             Termination(TerminationReason.OPTIMAL), int(iters), elapsed,
                             bound=t * (1 - self.rtol), violation=violation)
