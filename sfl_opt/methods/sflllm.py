"""The SflLLM algorithm (Zhao et al., arXiv:2504.14667), in two search modes.

``bcd`` — the paper's alternation: (a) greedy subchannel allocation for the current
(split, rank), (b) power control, (c) exhaustive search over (split, rank) with the
allocation held and the power re-optimised exactly for every pair; repeat until the
objective stops improving, keeping the best point seen. The start pair is the one with
the least lower bound, or ``solve(..., mode="bcd", start=(split, rank))``;
``info["start_delay"]`` is the objective at the start point, before the first search.

``nested`` (default) — re-optimise allocation and power for every (split, rank): greedy
+ exact power for every pair, then local-search refinement of the pairs in order of
their greedy delay, skipping a pair whose lower bound (``kernels.bounds``) already
exceeds the best delay found (such a pair cannot win). Then the assignments found are
re-scored on every pair that can still win and the pairs they improve are searched
again from them (pairs differ only in c_k and S, so a neighbour's local optimum is a
good start); on large links (K*M > LARGE_LINK) each pair starts from the incumbent's
assignment and a pair whose warm start is clearly behind is not searched (WARM_WINDOW,
docs/model.md §3.4). ``info``: ``refined`` (searches), ``pruned`` (pairs cut by the
bound), ``skipped`` (pairs cut by the warm window). The f-link allocation does not
depend on (split, rank) and is solved once.
"""

from __future__ import annotations

import time

import numpy as np

from ..engine.prepared import RTOL, TIMED_LINK, Link, LinkPoint, PreparedProblem
from ..errors import SflOptError, ValidationError
from ..kernels.greedy import greedy_pairs
from ..status import Limit, Status, Termination, TerminationReason
from .registry import Options, Outcome

#: iterated local search (kicks) runs on the pairs within this fraction of the best delay
#: after plain local search; kicks rarely gain more (see docs/model.md)
KICK_WINDOW = 0.05
#: a link with more than this many client-subchannel pairs (K * M) is *large*: the auto
#: kicks are 0 there (``registry.auto_kicks``), only the incumbent's assignment is
#: re-scored on every pair, and a pair whose warm start (the incumbent's assignment, its
#: power re-solved) is more than WARM_WINDOW above the best delay is not searched
LARGE_LINK = 1000
#: see LARGE_LINK: the window is ``max(WARM_WINDOW, WARM_SAFETY * g)`` with g the largest
#: relative gain a search from a warm start has made so far in this solve (typically
#: 1e-6..1e-4 at K = 200, M = 1024: the incumbent's assignment is nearly a local optimum
#: of the neighbouring pairs, docs/model.md)
WARM_WINDOW = 1e-3
WARM_SAFETY = 10.0
#: a re-scored assignment replaces a pair's point when it is better by this much
RESCORE_TOL = 1e-12
#: at most this many re-score / search rounds after the passes
MAX_ROUNDS = 4
#: re-score on more candidate pairs than this with one kernel call over all pairs
RESCORE_ALL = 8


#: with a time limit, the f-link's local search gets at most this share of the time left
F_LINK_SHARE = 1 / 3
#: with a time limit, the greedy allocations of the pairs are computed in blocks of at
#: most this many pairs, each sized to the time left, the clock checked between blocks
GREEDY_BLOCK = 8


def deadline_of(ctx: PreparedProblem, opts: Options) -> float | None:
    """The ``time.perf_counter()`` value at which the method must stop (None: no limit)."""
    return None if opts.time_limit is None else ctx.started + opts.time_limit


def out_of_time(ctx: PreparedProblem, opts: Options) -> bool:
    """Whether the method's time limit has passed."""
    return opts.time_limit is not None and ctx.elapsed() > opts.time_limit


def solve_f_link(ctx: PreparedProblem, opts: Options) -> LinkPoint:
    """The f-link: maximise the least client rate once (c = 0, S = 1 bit); with a time
    limit its local search stops after ``F_LINK_SHARE`` of the time left."""
    deadline = deadline_of(ctx, opts)
    if deadline is not None:
        now = time.perf_counter()
        deadline = now + max(deadline - now, 0.0) * F_LINK_SHARE
    return ctx.link(ctx.round_link).greedy(None, opts.refine, opts.max_moves, opts.kicks,
                                           opts.seed, deadline)


