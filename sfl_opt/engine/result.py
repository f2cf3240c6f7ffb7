"""``SolveResult``: the one result type shared by every method of :func:`sfl_opt.solve`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model.delay import Breakdown
from ..model.energy import Energy
from ..status import Status, Termination, TerminationReason

#: the keys of :attr:`SolveResult.timings` (seconds each), one meaning per key; a method
#: records the stages it has (``split_mode="per_client"`` adds the common-split solve's
#: own keys as ``common_<key>``). Glossary: docs/glossary.md
TIMINGS: dict[str, str] = {
    "total": "the whole call of solve: validation, preparation, the method, the bound",
    "prepare": "what solve does before the method: validation, the pair table, the "
               "prepared problem",
    "bound": "the certificate: the lower bound solve puts on the result (lower_bound; "
             "solve's bound=)",
    "pair_bounds": "a method's lower bounds on the (split, rank) pairs, to prune its "
                   "search (SflLLM's closed forms, exact's root dual bounds)",
    "candidate_bounds": "solve's bounds on the candidate local iterations I, to skip those "
                        "that cannot win",
    "heuristic": "the incumbent of an exact method (exact, milp)",
    "f_link": "the round link's (f-link) allocation",
    "greedy": "the straggler-first greedy allocation of every pair (SflLLM nested)",
    "refine": "the local search (and kicks) of the pairs that can win (SflLLM nested)",
    "allocation": "the allocation steps (SflLLM bcd)",
    "power": "the power steps with a backend (SflLLM bcd)",
    "search": "the (split, rank) search of fixed allocations (bcd, baselines) or the "
              "branch and bound (exact)",
    "s_link": "the s-link MILPs (milp)",
    "power_backend": "the final power re-solved by the requested backend",
    "draw": "the random draw (fully_random)",
    "saa": "the sample-average estimate of every pair (fading='saa')",
    "budget": "the energy-budget repair (client_energy)",
    "common": "split_mode='per_client': the common-split solve it starts from",
    "per_client": "split_mode='per_client': the per-client cut alternation",
}


@dataclass
class SolveResult:
    """The chosen point, its delay and how it was found.

    - ``delay``: T_total of the point, s (equals ``evaluate(...).total`` of the point);
    - ``split`` (the cut, an int; with ``split_mode="per_client"`` one cut per client,
      an int array (K,)), ``rank``; ``assign_s (M,)``, ``assign_f (N,)`` (client per subchannel);
      ``psd_s (M,)``, ``psd_f (N,)`` (W/Hz);
    - ``status`` (:class:`~sfl_opt.Status`): how good the answer is — ``"optimal"``
      (certified: an exact method's proof, or a bound proving a gap <= 1e-6),
      ``"feasible"`` (a valid point not proven optimal),
      ``"infeasible"``, ``"error"``;
    - ``termination`` (:class:`~sfl_opt.Termination`): why the method stopped, apart
      from how good the answer is: ``termination.reason``
      (:class:`~sfl_opt.TerminationReason`: ``"optimal"`` (the method's own proof),
      ``"converged"``, ``"enumerated"``, ``"limit_reached"``, ``"solver_error"``, ...)
      and ``termination.limit`` (:class:`~sfl_opt.Limit`: ``"time"``, ``"iteration"``,
      or ``"none"``); messages are in ``info``;
    - ``method`` (what ran), ``power`` (the backend, or the method's own power rule:
      ``"native"`` exact kernels, ``"equal"`` equal psd), ``mode`` (``""`` for a method
      without modes); ``iterations`` (outer iterations);
      ``history`` (objective after each outer iteration, s);
    - ``timings`` (seconds per stage, and ``"total"``; the keys and their meaning:
      :data:`TIMINGS`); ``breakdown`` (every term of
      SPEC §2); ``lower_bound`` (s: a certified lower bound on the problem's optimum, by
      default the native one; None with ``bound=False``); ``grid`` ((len(splits), len(ranks)) best
      delay found per pair, s, or None); ``info`` (method-specific details);
    - ``assign_d (D,)``, ``psd_d (D,)``: the allocated downlink (SPEC §8.4; None with
      the fixed-rate downlink);
    - ``local_iters``: the local iterations per round I of the point (the problem's I,
      or the one ``solve`` chose among the problem's candidates);
    - ``split_mode``: ``"common"`` or ``"per_client"`` (what ``solve`` searched);
    - ``options``: what ran — the mode and power backend (methods that have them), every
      option the method read with its effective value (defaults filled in, the automatic
      ``kicks`` resolved, ``seed``) and the ``bound`` (see
      ``sfl_opt.show_options(method)``).
    """

    delay: float
    split: int
    rank: int
    assign_s: np.ndarray
    assign_f: np.ndarray
    psd_s: np.ndarray
    psd_f: np.ndarray
    status: Status
    method: str
    iterations: int
    history: list[float]
    timings: dict[str, float]
    breakdown: Breakdown
    lower_bound: float | None = None
    termination: Termination = Termination(TerminationReason.CONVERGED)
    power: str = "native"
    mode: str = ""
    grid: np.ndarray | None = None
    rounds_source: str = "user"
    info: dict[str, Any] = field(default_factory=dict)
    assign_d: np.ndarray | None = None
    psd_d: np.ndarray | None = None
    local_iters: int | None = None
    split_mode: str = "common"
    options: dict[str, Any] = field(default_factory=dict)

    def evaluate_kwargs(self) -> dict[str, Any]:
        """The point as keyword arguments of :func:`sfl_opt.evaluate` (after the problem):
        ``split, rank, assign_s, psd_s, assign_f, psd_f`` and, with an allocated
        downlink, ``assign_d, psd_d``."""
        kw: dict[str, Any] = {"split": self.split, "rank": self.rank,
                              "assign_s": self.assign_s, "psd_s": self.psd_s,
                              "assign_f": self.assign_f, "psd_f": self.psd_f}
        if self.assign_d is not None:
            kw.update(assign_d=self.assign_d, psd_d=self.psd_d)
        if self.local_iters is not None:
            kw["local_iters"] = self.local_iters
        return kw

    @property
    def energy(self) -> Energy:
        """The point's energy, J per training run (:class:`~sfl_opt.model.energy.Energy`:
        ``per_client`` (K,), ``per_stage``, ``total`` with server and base station)."""
        assert self.breakdown.energy is not None
        return self.breakdown.energy

    @property
    def gap(self) -> float | None:
        """Relative optimality gap ``(delay - lower_bound) / delay`` (None without a bound)."""
        if self.lower_bound is None:
            return None
        return max(0.0, (self.delay - self.lower_bound) / self.delay)

    @property
    def success(self) -> bool:
        """True when the result holds a valid point (optimal or feasible)."""
        return Status(self.status).success

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly representation."""
        def conv(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                return [conv(y) for y in x.tolist()]
            if isinstance(x, list):
                return [conv(y) for y in x]
            if isinstance(x, dict):
                return {k: conv(y) for k, y in x.items()}
            if isinstance(x, (float, np.floating)):
                x = float(x)
                return x if math.isfinite(x) else str(x)
            if isinstance(x, np.integer):
                return int(x)
            if isinstance(x, str):
                return str(x)  # StrEnum members as plain strings
            if isinstance(x, Termination):
                return x.to_dict()
            return x

        out = {
            "delay": self.delay, "split": self.split, "rank": self.rank,
            "assign_s": self.assign_s, "assign_f": self.assign_f,
            "psd_s": self.psd_s, "psd_f": self.psd_f, "status": self.status,
            "termination": self.termination, "method": self.method, "power": self.power,
            "mode": self.mode, "iterations": self.iterations, "history": self.history,
            "timings": self.timings, "breakdown": self.breakdown.to_dict(),
            "lower_bound": self.lower_bound, "gap": self.gap, "grid": self.grid,
            "rounds_source": self.rounds_source, "info": self.info,
            "local_iters": self.local_iters,
            "split_mode": self.split_mode,
            "energy": self.energy.to_dict(), "options": self.options,
        }
        if self.assign_d is not None:
            out.update(assign_d=self.assign_d, psd_d=self.psd_d)
        return conv(out)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __repr__(self) -> str:
        lb = "" if self.lower_bound is None else f", gap={self.gap:.3%}"
        li = "" if self.local_iters is None else f", local_iters={self.local_iters}"
        return (f"SolveResult(delay={self.delay:.6g} s, split={self.split}, rank={self.rank}"
                f"{li}, "
                f"status={str(self.status)!r}, termination={str(self.termination)!r}, "
                f"method={self.method!r}{lb})")
