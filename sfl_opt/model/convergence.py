"""Convergence models: local iterations (and rounds) to the target quality per rank and I.

A :class:`ConvergenceModel` answers ``iterations(rank, I, split=None)``: the number of
local iterations (SGD steps of every client; one iteration = one batch of ``b`` samples
per client) split federated LoRA training at LoRA rank ``rank`` with ``I`` local
iterations per round needs to reach the target quality; ``rounds = iterations / I``
(fractional rounds). Three kinds (docs/model.md §4 has the equations):

- :class:`Table`: a measured table ``n(r, I)``, interpolated linearly in
  ``(ln I, ln n)`` between measured I; beyond the measured I it is extrapolated with
  the drift factor of a fitted :class:`PowerLaw` (or, without one, held at the edge's
  iterations) and *flagged* (:meth:`Table.extrapolated`, :meth:`Table.note`), never
  clamped in rounds;
- :class:`PowerLaw`: per rank ``L(n) = L_inf(r) + a(r) (n + n0)^-beta`` for I = 1 and a
  client-drift factor ``n(eps, r, I) = n(eps, r, 1) (1 + c (I - 1))``, fitted by
  :meth:`PowerLaw.fit` with residuals and confidence intervals;
- :class:`Callable`: a user-supplied function ``(rank, I, split) -> iterations``.

Every model has a ``scale`` (dimensionless): the measured (proxy) iterations are
multiplied by it to give the iterations of the real task (docs/profiles.md states the
calibration of the bundled profile). ``to_dict``/:func:`from_dict` round-trip Table and
PowerLaw through JSON (a Callable cannot be written).
"""

from __future__ import annotations

import math
from collections.abc import Callable as _Fn
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import ValidationError

__all__ = ["Callable", "ConvergenceModel", "FitReport", "PowerLaw", "Table", "from_dict"]


def _rank(rank: Any) -> int:
    return v.positive_int("rank", int(rank) if isinstance(rank, (np.integer,)) else rank)


def _iters(local_iters: Any) -> int:
    if isinstance(local_iters, np.integer):
        local_iters = int(local_iters)
    return v.positive_int("local_iters", local_iters)


class ConvergenceModel:
    """Base class: ``iterations(rank, I, split=None)`` and ``rounds = iterations / I``."""

    kind = "base"
    scale: float = 1.0
    #: True for the one-column table built from a problem's ``rounds`` (Table.from_rounds)
    derived: bool = False

    def _proxy_iterations(self, rank: int, local_iters: int, split: int | None) -> float:
        raise NotImplementedError

    def iterations(self, rank: int, local_iters: int, split: int | None = None) -> float:
        """Local iterations to the target at ``rank`` with ``local_iters`` per round
        (count, > 0, real-task scale: the model's iterations times ``scale``)."""
        r, i = _rank(rank), _iters(local_iters)
        if split is not None:
            split = v.positive_int("split", split)
        n = float(self._proxy_iterations(r, i, split)) * self.scale
        if not (math.isfinite(n) and n > 0):
            raise ValidationError("convergence", f"a positive finite iteration count at rank "
                                  f"{r}, I={i}", n)
        return n

    def rounds(self, rank: int, local_iters: int, split: int | None = None) -> float:
        """Fractional rounds to the target: ``iterations(rank, I) / I``."""
        return self.iterations(rank, local_iters, split) / _iters(local_iters)

    def rounds_for(self, ranks: Any, local_iters: int, split: int | None = None
                   ) -> np.ndarray:
        """``rounds`` for each of ``ranks`` (array, same order)."""
        return np.array([self.rounds(int(r), local_iters, split) for r in np.ravel(ranks)])

    def extrapolated(self, rank: int, local_iters: int) -> bool:
        """True when ``(rank, I)`` lies outside what the model was measured on."""
        return False

    def note(self, rank: int, local_iters: int) -> str:
        """How ``rounds(rank, I)`` is obtained (one phrase)."""
        return f"{self.kind} model"

    def to_dict(self) -> dict[str, Any]:
        raise ValidationError("convergence", "a Table or PowerLaw to write to JSON (a Callable "
                              "model holds Python code)", type(self).__name__)

    def with_scale(self, scale: float) -> ConvergenceModel:
        """A copy with another ``scale``."""
        d = self.to_dict()
        d["scale"] = v.scalar("scale", scale, positive=True)
        return from_dict(d)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConvergenceModel):
            return NotImplemented
        try:
            return type(self) is type(other) and self.to_dict() == other.to_dict()
        except ValidationError:
            return self is other

    __hash__ = None  # type: ignore[assignment]