def uses_kernel_power(opts: Options) -> bool:
    """True when the requested backend's answer is the kernels' exact power (capability
    ``"kernel"``), so the points found by the search need no re-solve."""
    return opts.power is None or "kernel" in opts.power.capabilities


def stage_sum(points: dict[str, list], p: int) -> float:
    """The summed stage (s) of pair ``p`` over the stage links' points."""
    return sum(pts[p].t for pts in points.values())


def _apply_backend(ctx: PreparedProblem, opts: Options, p: int, points: dict[str, LinkPoint],
                   info: dict) -> tuple[dict[str, LinkPoint], Termination | None]:
    """Re-solve the final power of every link with a backend other than the kernels'
    exact power; keep the kernel point if the backend fails, and say so (the
    termination ``solver_error``; None when every backend solve succeeded)."""
    if uses_kernel_power(opts):
        return points, None
    assert opts.power is not None
    termination = None
    out = {}
    for name, point in points.items():
        link = ctx.link(name)
        bp, sol = link.backend_power(point.assign, p if link.per_pair else None, opts.power)
        info[f"power_{name}"] = {"status": sol.status, "termination": sol.termination,
                                 "iterations": sol.iterations, "solve_time": sol.solve_time,
                                 "violation": sol.violation, "t": sol.t, "native_t": point.t,
                                 **sol.info}
        if Status(sol.status).success and np.isfinite(sol.t):
            out[name] = bp
        else:
            termination = Termination(TerminationReason.SOLVER_ERROR)
            out[name] = point
    return out, termination


def solve_sflllm(ctx: PreparedProblem, opts: Options,
                 pairs: np.ndarray | None = None) -> Outcome:
    """SflLLM in ``opts.mode``; ``pairs`` (pair indices of ``ctx.tab``) restricts the
    (split, rank) search to those candidates (used by the split/rank baselines)."""
    if opts.mode == "bcd":
        return _solve_bcd(ctx, opts, pairs)
    if opts.extra.get("start") is not None:
        raise ValidationError("start", "no start pair unless mode='bcd'",
                              opts.extra["start"])
    return _solve_nested(ctx, opts, pairs)


def _start_pair(ctx: PreparedProblem, start: object) -> int:
    """Pair index of a ``(split, rank)`` start given by the user."""
    try:
        split, rank = start  # type: ignore[misc]
        return ctx.pair_index(int(split), int(rank))
    except (TypeError, ValueError, IndexError):
        raise ValidationError("start", "a (split, rank) pair of the problem's candidates "
                              f"(splits {ctx.problem.splits.tolist()}, ranks "
                              f"{ctx.problem.ranks.tolist()})", start) from None


def _allowed(ctx: PreparedProblem, pairs: np.ndarray | None) -> np.ndarray:
    if pairs is None:
        return np.arange(ctx.P)
    return np.unique(np.asarray(pairs, dtype=np.int64))


def _timed_greedy(ctx: PreparedProblem, opts: Options, links: list[Link],
                  idx: np.ndarray, tf: float) -> tuple[np.ndarray, dict[str, list]]:
    """The greedy points of the pairs ``idx`` on every stage link, in blocks of at most
    ``GREEDY_BLOCK`` pairs until the time limit (the first block always; on a large
    link the pairs in order of their cheap lower bound with the round link at ``tf``
    s/bit, so that the pairs most likely to win come first): the pairs done (ascending)
    and ``{link: [point or None per pair]}``."""
    points: dict[str, list] = {ln.name: [None] * ctx.P for ln in links}
    done = []
    deadline = deadline_of(ctx, opts)
    small = max(ln.K * ln.M for ln in links) <= TIMED_LINK
    if deadline is not None and not small:
        idx = idx[np.argsort(ctx.total(idx, ctx.stage_bounds()[idx], tf), kind="stable")]
    # without a limit (or on small links, where a pair takes well under a millisecond)
    # one call; with one, a first pair alone (it times a pair), then blocks sized to
    # half the time left at that speed (at most GREEDY_BLOCK), none started that is
    # expected to end after the deadline
    block = idx.size if deadline is None or small else 1
    q = 0
    while q < idx.size:
        part = idx[q:q + block]
        t0 = time.perf_counter()
        for ln in links:
            for p, pt in zip(part, _greedy_points(ln, part), strict=True):
                points[ln.name][p] = pt
        done.append(part)
        q += part.size
        if deadline is None:
            continue
        now = time.perf_counter()
        per_pair = (now - t0) / part.size
        block = int(min(GREEDY_BLOCK, 0.5 * (deadline - now) / max(per_pair, 1e-9)))
        if block < 1:
            break
    return np.sort(np.concatenate(done)), points


