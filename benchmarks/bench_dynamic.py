"""Speed of the per-round re-optimisation under block fading (pytest-benchmark):
``python -m pytest benchmarks/bench_dynamic.py``.

One round of the ``adaptive`` policy of :mod:`sfl_opt.experiments.dynamic` for a fixed (split,
rank): the links rebuilt on the round's gains (normalised gains, gain order) and every
link's allocation re-optimised (greedy vs the previous allocation, local search, exact
power). Target: well under the 5 ms of the full solve on the default scenario (it is the
use case of the fast solve: re-optimise every round); issue 20: <= 2 ms at K = 20,
M = N = 64 (5-8 ms when filed). Compilation excluded (warm-up).
"""

from __future__ import annotations

import numpy as np
import pytest

from sfl_opt import Problem, solve
from sfl_opt.engine.prepared import LinkPoint, prepare
from sfl_opt.experiments.dynamic import adaptive_point
from sfl_opt.model.fading import GaussMarkovFading

CASES = {
    "default": {},
    "default, allocated downlink": {"downlink": "allocated"},
    "default, allocated downlink, shared band": {"downlink": "allocated", "band": "shared"},
    "K=20, M=N=64, allocated downlink": {"clients": 20, "subchannels": 64,
                                         "downlink": "allocated", "subchannels_d": 64},
}


@pytest.mark.parametrize("case", list(CASES))
def test_round_reoptimisation(benchmark, case: str) -> None:
    problem = Problem.default(seed=0, **CASES[case])
    res = solve(problem)
    prep = prepare(problem)
    p = prep.pair_index(res.split, res.rank)
    held = {"s": LinkPoint(res.assign_s, res.psd_s, np.nan),
            "f": LinkPoint(res.assign_f, res.psd_f, np.nan)}
    if res.assign_d is not None:
        held["d"] = LinkPoint(res.assign_d, res.psd_d, np.nan)
    fading = GaussMarkovFading(problem, 0.0, np.random.default_rng(0))
    rounds = [fading.next() for _ in range(16)]
    state = {"i": 0}

    def one_round() -> dict:
        gains = rounds[state["i"] % len(rounds)]
        state["i"] += 1
        return adaptive_point(prep.with_gains(gains), p, held)

    one_round()  # warm-up (compilation)
    benchmark(one_round)
    benchmark.extra_info["links"] = len(held)
    benchmark.extra_info["target_s"] = 0.002 if "K=20" in case else 0.005


def test_training_run_round_problem(benchmark) -> None:
    """A static training run (100 rounds) as ``simulate_training`` plays it (each round's
    problem by ``Problem.with_gains``, the pair table reused) against the first
    edition's way, measured in the same run (a validated ``Problem.replace`` and a new
    pair table per round); issue 17: re-validation was ~60 % of a static run. Prints
    both times and the ratio."""
    import time

    from sfl_opt.experiments import dynamic
    from sfl_opt.model import delay

    problem = Problem.default(seed=0)
    dynamic.simulate_training(problem, seed=1, policy="static", rounds=3)  # warm-up

    def run() -> None:
        dynamic.simulate_training(problem, seed=1, policy="static", rounds=100)

    def first_edition(p, gains):
        return p.replace(**{f"gain_{n}": g for n, g in gains.items()})

    def old_evaluate(*a, table=None, **k):
        return delay.evaluate(*a, **k)  # the pair table built again each round

    t0 = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dynamic, "with_gains", first_edition)
        mp.setattr(dynamic, "evaluate", old_evaluate)
        for _ in range(3):
            run()
    before = (time.perf_counter() - t0) / 3
    t0 = time.perf_counter()
    for _ in range(3):
        run()
    after = (time.perf_counter() - t0) / 3
    print(f"\nstatic run, 100 rounds: first edition {before:.3f} s, now {after:.3f} s "
          f"({before / after:.2f}x)")
    benchmark(run)


