"""When split and rank matter (SPEC §8.2): the experiments behind three figures.

Numbers only (:mod:`sfl_opt.experiments.plots` draws them, :mod:`sfl_opt.experiments.figures`
runs them):

- :func:`split_map` — the split SflLLM chooses over a grid of (client FLOP/s, K) with
  identical clients and a catalogue server; the compute threshold is
  ``client FLOP/s = server FLOP/s / K`` (docs/model.md §6.1);
- :func:`rank_by_tokens` — the rank SflLLM chooses as the tokens per round
  ``local_iters x batch x seq`` vary (the adapter share of the traffic is
  ``4 r ℓ / (I b s)``, §6.2; ``rounds(r, I)`` is read for each I);
- :func:`ablation_shares` — the share of SflLLM's reduction against ``fully_random``
  that comes from the rank, the allocation and the split: a Shapley decomposition
  over the three decisions (definition in docs/model.md §6.4 and
  :func:`shapley_shares`).

Units: FLOP/s, s; shares are fractions of the total reduction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from ..engine.prepared import prepare
from ..errors import ValidationError
from ..methods.baselines import equal_power_link
from ..model.problem import Problem
from ..model.scenario import GPT2_DIMS
from ..solve import solve

#: the three decisions of the ablation decomposition
DECISIONS = ("rank", "allocation", "split")


# ------------------------------------------------------------------ split map


@dataclass(frozen=True)
class SplitCell:
    """One (client FLOP/s, K) cell: SflLLM's chosen ``split`` and ``rank``, its
    ``delay`` (s), the ``last`` candidate split and the compute-threshold side
    (``"first"`` if client FLOP/s < server FLOP/s / K, else ``"last"``)."""

    client_flops: float
    clients: int
    split: int
    rank: int
    delay: float
    last: int
    side: str


def split_map(client_flops: Sequence[float], clients: Sequence[int], *,
              server_flops: float, seed: int = 0, base: dict[str, Any] | None = None,
              progress: bool = True) -> list[SplitCell]:
    """SflLLM's chosen split for identical clients of each ``client_flops`` (FLOP/s)
    and each number of clients ``clients``, served by ``server_flops`` (FLOP/s).

    Scenario ``Problem.default(seed, clients=K, client_flops=(c, c),
    server_flops=server_flops, subchannels=max(20, K), **base)``.
    """
    from tqdm.auto import tqdm

    base = dict(base or {})
    m = int(base.pop("subchannels", 20))
    cells = []
    grid = [(float(c), int(k)) for k in clients for c in client_flops]
    for c, k in tqdm(grid, desc="split map", disable=not progress):
        p = Problem.default(seed, clients=k, client_flops=(c, c), server_flops=server_flops,
                            subchannels=max(m, k), **base)
        r = solve(p, seed=seed)
        cells.append(SplitCell(c, k, r.split, r.rank, r.delay, int(p.splits.max()),
                               "first" if c < server_flops / k else "last"))
    return cells


# -------------------------------------------------------------- rank by tokens


@dataclass(frozen=True)
class RankPoint:
    """SflLLM's chosen ``rank`` and ``split`` (and ``delay``, s) at ``local_iters`` I,
    ``batch`` b, ``seq`` s and scenario ``seed``; ``tokens`` = I·b·s per client and
    round; ``rounds`` the rounds(r, I) of the chosen rank."""

    local_iters: int
    batch: int
    seq: int
    seed: int
    tokens: int
    rank: int
    split: int
    delay: float
    rounds: float


def rank_by_tokens(local_iters: Sequence[int], batches: Sequence[int],
                   seeds: Iterable[int] = (0,), *, seq: int = GPT2_DIMS["seq"],
                   base: dict[str, Any] | None = None, progress: bool = True
                   ) -> list[RankPoint]:
    """SflLLM's chosen rank over tokens per round: every ``local_iters`` x ``batches``
    x ``seeds`` of ``Problem.default(seed, local_iters=I, batch=b, seq=seq, **base)``
    (``seq`` tokens per sample; the bundled profile's 512 keeps its measured
    workload). ``rounds(r, I)`` comes from the profile for
    each I (:func:`sfl_opt.model.profiles.rounds_at`)."""
    from tqdm.auto import tqdm

    base = dict(base or {})
    out = []
    grid = [(int(i), int(b), int(s)) for i in local_iters for b in batches for s in seeds]
    for i, b, s in tqdm(grid, desc="rank by tokens", disable=not progress):
        p = Problem.default(s, local_iters=i, batch=b, seq=seq, **base)
        r = solve(p, seed=s)
        out.append(RankPoint(i, b, int(seq), s, i * b * int(seq), r.rank, r.split, r.delay,
                             r.breakdown.rounds))
    return out


# --------------------------------------------------------- ablation decomposition


def shapley_shares(value: dict[frozenset[str], float],
                   players: Sequence[str] = DECISIONS) -> dict[str, float]:
    """Shapley values of a game over ``players``: ``value[S]`` is the reduction (s)
    reached when the decisions in ``S`` are optimised (``value[frozenset()] = 0``).

    phi_x = sum over S not containing x of |S|! (n - |S| - 1)! / n! * (v(S + x) - v(S));
    the values sum to ``value[all players]``."""
    n = len(players)
    phi = {}
    for x in players:
        others = [y for y in players if y != x]
        tot = 0.0
        for size in range(n):
            w = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for s in combinations(others, size):
                fs = frozenset(s)
                tot += w * (value[fs | {x}] - value[fs])
        phi[x] = tot
    return phi


@dataclass(frozen=True)
class Ablation:
    """One scenario seed: ``delays[S]`` (s) with the decisions in ``S`` optimised and the
    others held at ``fully_random``'s draw (``S = ()``: fully_random itself; all three:
    SflLLM's nested search without kicks); ``phi`` the Shapley reduction (s) per
    decision and ``shares`` = phi / total reduction (fractions summing to 1)."""

    label: str
    seed: int
    delays: dict[frozenset[str], float]
    phi: dict[str, float]
    shares: dict[str, float]

    @property
    def reduction(self) -> float:
        """Relative reduction 1 - D(all) / D(fully_random)."""
        return 1.0 - self.delays[frozenset(DECISIONS)] / self.delays[frozenset()]


def ablation(problem: Problem, seed: int = 0, label: str = "") -> Ablation:
    """The ablation decomposition of one problem (docs/model.md §6.4).

    ``fully_random`` (seed ``seed``) draws a split ℓ0, a rank r0 and a random
    assignment A0 of both links with equal power. For every pair p of the prepared
    problem two totals are computed: ``held[p]`` with A0 and equal power, and
    ``opt[p]`` with the allocation optimised (greedy + local search, exact power).
    Then D(S) is the least total over the pairs whose split is ℓ0 unless "split" is in
    S and whose rank is r0 unless "rank" is in S, taken from ``opt`` if "allocation"
    is in S and from ``held`` otherwise.
    """
    fr = solve(problem, "fully_random", seed=seed)
    prep = prepare(problem)
    f_held = equal_power_link(prep.link("f"), fr.assign_f, None)
    f_opt = prep.link("f").greedy(None, refine=True)
    s_link = prep.link("s")
    P = prep.P
    held = np.array([prep.total(p, equal_power_link(s_link, fr.assign_s, p).t, f_held.t)
                     for p in range(P)])
    opt = np.array([prep.total(p, s_link.greedy(p, refine=True).t, f_opt.t)
                    for p in range(P)])
    split, rank = prep.tab.split, prep.tab.rank
    delays: dict[frozenset[str], float] = {}
    for size in range(4):
        for s in combinations(DECISIONS, size):
            fs = frozenset(s)
            keep = np.ones(P, dtype=bool)
            if "split" not in fs:
                keep &= split == fr.split
            if "rank" not in fs:
                keep &= rank == fr.rank
            tot = opt if "allocation" in fs else held
            delays[fs] = float(np.min(tot[keep]))
    if not math.isclose(delays[frozenset()], fr.delay, rel_tol=1e-9):
        raise AssertionError("ablation: the held point does not reproduce fully_random")
    value = {s: delays[frozenset()] - d for s, d in delays.items()}
    phi = shapley_shares(value)
    total = value[frozenset(DECISIONS)]
    shares = {x: (phi[x] / total if total > 0 else float("nan")) for x in DECISIONS}
    return Ablation(label, seed, delays, phi, shares)


def ablation_shares(scenarios: dict[str, dict[str, Any]], seeds: Iterable[int] = range(3),
                    progress: bool = True) -> list[Ablation]:
    """:func:`ablation` of ``Problem.default(seed, **kwargs)`` for every scenario
    (label -> keywords) and seed."""
    from tqdm.auto import tqdm

    if not scenarios:
        raise ValidationError("scenarios", "at least one labelled scenario", scenarios)
    grid = [(lab, kw, int(s)) for lab, kw in scenarios.items() for s in seeds]
    return [ablation(Problem.default(s, **kw), seed=s, label=lab)
            for lab, kw, s in tqdm(grid, desc="ablation", disable=not progress)]


__all__ = ["DECISIONS", "Ablation", "RankPoint", "SplitCell", "ablation", "ablation_shares",
           "rank_by_tokens", "shapley_shares", "split_map"]