def _greedy_points(ln: Link, idx: np.ndarray) -> list[LinkPoint]:
    """``ln.greedy(p)`` (greedy allocation, exact power) of the pairs ``idx`` of a
    per-pair link, in one kernel call."""
    demands = [ln.demand(int(p)) for p in idx]
    c_all = np.array([c for c, _ in demands], dtype=float).reshape(len(idx), ln.K)
    s_all = np.array([s for _, s in demands], dtype=float)
    assigns, ts, psds, status = greedy_pairs(ln.la, ln.inva, ln.bw, c_all, s_all, ln.p_max,
                                             ln.p_total, ln.order, RTOL, ln.lcap)
    if status.any():
        raise SflOptError(f"assign_{ln.name}: a client has no subchannel")
    return [LinkPoint(assigns[q], psds[q], float(ts[q])) for q in range(len(idx))]


def _distinct(assigns: list[np.ndarray]) -> list[np.ndarray]:
    """The assignments without repeats (first occurrence kept)."""
    out: list[np.ndarray] = []
    seen: set[bytes] = set()
    for a in assigns:
        key = np.ascontiguousarray(a).tobytes()
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out


def _solve_nested(ctx: PreparedProblem, opts: Options,
                  pairs: np.ndarray | None = None) -> Outcome:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    f = solve_f_link(ctx, opts)
    timings["f_link"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    P = ctx.P
    links = [ctx.link(n) for n in ctx.stage_links]
    deadline = deadline_of(ctx, opts)
    # with a time limit, the pairs not reached by the greedy are left out
    allowed = _allowed(ctx, pairs)
    idx, points = _timed_greedy(ctx, opts, links, allowed, f.t)
    t_s = np.array([stage_sum(points, p) for p in idx])
    grid = np.full(P, np.inf)
    grid[idx] = ctx.total(idx, t_s, f.t)
    timings["greedy"] = time.perf_counter() - t0
    history = [float(grid.min())]
    termination = (Termination(TerminationReason.CONVERGED) if idx.size == allowed.size
                   else Termination.at_limit(Limit.TIME))
    refined = 0
    pruned: set[int] = set()
    skipped: set[int] = set()
    if opts.refine and out_of_time(ctx, opts):
        termination = Termination.at_limit(Limit.TIME)
    elif opts.refine:
        t0 = time.perf_counter()
        lb = ctx.total(np.arange(P), ctx.stage_bounds(), f.t)
        timings["pair_bounds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        large = max(ln.K * ln.M for ln in links) > LARGE_LINK
        done = np.zeros(P, dtype=bool)  # searched from its best known start
        # the assignments the local search found since the last re-scoring, per link
        found: dict[str, list[np.ndarray]] = {ln.name: [] for ln in links}
        best_p = int(idx[np.argmin(grid[idx])])
        searched = False
        # the largest relative gain of a search from a warm start so far (large links)
        warm_gain = [0.0]

        def improve(p: int, kicks: int) -> None:
            """Local search of pair p from its own point or, on a large link, from the
            incumbent pair's assignment when that is better there (pairs differ only in
            c_k and S); on a small link its own start keeps the searches diverse and the
            re-scoring shares what they find."""
            nonlocal best_p, searched
            warmed = False
            start_sum = 0.0
            for ln in links:
                start = points[ln.name][p]
                if large and searched and best_p != p:
                    warm = ln.exact_power(points[ln.name][best_p].assign, p)
                    if warm.t < start.t:
                        start = warm
                    warmed = True
                start_sum += start.t
                pt = ln.refine(start.assign, p, opts.max_moves, kicks, opts.seed, deadline)
                if not pt.t < start.t:
                    pt = start
                points[ln.name][p] = pt
                found[ln.name].append(pt.assign)
            searched = True
            if warmed:
                new = ctx.total(p, stage_sum(points, p), f.t)
                warm_gain[0] = max(warm_gain[0], float(ctx.total(p, start_sum, f.t) / new) - 1)
            done[p] = True
            grid[p] = ctx.total(p, stage_sum(points, p), f.t)
            if grid[p] < grid[best_p]:
                best_p = p

        def rescore() -> None:
            """Every pair that can still win (its bound below the best) keeps the best of
            its point and the assignments found since the last call (on a large link
            only the incumbent's): the delay of a fixed assignment is smooth in (split,
            rank), so another pair's search often beats a pair's own; such a pair is
            marked to be searched again."""
            nonlocal best_p, found
            if large:
                found = {ln.name: [points[ln.name][best_p].assign] for ln in links}
            cand = idx[lb[idx] < grid[best_p]] if opts.prune else idx
            changed = False
            for ln in links:
                for a in _distinct(found[ln.name]):
                    if out_of_time(ctx, opts):
                        break
                    if cand.size > RESCORE_ALL:
                        stages = ctx.search_link(ln.name, a, f.t)[1]
                    else:
                        stages = np.full(P, np.inf)
                        for p in cand:
                            stages[p] = ln.exact_power(a, int(p)).t
                    for p in cand:
                        if stages[p] < points[ln.name][p].t * (1 - RESCORE_TOL):
                            points[ln.name][p] = ln.exact_power(a, int(p))
                            done[p] = False
                            changed = True
            found = {ln.name: [] for ln in links}
            if changed:
                grid[cand] = ctx.total(cand, np.array([stage_sum(points, p) for p in cand]),
                                       f.t)
                best_p = int(idx[np.argmin(grid[idx])])

        def search_pass(kicks: int, window: float | None) -> bool:
            """Search the pairs not searched since their start changed, best first, and
            skip those that cannot win (bound), or lie more than ``window`` above the
            best (None: no window); False on the time limit."""
            nonlocal refined
            for p in idx[np.argsort(grid[idx], kind="stable")]:
                p = int(p)
                if done[p]:
                    continue
                if opts.prune and lb[p] >= grid[best_p]:
                    pruned.add(p)
                    continue
                if window is not None and grid[p] > grid[best_p] * (1 + window):
                    continue  # kicks are spent only on pairs close to the best
                warm = max(WARM_WINDOW, WARM_SAFETY * warm_gain[0])
                if large and opts.prune and grid[p] > grid[best_p] * (1 + warm):
                    skipped.add(p)  # warm-started from the incumbent, still behind
                    continue
                if opts.time_limit is not None and ctx.elapsed() > opts.time_limit:
                    return False
                improve(p, kicks)
                refined += 1
                history.append(float(grid[best_p]))
            return True

        late = out_of_time(ctx, opts)
        if late:
            termination = Termination.at_limit(Limit.TIME)
        elif large:  # search the best greedy pair first: its assignment starts the others
            improve(best_p, 0)
            refined += 1
            rescore()
            history.append(float(grid[best_p]))
        # pass 1: local search; pass 2: iterated local search (kicks) on the pairs that
        # can still win after pass 1
        passes = () if late else (0, opts.kicks) if opts.kicks > 0 else (0,)
        for kicks in passes:
            if kicks:
                done[:] = False
            if not search_pass(kicks, KICK_WINDOW if kicks else None):
                termination = Termination.at_limit(Limit.TIME)
                break
            if large:
                rescore()
        # then share what the searches found: re-score it on every pair that can win,
        # search again (with kicks) the pairs it improved, while the best improves
        for _ in range(MAX_ROUNDS if termination.reason == TerminationReason.CONVERGED else 0):
            before = float(grid[best_p])
            rescore()
            if not grid[best_p] < before:
                break
            if not search_pass(opts.kicks, KICK_WINDOW):
                termination = Termination.at_limit(Limit.TIME)
                break
        timings["refine"] = time.perf_counter() - t0
    best = int(np.argmin(grid))
    chosen = {name: pts[best] for name, pts in points.items()}
    info = {"pairs": P, "refined": refined, "pruned": len(pruned),
            "skipped": len(skipped),
            "moves": sum(pt.moves for pt in chosen.values()), "f_moves": f.moves}
    t0 = time.perf_counter()
    final, term2 = _apply_backend(ctx, opts, best, {**chosen, ctx.round_link: f}, info)
    timings["power_backend"] = time.perf_counter() - t0
    if term2 is not None:
        termination = term2
    return Outcome(best, final, Status.FEASIBLE, termination,
                   iterations=len(history), history=history, timings=timings, grid=grid,
                   info=info)


def _solve_bcd(ctx: PreparedProblem, opts: Options,
               pairs: np.ndarray | None = None) -> Outcome:
    timings = {"f_link": 0.0, "allocation": 0.0, "power": 0.0, "search": 0.0}
    t0 = time.perf_counter()
    f = solve_f_link(ctx, opts)
    timings["f_link"] = time.perf_counter() - t0
    P = ctx.P
    links = [ctx.link(n) for n in ctx.stage_links]
    # start from the given pair, or the one with the least lower bound
    idx = _allowed(ctx, pairs)
    if opts.extra.get("start") is not None:
        p = _start_pair(ctx, opts.extra["start"])
    else:
        masked = np.full(P, np.inf)
        lbs = ctx.total(np.arange(P), ctx.stage_bounds(), f.t)
        masked[idx] = lbs[idx]
        p = int(np.argmin(masked))
    start_delay = None
    p0 = p
    best_total = np.inf
    best: tuple[int, dict[str, LinkPoint]] | None = None
    grid = None
    history: list[float] = []
    termination = Termination.at_limit(Limit.ITERATION)
    power_calls = 0
    deadline = deadline_of(ctx, opts)
    last = 0.0  # seconds of the previous iteration
    for _ in range(opts.max_iter):
        t_it = time.perf_counter()
        # an iteration is not started when, at the speed of the last one, it would end
        # after the deadline
        if deadline is not None and best is not None and t_it + last > deadline:
            termination = Termination.at_limit(Limit.TIME)
            break
        t0 = time.perf_counter()
        # (a) allocation (+ exact power) of every stage link
        cur = {ln.name: ln.greedy(p, opts.refine, opts.max_moves, opts.kicks, opts.seed,
                                  deadline_of(ctx, opts)) for ln in links}
        timings["allocation"] += time.perf_counter() - t0
        if start_delay is None:
            start_delay = float(ctx.total(p, sum(pt.t for pt in cur.values()), f.t))
        if not uses_kernel_power(opts):  # (b) with the chosen backend
            assert opts.power is not None
            t0 = time.perf_counter()
            for ln in links:
                bp, sol = ln.backend_power(cur[ln.name].assign, p, opts.power)
                power_calls += 1
                if Status(sol.status).success:
                    cur[ln.name] = bp
            timings["power"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        if deadline is not None and best is None and t0 > deadline:
            # no time for the search over every pair: the allocated pair's own point
            totals = np.full(P, np.inf)
            totals[p] = ctx.total(p, sum(pt.t for pt in cur.values()), f.t)
            best_total, best, grid = float(totals[p]), (p, cur), totals
            history.append(best_total)
            termination = Termination.at_limit(Limit.TIME)
            break
        totals = ctx.search({n: pt.assign for n, pt in cur.items()}, f.t)  # (c)
        if pairs is not None:
            totals = np.where(np.isin(np.arange(P), idx), totals, np.inf)
        timings["search"] += time.perf_counter() - t0
        last = time.perf_counter() - t_it
        q = int(np.argmin(totals))
        history.append(float(totals[q]))
        if totals[q] < best_total * (1 - 1e-12):
            best_total = float(totals[q])
            best = (q, cur)
            grid = totals
            p = q
        else:
            termination = Termination(TerminationReason.CONVERGED)
            break
    assert best is not None
    q, cur = best
    # the point of pair q with the held allocation, power re-solved exactly
    held = {n: ctx.link(n).exact_power(pt.assign, q) for n, pt in cur.items()}
    info = {"pairs": P, "power_calls": power_calls, "start_delay": start_delay,
            "start": ctx.pair(p0)}
    final, term2 = _apply_backend(ctx, opts, q, {**held, ctx.round_link: f}, info)
    if term2 is not None:
        termination = term2
    return Outcome(q, final, Status.FEASIBLE, termination,
                   iterations=len(history), history=history, timings=timings, grid=grid,
                   info=info)
