"""Block fading of the allocated links (SPEC §8.4): the small-scale fading redrawn every
training round, the large-scale gains fixed (or moved by a simple mobility model).

Model. Client k's gain on subchannel m of link ``l`` in round t is
``G_l[k] * |h_t[k, m]|^2``: ``G_l`` the large-scale gain (path loss and shadowing,
linear) and ``h_t`` a unit-power complex Gaussian (Rayleigh, ``|h|^2 ~ Exp(1)``) that
follows a first-order Gauss-Markov process across rounds,

    h_t = rho h_{t-1} + sqrt(1 - rho^2) w_t,   w_t ~ CN(0, 1) i.i.d.,

so ``rho = 0`` is i.i.d. block fading (one coherence time per round or shorter) and
``rho = 1`` holds the first draw for the whole run (the first edition's assumption).
Under Jakes' model ``rho = J0(2 pi f_D T_round)`` for a Doppler shift ``f_D`` (Hz) and a
round of ``T_round`` s. Round 0 is the problem's own gains: ``|h_0|^2 = gain / G`` with a
uniform random phase. The fixed-rate downlink (``rate_down``) is not faded.

Mobility (optional): each client's distance to the base station takes a reflected
Gaussian random walk of ``step`` m per round within ``[r_min, r_max]``; its large-scale
gains follow the path loss (the shadowing stays).

Large-scale gains: exact from the scenario (:func:`sfl_opt.model.scenario.large_scale_gains`)
or estimated from a problem by :func:`estimate_large_scale` (the mean gain of each
client over the link's subchannels: an unbiased estimate of ``G`` under Rayleigh fading).
Units: gains linear, distances m.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from .. import _validation as v
from ..errors import ValidationError
from .channel import path_loss_db
from .problem import Problem

#: the faded links and the Problem field of each one's gains
GAIN_FIELDS = {"s": "gain_s", "f": "gain_f", "d": "gain_d"}


def faded_links(problem: Problem) -> tuple[str, ...]:
    """The links whose gains are faded: ``("s", "f")``, plus ``"d"`` with an allocated
    downlink."""
    return ("s", "f") if problem.gain_d is None else ("s", "f", "d")


def estimate_large_scale(problem: Problem) -> dict[str, np.ndarray]:
    """(K,) large-scale gain per faded link: the mean over the link's subchannels."""
    return {n: np.asarray(getattr(problem, GAIN_FIELDS[n]), float).mean(axis=1)
            for n in faded_links(problem)}