# --------------------------------------------------------------------------- PowerLaw
class FitReport(dict):
    """What :meth:`PowerLaw.fit` reports: ``params`` (name -> value), ``ci95`` (name ->
    (low, high)), ``residuals`` (per table cell: measured, model, relative error),
    ``rms_log_residual``, ``max_rel_residual``, ``n_points`` (a plain dict)."""


class PowerLaw(ConvergenceModel):
    """``L(n) = L_inf(r) + a(r) (n + n0)^-beta`` per rank, with client drift.

    With the target loss ``T(r)`` (the reference's converged loss plus ``eps`` of its
    loss reduction, docs/profiles.md), iterations to target at I = 1 are
    ``n(eps, r, 1) = (a(r) / (T(r) - L_inf(r)))^(1/beta) - n0``, and with I local
    iterations per round ``n(eps, r, I) = n(eps, r, 1) (1 + c (I - 1))``. A rank between
    fitted ranks is interpolated linearly in ``(ln r, ln n)``; outside, the nearest
    rank's iterations are used and :meth:`extrapolated` says so.
    """

    kind = "powerlaw"

    def __init__(self, ranks: Sequence[int], l_inf: Sequence[float], a: Sequence[float],
                 target: Sequence[float], n0: float, beta: float, c: float, *,
                 scale: float = 1.0, ci95: Mapping[str, Any] | None = None,
                 residual: float | None = None, local_iters_range: Sequence[int] | None = None
                 ) -> None:
        r = v.int_array("ranks", ranks, unique=True)
        if r.min() < 1:
            raise ValidationError("ranks", "LoRA ranks >= 1", r.tolist())
        order = np.argsort(r)
        self.ranks = r[order]
        self.l_inf = v.float_array("l_inf", l_inf, shape=r.shape)[order]
        self.a = v.float_array("a", a, shape=r.shape, positive=True)[order]
        self.target = v.float_array("target", target, shape=r.shape)[order]
        bad = self.ranks[self.target <= self.l_inf]
        if bad.size:
            raise ValidationError("target", "target losses above the fitted plateaus L_inf "
                                  "(else the target is never reached)", bad.tolist())
        self.n0 = v.scalar("n0", n0, nonnegative=True)
        self.beta = v.scalar("beta", beta, positive=True)
        self.c = v.scalar("c", c, nonnegative=True)
        self.scale = v.scalar("scale", scale, positive=True)
        self.ci95 = dict(ci95 or {})
        self.residual = None if residual is None else v.scalar("residual", residual,
                                                               nonnegative=True)
        self.local_iters_range = None if local_iters_range is None else \
            tuple(int(x) for x in local_iters_range)

    def loss(self, rank: int, n: Any) -> np.ndarray:
        """Fitted validation loss after ``n`` iterations at I = 1 (nats/token)."""
        q = self._index(_rank(rank))
        return self.l_inf[q] + self.a[q] * (np.asarray(n, float) + self.n0) ** (-self.beta)

    def _index(self, rank: int) -> int:
        hit = np.flatnonzero(self.ranks == rank)
        if hit.size:
            return int(hit[0])
        raise ValidationError("rank", f"one of the fitted ranks {self.ranks.tolist()}", rank)

    def iterations_at_one(self, rank: int) -> float:
        """``n(eps, r, 1)`` of a fitted rank (model units, before ``scale``)."""
        q = self._index(rank)
        n = (self.a[q] / (self.target[q] - self.l_inf[q])) ** (1.0 / self.beta) - self.n0
        return max(float(n), 1.0)

    def drift(self, local_iters: float) -> float:
        """``1 + c (I - 1)``."""
        return 1.0 + self.c * (float(local_iters) - 1.0)

    def _proxy_iterations(self, rank: int, local_iters: int, split: int | None) -> float:
        rs = self.ranks
        if rank in rs:
            n1 = self.iterations_at_one(rank)
        elif rank < rs[0] or rank > rs[-1]:
            n1 = self.iterations_at_one(int(rs[0] if rank < rs[0] else rs[-1]))
        else:
            hi = int(np.searchsorted(rs, rank))
            lo = hi - 1
            x = (math.log(rank) - math.log(rs[lo])) / (math.log(rs[hi]) - math.log(rs[lo]))
            n1 = math.exp((1 - x) * math.log(self.iterations_at_one(int(rs[lo])))
                          + x * math.log(self.iterations_at_one(int(rs[hi]))))
        return n1 * self.drift(local_iters)

    def extrapolated(self, rank: int, local_iters: int) -> bool:
        r, i = _rank(rank), _iters(local_iters)
        out = r < self.ranks[0] or r > self.ranks[-1]
        if self.local_iters_range is not None:
            out = out or not (self.local_iters_range[0] <= i <= self.local_iters_range[1])
        return bool(out)

    def note(self, rank: int, local_iters: int) -> str:
        text = f"power law n(eps, r, 1)(1 + c(I-1)), c={self.c:.3g}"
        return text + (" (extrapolated)" if self.extrapolated(rank, local_iters) else "")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "ranks": self.ranks.tolist(), "l_inf": self.l_inf.tolist(),
            "a": self.a.tolist(), "target": self.target.tolist(), "n0": self.n0,
            "beta": self.beta, "c": self.c, "scale": self.scale}
        if self.ci95:
            out["ci95"] = self.ci95
        if self.residual is not None:
            out["residual"] = self.residual
        if self.local_iters_range is not None:
            out["local_iters_range"] = list(self.local_iters_range)
        return out

    @classmethod
    def fit(cls, curves: Sequence[Mapping[str, Any]], *, scale: float = 1.0,
            min_iterations: int = 1) -> tuple[PowerLaw, FitReport]:
        """Fit the power law and the drift on measured runs.

        ``curves``: one mapping per run with ``rank``, ``local_iters``, ``target`` (the
        run's target loss), ``iterations`` (measured iterations to target) and
        ``points`` (``[(iterations, validation loss), ...]``). The loss curves of the
        I = 1 runs (points with ``n >= min_iterations``) fix ``L_inf(r)``, ``a(r)`` per
        rank and a shared ``n0``, ``beta`` (nonlinear least squares on the loss); the
        target per rank is the mean of its runs' targets. The drift ``c`` is the least
        squares slope, through the origin, of ``n(r, I) / n(r, 1) - 1`` on ``I - 1``
        (``n(r, 1)`` the mean measured I = 1 iterations of the rank, else the law's)
        over the runs with I > 1 that reached the target after their first round
        (``iterations > I``: FedAvg ran before the target); a negative slope is reported
        as ``c_raw`` and clipped to 0 (``ci95["c"]`` is around ``c_raw``). The 95 % confidence
        intervals come from the Jacobian at the optimum (``s^2 (J^T J)^-1``, Student t);
        the report's residuals compare the model with the mean measured iterations of
        every (rank, I).
        """
        from scipy import optimize, stats

        runs = [dict(c) for c in curves]
        if not runs:
            raise ValidationError("curves", "at least one measured run", runs)
        for k, run in enumerate(runs):
            for key in ("rank", "local_iters", "target", "iterations", "points"):
                if key not in run:
                    raise ValidationError(f"curves[{k}]", f"a mapping with {key}", sorted(run))
        ones = [r for r in runs if int(r["local_iters"]) == 1]
        ranks = sorted({int(r["rank"]) for r in ones})
        if not ranks:
            raise ValidationError("curves", "runs at local_iters = 1 (they fix the power law)",
                                  sorted({int(r["local_iters"]) for r in runs}))
        xs, ys, idx = [], [], []
        for r in ones:
            q = ranks.index(int(r["rank"]))
            for n, loss in r["points"]:
                if n >= min_iterations and math.isfinite(float(loss)):
                    xs.append(float(n))
                    ys.append(float(loss))
                    idx.append(q)
        x, y, ix = np.array(xs), np.array(ys), np.array(idx)
        nr = len(ranks)
        targets = np.array([np.mean([float(r["target"]) for r in runs if int(r["rank"]) == q])
                            for q in ranks])

        def unpack(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
            return p[:nr], np.exp(p[nr:2 * nr]), math.exp(p[2 * nr]), math.exp(p[2 * nr + 1])

        def resid(p: np.ndarray) -> np.ndarray:
            linf, a, n0, beta = unpack(p)
            return linf[ix] + a[ix] * (x + n0) ** (-beta) - y

        lo = np.array([y[ix == q].min() if (ix == q).any() else 1.0 for q in range(nr)])
        p0 = np.concatenate([lo - 0.05, np.log(np.full(nr, 5.0)), [math.log(10.0)],
                             [math.log(0.7)]])
        sol = optimize.least_squares(resid, p0, method="trf", max_nfev=20000)
        linf, a, n0, beta = unpack(sol.x)
        dof = max(1, x.size - sol.x.size)
        s2 = float(np.sum(sol.fun ** 2)) / dof
        tq = float(stats.t.ppf(0.975, dof))
        try:
            cov = np.linalg.pinv(sol.jac.T @ sol.jac) * s2
            se = np.sqrt(np.clip(np.diag(cov), 0, None))
        except np.linalg.LinAlgError:  # pragma: no cover - degenerate Jacobian
            se = np.full(sol.x.size, np.nan)
        ci: dict[str, Any] = {}
        for q, rk in enumerate(ranks):
            ci[f"l_inf[{rk}]"] = [linf[q] - tq * se[q], linf[q] + tq * se[q]]
            ci[f"a[{rk}]"] = [float(np.exp(sol.x[nr + q] - tq * se[nr + q])),
                              float(np.exp(sol.x[nr + q] + tq * se[nr + q]))]
        ci["n0"] = [float(np.exp(sol.x[2 * nr] - tq * se[2 * nr])),
                    float(np.exp(sol.x[2 * nr] + tq * se[2 * nr]))]
        ci["beta"] = [float(np.exp(sol.x[-1] - tq * se[-1])),
                      float(np.exp(sol.x[-1] + tq * se[-1]))]
        # the targets must lie above the plateaus for a finite n(eps, r, 1)
        targets = np.maximum(targets, linf + 1e-6)
        model = cls(ranks, linf, a, targets, n0, beta, 0.0, scale=scale)
        n1 = {rk: model.iterations_at_one(rk) for rk in ranks}
        # the drift is read against the measured I = 1 iterations of the same rank (the
        # model's where none was measured), so the law's own residual does not enter c
        meas1: dict[int, list[float]] = {}
        for r in ones:
            if r["iterations"] is not None:
                meas1.setdefault(int(r["rank"]), []).append(float(r["iterations"]))
        base1 = {rk: float(np.mean(meas1[rk])) if rk in meas1 else n1[rk] for rk in ranks}
        dx, dy = [], []
        for r in runs:
            i, n = int(r["local_iters"]), r["iterations"]
            if i > 1 and n is not None and float(n) > i and int(r["rank"]) in n1:
                dx.append(i - 1.0)
                dy.append(float(n) / base1[int(r["rank"])] - 1.0)
        c_raw = 0.0
        if dx:
            ax, ay = np.array(dx), np.array(dy)
            c_raw = float(ax @ ay / (ax @ ax))
            c = max(0.0, c_raw)
            dofc = max(1, ax.size - 1)
            sc = math.sqrt(float(np.sum((ay - c * ax) ** 2)) / dofc / float(ax @ ax))
            tc = float(stats.t.ppf(0.975, dofc))
            ci["c"] = [c_raw - tc * sc, c_raw + tc * sc]
        else:
            c = 0.0
            ci["c"] = [0.0, 0.0]
        all_i = sorted({int(r["local_iters"]) for r in runs})
        model = cls(ranks, linf, a, targets, n0, beta, c, scale=scale, ci95=ci,
                    local_iters_range=(all_i[0], all_i[-1]))
        cells: dict[tuple[int, int], list[float]] = {}
        for r in runs:
            if r["iterations"] is not None and int(r["rank"]) in n1:
                cells.setdefault((int(r["rank"]), int(r["local_iters"])), []).append(
                    float(r["iterations"]))
        res = []
        for (rk, i), vals in sorted(cells.items()):
            meas = float(np.mean(vals))
            pred = model._proxy_iterations(rk, i, None)
            res.append({"rank": rk, "local_iters": i, "measured": meas, "model": pred,
                        "rel_error": pred / meas - 1.0})
        rel = np.array([abs(e["rel_error"]) for e in res]) if res else np.zeros(1)
        logs = np.array([math.log(e["model"] / e["measured"]) for e in res]) if res \
            else np.zeros(1)
        model.residual = float(rel.max())
        report = FitReport(
            params={"l_inf": dict(zip(ranks, linf.tolist(), strict=True)),
                    "a": dict(zip(ranks, a.tolist(), strict=True)), "n0": n0, "beta": beta,
                    "c": c, "c_raw": c_raw,
                    "target": dict(zip(ranks, targets.tolist(), strict=True))},
            ci95=ci, residuals=res, rms_log_residual=float(np.sqrt(np.mean(logs ** 2))),
            max_rel_residual=float(rel.max()), loss_rmse=float(math.sqrt(s2)),
            n_points=int(x.size), n_drift_runs=len(dx))
        return model, report


# --------------------------------------------------------------------------- Table
class Table(ConvergenceModel):
    """Measured iterations to target ``n(r, I)`` (mean over seeds), per rank and I.

    Between measured I (``I_a <= I <= I_b``):
    ``ln n(I) = ln n(I_a) + (ln n(I_b) - ln n(I_a)) ln(I / I_a) / ln(I_b / I_a)``
    (linear in log-log); rounds = n / I. Beyond the measured I, ``n(I) = n(I_edge)
    form.drift(I) / form.drift(I_edge)`` with the fitted :class:`PowerLaw` ``form``
    (without one: ``n(I_edge)``, i.e. the edge's iterations, no drift), flagged by
    :meth:`extrapolated`. A rank between measured ranks is interpolated in
    ``(ln r, ln n)``; a rank outside them raises (ValidationError naming ``rank``).
    ``derived=True`` marks a table built from a problem's ``rounds`` at one I
    (:meth:`from_rounds`).
    """

    kind = "table"

    def __init__(self, ranks: Sequence[int], local_iters: Sequence[int], iterations: Any, *,
                 scale: float = 1.0, form: PowerLaw | None = None, source: str = "",
                 derived: bool = False) -> None:
        r = v.int_array("ranks", ranks, unique=True)
        i = v.int_array("local_iters", local_iters, unique=True)
        if r.min() < 1 or i.min() < 1:
            raise ValidationError("ranks", "ranks and local_iters >= 1",
                                  (r.tolist(), i.tolist()))
        n = v.float_array("iterations", iterations, shape=(r.size, i.size), positive=True)
        ro, io = np.argsort(r), np.argsort(i)
        self.ranks, self.local_iters = r[ro], i[io]
        self.table = n[ro][:, io]
        self.scale = v.scalar("scale", scale, positive=True)
        if form is not None and not isinstance(form, PowerLaw):
            raise ValidationError("form", "a PowerLaw (or None)", type(form).__name__)
        self.form = form
        if not isinstance(source, str):
            raise ValidationError("source", "a string", source)
        self.source = source
        self.derived = bool(derived)

    @classmethod
    def from_rounds(cls, ranks: Any, rounds: Any, local_iters: int, *,
                    source: str = "") -> Table:
        """The one-column table of a problem's ``rounds`` per rank at ``local_iters``:
        ``n = rounds * I`` (held at every other I, flagged as extrapolated)."""
        i = _iters(local_iters)
        rr = v.float_array("rounds", rounds, ndim=1, positive=True)
        return cls(ranks, [i], (rr * i)[:, None], source=source, derived=True)

    def _row(self, rank: int) -> np.ndarray:
        rs = self.ranks
        hit = np.flatnonzero(rs == rank)
        if hit.size:
            return self.table[int(hit[0])]
        if rank < rs[0] or rank > rs[-1]:
            raise ValidationError("rank", f"a rank within the measured {rs.tolist()}", rank)
        hi = int(np.searchsorted(rs, rank))
        lo = hi - 1
        x = (math.log(rank) - math.log(rs[lo])) / (math.log(rs[hi]) - math.log(rs[lo]))
        return np.exp((1 - x) * np.log(self.table[lo]) + x * np.log(self.table[hi]))

    def _proxy_iterations(self, rank: int, local_iters: int, split: int | None) -> float:
        row = self._row(rank)
        its = self.local_iters.astype(float)
        i = float(local_iters)
        hit = np.flatnonzero(self.local_iters == local_iters)
        if hit.size:
            return float(row[int(hit[0])])
        if its[0] <= i <= its[-1]:
            if its.size == 1:
                return float(row[0])
            return float(np.exp(np.interp(math.log(i), np.log(its), np.log(row))))
        edge = 0 if i < its[0] else -1
        n = float(row[edge])
        if self.form is not None:
            n *= self.form.drift(i) / self.form.drift(its[edge])
        return n

    def extrapolated(self, rank: int, local_iters: int) -> bool:
        i = _iters(local_iters)
        return not (self.local_iters[0] <= i <= self.local_iters[-1])

    def note(self, rank: int, local_iters: int) -> str:
        i = _iters(local_iters)
        its = self.local_iters.tolist()
        if i in its:
            return f"iterations(r, I={i}) as measured"
        if its[0] < i < its[-1]:
            below = max(x for x in its if x < i)
            above = min(x for x in its if x > i)
            return (f"iterations(r, I={i}) interpolated in log-log between I={below} and "
                    f"I={above}")
        edge = its[0] if i < its[0] else its[-1]
        how = (f"by the fitted drift 1 + c(I-1), c={self.form.c:.3g}" if self.form is not None
               else "with the iterations held (no fitted form)")
        return f"iterations(r, I={i}) EXTRAPOLATED from I={edge} {how}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "ranks": self.ranks.tolist(),
                               "local_iters": self.local_iters.tolist(),
                               "iterations": self.table.tolist(), "scale": self.scale}
        if self.form is not None:
            out["form"] = self.form.to_dict()
        if self.source:
            out["source"] = self.source
        if self.derived:
            out["derived"] = True
        return out


