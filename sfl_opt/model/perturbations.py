"""What a replay perturbs (:class:`Perturbations`) and availability traces
(:func:`load_trace`): the data of :mod:`sfl_opt.replay` and of robust planning
(``solve(problem, fading="saa", perturbations=...)``, :mod:`sfl_opt.methods.saa`).

Units: s; probabilities in [0, 1).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validation as v
from .._io import write_text
from ..errors import ValidationError


@dataclass(frozen=True)
class Perturbations:
    """What the replay perturbs (module docstring); all off by default."""

    rho: float | None = None
    jitter: float = 0.0
    straggler_prob: float = 0.0
    straggler_slowdown: float = 1.0
    dropout: float = 0.0
    trace: Mapping[int, Sequence[tuple[float, float]]] | None = None
    large_scale: Mapping[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.rho is not None:
            r = v.scalar("rho", self.rho)
            if not 0.0 <= r <= 1.0:
                raise ValidationError("rho", "None or a correlation in [0, 1]", self.rho)
        v.scalar("jitter", self.jitter, nonnegative=True)
        for name in ("straggler_prob", "dropout"):
            x = v.scalar(name, getattr(self, name))
            if not 0.0 <= x < 1.0:
                raise ValidationError(name, "a probability in [0, 1)", x)
        if v.scalar("straggler_slowdown", self.straggler_slowdown) < 1.0:
            raise ValidationError("straggler_slowdown", "a factor >= 1",
                                  self.straggler_slowdown)
        if self.trace is not None and self.dropout > 0:
            raise ValidationError("trace", "None when dropout > 0 (one availability model)",
                                  "a trace")

    @property
    def any(self) -> bool:
        """True when something is perturbed."""
        return (self.rho is not None or self.jitter > 0 or self.straggler_prob > 0
                or self.dropout > 0 or self.trace is not None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["trace"] = None if self.trace is None else {
            str(k): [list(x) for x in iv] for k, iv in self.trace.items()}
        d["large_scale"] = None if self.large_scale is None else "given"
        return d


def load_trace(path: str | Path, clients: int) -> dict[int, list[tuple[float, float]]]:
    """An availability trace from a JSON file.

    Format: ``{"sfl_opt_trace": 1, "on": {"0": [[start, end], ...], "3": [...]}}`` —
    for each client (index as a string) its **on**-intervals ``[start, end)`` in
    virtual seconds from the start of training, sorted, non-overlapping, ``0 <= start <
    end`` (``end`` may be ``"inf"``). A client not listed is always available; after its
    last interval a listed client is off for good. Errors name the client and interval.
    """
    data = v.json_text("trace", Path(path).read_text())
    if not isinstance(data, dict) or data.get("sfl_opt_trace") != 1 or not isinstance(
            data.get("on"), dict):
        raise ValidationError("trace", 'a JSON object {"sfl_opt_trace": 1, "on": {client: '
                              "[[start, end], ...]}}", str(path))
    return validate_trace(data["on"], clients)


def validate_trace(on: Mapping[Any, Any], clients: int) -> dict[int, list[tuple[float, float]]]:
    """The trace mapping (client -> on-intervals) checked (see :func:`load_trace`)."""
    out: dict[int, list[tuple[float, float]]] = {}
    for key, ivs in on.items():
        try:
            k = int(key)
        except (TypeError, ValueError):
            raise ValidationError("trace", "client indices as keys", key) from None
        if not 0 <= k < clients:
            raise ValidationError("trace", f"client indices in 0..{clients - 1}", k)
        last = -math.inf
        clean = []
        for i, iv in enumerate(ivs):
            try:
                a, b = (float(x) for x in iv)
            except (TypeError, ValueError):
                raise ValidationError(f"trace[{k}][{i}]", "a [start, end] pair of seconds",
                                      iv) from None
            if not (0 <= a < b) or math.isnan(a) or math.isnan(b) or a < last:
                raise ValidationError(f"trace[{k}][{i}]", "0 <= start < end, intervals "
                                      "sorted and not overlapping", [a, b])
            last = b
            clean.append((a, b))
        out[k] = clean
    return out


def available(trace: Mapping[int, Sequence[tuple[float, float]]], k: int, t: float) -> bool:
    if k not in trace:
        return True
    return any(a <= t < b for a, b in trace[k])


def next_all_on(trace: Mapping[int, Sequence[tuple[float, float]]], K: int,
                 t: float) -> float:
    """The first instant >= t at which every client is on (inf if never)."""
    cands = sorted({t, *(a for ivs in trace.values() for a, _ in ivs if a >= t)})
    for c in cands:
        if all(available(trace, k, c) for k in range(K)):
            return c
    return math.inf


def save_trace(path: str | Path, on: Mapping[int, Sequence[tuple[float, float]]]) -> None:
    """Write an availability trace in the format of :func:`load_trace`."""
    write_text(path, json.dumps({"sfl_opt_trace": 1, "on": {
        str(k): [[a, "inf" if math.isinf(b) else b] for a, b in iv] for k, iv in on.items()}},
        indent=1))


def draw_multipliers(pert: Perturbations, rng_jitter: np.random.Generator,
                     rng_straggler: np.random.Generator, K: int) -> np.ndarray:
    """(K,) compute-time multipliers of one round: lognormal jitter times the straggler
    slowdown where a straggler is drawn."""
    mult = np.ones(K)
    if pert.jitter > 0:
        mult = mult * np.exp(pert.jitter * rng_jitter.normal(size=K))
    if pert.straggler_prob > 0:
        slow = rng_straggler.random(K) < pert.straggler_prob
        mult = np.where(slow, mult * pert.straggler_slowdown, mult)
    return mult


__all__ = ["Perturbations", "available", "draw_multipliers", "load_trace", "next_all_on",
           "save_trace", "validate_trace"]