class GaussMarkovFading:
    """The per-round gains of a problem's faded links (module docstring).

    ``large``: link -> (K,) large-scale gains (default :func:`estimate_large_scale`);
    ``rho`` in [0, 1]; ``rng`` draws the phases of round 0, the innovations and the
    walk; ``distance`` (K,) m, ``step`` m per round, ``r_min``/``r_max`` m: mobility
    (``step = 0``: none). Iterate with :meth:`next` (round 0 first).
    """

    def __init__(self, problem: Problem, rho: float, rng: np.random.Generator,
                 large: Mapping[str, np.ndarray] | None = None,
                 distance: np.ndarray | None = None, step: float = 0.0,
                 r_min: float = 50.0, r_max: float = 500.0) -> None:
        rho = v.scalar("rho", rho)
        if not 0.0 <= rho <= 1.0:
            raise ValidationError("rho", "a correlation coefficient in [0, 1]", rho)
        step = v.scalar("step", step)
        if step < 0:
            raise ValidationError("step", "a mobility step >= 0 m per round", step)
        links = faded_links(problem)
        large = estimate_large_scale(problem) if large is None else dict(large)
        missing = [n for n in links if n not in large]
        if missing:
            raise ValidationError("large", f"a large-scale gain (K,) for each link {links}",
                                  f"missing {missing}")
        self.problem, self.rho, self.rng, self.step = problem, rho, rng, step
        self.large = {n: v.float_array(f"large[{n}]", large[n], shape=(problem.K,),
                                       positive=True) for n in links}
        if step > 0:
            if distance is None:
                raise ValidationError("distance", "client distances (K,) m for mobility",
                                      None)
            self.d0 = v.float_array("distance", distance, shape=(problem.K,), positive=True)
            self.dist = self.d0.copy()
            self.r_min, self.r_max = float(r_min), float(r_max)
        self.h: dict[str, np.ndarray] | None = None
        self.round = 0

    def _large_now(self, name: str) -> np.ndarray:
        if self.step == 0:
            return self.large[name]
        # path loss of the moved distance relative to the initial one (shadowing kept)
        return self.large[name] * 10.0 ** (-(path_loss_db(self.dist) - path_loss_db(self.d0))
                                           / 10.0)

    def next(self) -> dict[str, np.ndarray]:
        """The gains (link -> (K, n) linear) of the next round."""
        if self.h is None:
            self.h = {}
            for n, g in self.large.items():
                gain = np.asarray(getattr(self.problem, GAIN_FIELDS[n]), float)
                phase = self.rng.uniform(0.0, 2.0 * np.pi, size=gain.shape)
                self.h[n] = np.sqrt(gain / g[:, None]) * np.exp(1j * phase)
        else:
            a, b = self.rho, np.sqrt(max(0.0, 1.0 - self.rho ** 2))
            for n, h in self.h.items():
                w = (self.rng.normal(size=h.shape) + 1j * self.rng.normal(size=h.shape)) \
                    / np.sqrt(2.0)
                self.h[n] = a * h + b * w
            if self.step > 0:
                d = self.dist + self.step * self.rng.normal(size=self.dist.shape)
                span = self.r_max - self.r_min
                d = np.abs((d - self.r_min) % (2 * span))  # reflect into [r_min, r_max]
                self.dist = self.r_min + np.where(d > span, 2 * span - d, d)
        self.round += 1
        return {n: self._large_now(n)[:, None] * np.abs(h) ** 2 for n, h in self.h.items()}


def iid_samples(problem: Problem, samples: int, rng: np.random.Generator,
                large: Mapping[str, np.ndarray] | None = None) -> list[dict[str, np.ndarray]]:
    """``samples`` independent rounds of gains (link -> (K, n)): the large-scale gains
    times fresh Rayleigh fading (the stationary law of :class:`GaussMarkovFading`)."""
    return list(iter_samples(problem, samples, rng, large))


def iter_samples(problem: Problem, samples: int, rng: np.random.Generator,
                 large: Mapping[str, np.ndarray] | None = None
                 ) -> Iterator[dict[str, np.ndarray]]:
    """:func:`iid_samples` one round at a time (the same rounds from the same ``rng``):
    a caller that stops early draws no more."""
    samples = v.positive_int("samples", samples)
    large = estimate_large_scale(problem) if large is None else dict(large)
    for _ in range(samples):
        yield {n: np.asarray(large[n], float)[:, None]
               * rng.exponential(1.0, size=getattr(problem, GAIN_FIELDS[n]).shape)
               for n in faded_links(problem)}


def with_gains(problem: Problem, gains: Mapping[str, np.ndarray]) -> Problem:
    """A copy of ``problem`` with the gains of some links replaced (link -> (K, n)):
    :meth:`Problem.with_gains` (the gains checked, the rest shared, not re-validated)."""
    unknown = sorted(set(gains) - set(GAIN_FIELDS))
    if unknown:
        raise ValidationError("gains", f"links among {sorted(GAIN_FIELDS)}", unknown)
    return problem.with_gains(**{GAIN_FIELDS[n]: g for n, g in gains.items()})


__all__ = ["GAIN_FIELDS", "GaussMarkovFading", "estimate_large_scale", "faded_links",
           "iid_samples", "iter_samples", "with_gains"]
