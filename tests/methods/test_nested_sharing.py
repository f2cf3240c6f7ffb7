"""The nested search shares what it finds between (split, rank) pairs: the assignments
found are re-scored on every pair that can win, and on large links each pair starts from
the incumbent's assignment (docs/model.md §3.4). Checked against independent kernels:
the held-assignment search over all pairs, the per-pair greedy and power control."""

from __future__ import annotations

import numpy as np
import pytest

from sfl_opt import Problem, evaluate, solve
from sfl_opt import kernels as kn
from sfl_opt.engine.prepared import RTOL, prepare
from sfl_opt.kernels.greedy import greedy_pairs


def _held_totals(p: Problem, r) -> np.ndarray:
    """T_total (s) of every pair with the result's assignments held, power re-solved
    exactly per pair (kernel ``search_pairs``), as the result's grid layout."""
    ctx = prepare(p)
    tf = ctx.link("f").exact_power(r.assign_f, None).t
    return ctx.full_grid(ctx.search({"s": r.assign_s}, tf))


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_grid_never_above_the_chosen_assignment_held(seed: int) -> None:
    """Without pruning every pair has been offered the chosen assignment: no pair's grid
    entry exceeds that assignment's delay on the pair."""
    p = Problem.default(seed=seed)
    r = solve(p, prune=False)
    held = _held_totals(p, r)
    fin = np.isfinite(r.grid)
    assert (r.grid[fin] <= held[fin] * (1 + 1e-12)).all()
    assert r.delay == pytest.approx(np.min(r.grid), rel=1e-12)


@pytest.mark.parametrize("clients,subchannels,p_total", [(20, 64, 0.6), (30, 64, None)])
def test_large_link_search(clients: int, subchannels: int, p_total: float | None) -> None:
    """A large link (K*M > 1000: warm starts, the warm window): the point is evaluate()'s,
    no better delay on any pair with the chosen assignment held, and no worse than the
    best greedy start."""
    kw = {} if p_total is None else {"p_total": p_total}
    p = Problem.default(seed=1, clients=clients, subchannels=subchannels, **kw)
    r = solve(p)
    bd = evaluate(p, r.split, r.rank, r.assign_s, r.psd_s, r.assign_f, r.psd_f)
    assert bd.total == r.delay
    assert r.delay <= np.nanmin(_held_totals(p, r)) * (1 + 1e-12)
    assert r.delay <= solve(p, refine=False).delay
    assert r.info["refined"] >= 1


def test_greedy_pairs_is_the_per_pair_greedy() -> None:
    """One kernel call equals greedy_assign + power_control per pair."""
    p = Problem.default(seed=3)
    ln = prepare(p).link("s")
    P = ln.bits.size
    c_all = np.array([ln.demand(q)[0] for q in range(P)])
    s_all = np.array([ln.demand(q)[1] for q in range(P)])
    assigns, ts, psds, status = greedy_pairs(ln.la, ln.inva, ln.bw, c_all, s_all, ln.p_max,
                                             ln.p_total, ln.order, RTOL, ln.lcap)
    assert not status.any()
    for q in range(P):
        a = kn.greedy_assign(ln.la, ln.inva, ln.bw, c_all[q], s_all[q], ln.p_max, ln.p_total,
                             ln.order, ln.lcap)
        t, psd, _, _ = kn.power_control(ln.la, ln.inva, ln.bw, a, c_all[q], s_all[q],
                                        ln.p_max, ln.p_total, RTOL, ln.lcap)
        assert (assigns[q] == a).all() and ts[q] == t and (psds[q] == psd).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_local_search_ends_move_optimal_at_a_binding_total_cap(seed: int) -> None:
    """The dirty-client scans skip only moves that cannot improve: at the end no single
    move lowers the deadline (brute force over every move, exact power control)."""
    p = Problem.default(seed=seed, clients=12, subchannels=48, p_total=0.12)
    ln = prepare(p).link("s")
    c, S = ln.demand(7)
    g = ln.greedy(7)
    a, t, psd, moves = kn.local_search(ln.la, ln.inva, ln.bw, g.assign, c, S, ln.p_max,
                                       ln.p_total, RTOL, 10_000, 1e-9, ln.lcap)
    assert moves > 0 and t <= g.t
    assert np.sum(psd * ln.bw) == pytest.approx(ln.p_total, rel=1e-6)  # the total cap binds
    cnt = np.bincount(a, minlength=ln.K)
    for m in range(ln.M):
        if cnt[a[m]] < 2:
            continue
        for j in range(ln.K):
            if j == a[m]:
                continue
            b = a.copy()
            b[m] = j
            t2, _, _, _ = kn.power_control(ln.la, ln.inva, ln.bw, b, c, S, ln.p_max,
                                           ln.p_total, RTOL, ln.lcap)
            assert t2 >= t * (1 - 1e-7)