# --------------------------------------------------------------------------- Callable
class Callable(ConvergenceModel):
    """A user-supplied model: ``fn(rank, local_iters, split) -> iterations`` (> 0).

    ``split`` is None when the caller does not know it. ``scale`` multiplies the
    returned iterations. Not JSON-serialisable.
    """

    kind = "callable"

    def __init__(self, fn: _Fn[[int, int, int | None], float], *, scale: float = 1.0,
                 name: str = "user") -> None:
        if not callable(fn):
            raise ValidationError("fn", "a callable (rank, local_iters, split) -> iterations",
                                  type(fn).__name__)
        self.fn = fn
        self.scale = v.scalar("scale", scale, positive=True)
        self.name = str(name)

    def _proxy_iterations(self, rank: int, local_iters: int, split: int | None) -> float:
        out = self.fn(rank, local_iters, split)
        try:
            return float(out)
        except (TypeError, ValueError):
            raise ValidationError("convergence", "a callable returning a number of "
                                  "iterations", out) from None

    def note(self, rank: int, local_iters: int) -> str:
        return f"user model {self.name!r}"

    def with_scale(self, scale: float) -> Callable:
        return Callable(self.fn, scale=scale, name=self.name)


def from_dict(data: Mapping[str, Any]) -> ConvergenceModel:
    """The model of a ``to_dict`` mapping (``kind`` "table" or "powerlaw")."""
    if not isinstance(data, Mapping) or "kind" not in data:
        raise ValidationError("convergence", "a mapping with kind 'table' or 'powerlaw'", data)
    d = dict(data)
    kind = d.pop("kind")
    try:
        if kind == "table":
            form = d.pop("form", None)
            return Table(d.pop("ranks"), d.pop("local_iters"), d.pop("iterations"),
                         form=None if form is None else from_dict(form),  # type: ignore[arg-type]
                         **d)
        if kind == "powerlaw":
            return PowerLaw(d.pop("ranks"), d.pop("l_inf"), d.pop("a"), d.pop("target"),
                            d.pop("n0"), d.pop("beta"), d.pop("c"), **d)
    except (KeyError, TypeError) as exc:
        raise ValidationError("convergence", f"the fields of a {kind} model", str(exc)) from None
    raise ValidationError("convergence.kind", "'table' or 'powerlaw'", kind)