def test_reoptimisation_vs_fresh_solve(benchmark) -> None:
    """Issue 20's target in one run: K = 20, M = N = D = 64 (allocated downlink), one
    round of fading after another. Three ways to get a round's point, timed on the same
    16 rounds: ``RoundReoptimiser`` (the fast path, reusing what does not change with
    the channel), the same with ``start="warm"`` (opt-in, not bit-equal), the fresh
    ``adaptive_point(prep.with_gains(g), ...)`` (same answer as the fast path, checked
    here) and a fresh ``solve`` of the round's problem (every pair, no bound).
    Reports medians of wall and CPU time, the ratios, and the warm start's T_total
    against the bit-equal path's on the same rounds; the target is a median <= 2 ms
    (CPU time: the machine is shared)."""
    import statistics
    import time

    from sfl_opt.experiments.dynamic import RoundReoptimiser
    from sfl_opt.model.fading import with_gains

    problem = Problem.default(seed=0, **CASES["K=20, M=N=64, allocated downlink"])
    res = solve(problem)
    prep = prepare(problem)
    p = prep.pair_index(res.split, res.rank)
    held = {"s": LinkPoint(res.assign_s, res.psd_s, np.nan),
            "f": LinkPoint(res.assign_f, res.psd_f, np.nan),
            "d": LinkPoint(res.assign_d, res.psd_d, np.nan)}
    fading = GaussMarkovFading(problem, 0.0, np.random.default_rng(0))
    rounds = [fading.next() for _ in range(16)]
    reopt = RoundReoptimiser(prep, p, held)
    warm = RoundReoptimiser(prep, p, held, start="warm")
    ways = {"fast": reopt,
            "fast, warm start": warm,
            "fresh adaptive_point": lambda g: adaptive_point(prep.with_gains(g), p, held),
            "fresh solve": lambda g: solve(with_gains(problem, g), bound=False)}
    for g in rounds[:2]:  # warm-up
        for fn in ways.values():
            fn(g)
    warm.reset()

    def t_total(pts: dict) -> float:  # the pair's T_total at a round's point, s
        return float(prep.total(p, pts["s"].t + pts["d"].t, pts["f"].t))

    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in ways}
    ratio, vs_solve = [], []
    for rep in range(5):
        for g in rounds:
            got = {}
            for name, fn in ways.items():
                w0, c0 = time.perf_counter(), time.process_time()
                got[name] = fn(g)
                times[name][0].append(time.perf_counter() - w0)
                times[name][1].append(time.process_time() - c0)
            for n in got["fast"]:  # the bit-equal path: the same answer
                assert np.array_equal(got["fresh adaptive_point"][n].assign, got["fast"][n].assign)
                assert got["fresh adaptive_point"][n].t == got["fast"][n].t
            if rep == 0:  # (later repetitions replay the same rounds: warm has moved on)
                ratio.append(t_total(got["fast, warm start"]) / t_total(got["fast"]))
                vs_solve.append(t_total(got["fast"]) / got["fresh solve"].delay)
    med = {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in times.items()}
    print("\nper-round re-optimisation, K=20, M=N=D=64 (median of 80 rounds):")
    for name, (w, c) in med.items():
        print(f"  {name:<22} wall {w * 1e3:7.3f} ms  CPU {c * 1e3:7.3f} ms")
    r_solve = med["fast"][1] / med["fresh solve"][1]
    r_fresh = med["fast"][1] / med["fresh adaptive_point"][1]
    r_warm = med["fast, warm start"][1] / med["fresh solve"][1]
    r = np.array(ratio)
    print(f"  fast / fresh solve: {r_solve:.3f}; fast / fresh adaptive_point: {r_fresh:.3f}; "
          f"warm / fresh solve: {r_warm:.3f}")
    print(f"  T_total, warm start / bit-equal path over the 16 rounds: mean {r.mean():.5f}, "
          f"min {r.min():.4f}, max {r.max():.4f} (worse in {(r > 1 + 1e-12).sum()}, better "
          f"in {(r < 1 - 1e-12).sum()}); bit-equal path / fresh solve (all pairs): mean "
          f"{np.mean(vs_solve):.5f}")
    state = {"i": 0}

    def one_round() -> dict:
        g = rounds[state["i"] % len(rounds)]
        state["i"] += 1
        return reopt(g)

    benchmark(one_round)
    benchmark.extra_info.update(
        {f"{k} median wall ms": v[0] * 1e3 for k, v in med.items()}
        | {f"{k} median cpu ms": v[1] * 1e3 for k, v in med.items()}
        | {"fast/fresh solve": r_solve, "fast/fresh adaptive_point": r_fresh,
           "warm/fresh solve": r_warm, "warm/bit-equal T_total mean": float(r.mean())})
    # issue 20's target (CPU time: the machine is shared), on the faster of the two modes
    assert min(med["fast"][1], med["fast, warm start"][1]) <= 0.002


@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_warm_start_over_seeds(benchmark, rho: float) -> None:
    """``RoundReoptimiser`` bit-equal vs ``start="warm"`` at K = 20, M = N = D = 64 over 3
    seeds x 30 rounds of fading with correlation ``rho``, both timed round by round in
    one run: median CPU per round, and the warm start's T_total against the bit-equal
    path's on the same rounds (mean, range, rounds worse and better)."""
    import statistics
    import time

    from sfl_opt.experiments.dynamic import RoundReoptimiser

    cpu: dict[str, list[float]] = {"fresh": [], "warm": []}
    ratio = []
    for seed in range(3):
        problem = Problem.default(seed=seed, **CASES["K=20, M=N=64, allocated downlink"])
        res = solve(problem)
        prep = prepare(problem)
        p = prep.pair_index(res.split, res.rank)
        held = {n: LinkPoint(getattr(res, f"assign_{n}"), getattr(res, f"psd_{n}"), np.nan)
                for n in ("s", "f", "d")}
        fading = GaussMarkovFading(problem, rho, np.random.default_rng(seed))
        rounds = [fading.next() for _ in range(30)]
        ways = {k: RoundReoptimiser(prep, p, held, start=k) for k in cpu}
        for fn in ways.values():  # warm-up (compilation)
            fn(rounds[0])
            fn.reset()
        for g in rounds:
            out = {}
            for k, fn in ways.items():
                c0 = time.process_time()
                out[k] = fn(g)
                cpu[k].append(time.process_time() - c0)
            tt = {k: prep.total(p, o["s"].t + o["d"].t, o["f"].t) for k, o in out.items()}
            ratio.append(tt["warm"] / tt["fresh"])
    med = {k: statistics.median(v) for k, v in cpu.items()}
    r = np.array(ratio)
    print(f"\nrho = {rho}, 3 seeds x 30 rounds: median CPU per round bit-equal "
          f"{med['fresh'] * 1e3:.3f} ms, warm {med['warm'] * 1e3:.3f} ms "
          f"(warm / bit-equal {med['warm'] / med['fresh']:.3f}); T_total warm / bit-equal: "
          f"mean {r.mean():.5f}, min {r.min():.4f}, max {r.max():.4f}, worse in "
          f"{(r > 1 + 1e-12).sum()}, better in {(r < 1 - 1e-12).sum()} of {r.size}")
    benchmark.extra_info.update({"fresh median cpu ms": med["fresh"] * 1e3,
                                 "warm median cpu ms": med["warm"] * 1e3,
                                 "warm/bit-equal T_total mean": float(r.mean())})
    benchmark.pedantic(lambda: None, rounds=1)
