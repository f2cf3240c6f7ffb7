"""Optimality gaps of the heuristic (greedy + refinement), as distributions.

Run: ``.venv/bin/python benchmarks/gaps.py [--small 20] [--default 20] [--json out.json]``

1. small instances (``sfl_opt.testing.small_problem``): the heuristic ``solve(p)`` against
   the certified optimum ``solve(p, "milp")``, also without refinement
   (``refine=False``), and the tightness of the lower bound against the optimum;
2. the default scenario (``Problem.default(seed)``): the heuristic against the
   time-sharing lower bound ``solve(p, bound="relaxation")`` (an upper bound on its true gap);
3. (``--agreement N``) the cvxpy and pyomo power backends against native on N random
   power subproblems (K 1..5, M K..20, random gains, caps, total cap inf / binding).

Gaps are relative: (heuristic - optimum) / optimum, (heuristic - bound) / heuristic,
(optimum - bound) / optimum.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sfl_opt import Problem, solve
from sfl_opt.engine.bounds import lower_bound
from sfl_opt.testing import small_problem

SIZES = ((3, 6, 4), (4, 8, 6))  # (K, M, N)


def describe(x: list[float]) -> dict[str, float]:
    a = np.asarray(x, float)
    return {"n": int(a.size), "mean": float(a.mean()), "median": float(np.median(a)),
            "p90": float(np.quantile(a, 0.9)), "max": float(a.max()),
            "zero_frac": float(np.mean(a <= 1e-9))}


def fmt(name: str, d: dict[str, float]) -> str:
    return (f"{name:44s} n={d['n']:3d}  mean={d['mean']:.3%}  median={d['median']:.3%}  "
            f"p90={d['p90']:.3%}  max={d['max']:.3%}  (zero: {d['zero_frac']:.0%})")


def small_gaps(n: int, sizes=SIZES) -> dict[str, object]:
    out: dict[str, object] = {}
    for K, M, N in sizes:
        heur, greedy, bound, times = [], [], [], []
        for seed in range(n):
            pr = small_problem(1000 + seed, K=K, M=M, N=N,
                               p_total=[0.6, 0.3, 0.45, float("inf")][seed % 4])
            t0 = time.perf_counter()
            ex = solve(pr, "milp")
            times.append(time.perf_counter() - t0)
            if ex.status != "optimal":
                print(f"  seed {seed}: exact {ex.status} ({ex.termination}); skipped")
                continue
            opt = ex.delay
            heur.append((solve(pr).delay - opt) / opt)
            greedy.append((solve(pr, refine=False).delay - opt) / opt)
            bound.append((opt - lower_bound(pr)) / opt)
        key = f"K={K},M={M},N={N}"
        out[key] = {"heuristic_vs_exact": describe(heur),
                    "greedy_only_vs_exact": describe(greedy),
                    "bound_vs_exact": describe(bound),
                    "exact_time_s": describe(times)}
    return out


def default_gaps(n: int) -> dict[str, object]:
    gaps, times = [], []
    for seed in range(n):
        pr = Problem.default(seed=seed)
        t0 = time.perf_counter()
        res = solve(pr, bound="relaxation")
        times.append(time.perf_counter() - t0)
        gaps.append(res.gap)
    return {"heuristic_vs_bound": describe(gaps), "solve_with_bound_time_s": describe(times)}


def backend_agreement(n: int) -> dict[str, object]:
    import math

    from sfl_opt.power import get_backend
    from sfl_opt.power.base import PowerSubproblem

    nb, cb, pb = (get_backend(name) for name in ("native", "cvxpy", "pyomo"))
    dc, dp, iters, statuses = [], [], [], set()
    for seed in range(n):
        rng = np.random.default_rng(seed)
        K = int(rng.integers(1, 6))
        M = int(rng.integers(K, 21))
        gain = 10 ** rng.uniform(-13, -7, size=(K, M))
        bw = rng.uniform(0.2e6, 2e6, size=M)
        assign = np.concatenate([rng.permutation(K), rng.integers(0, K, M - K)])
        rng.shuffle(assign)
        sub = PowerSubproblem(gain, bw, assign.astype(np.int64), rng.uniform(0, 2, K),
                              float(10 ** rng.uniform(5, 8)), rng.uniform(0.05, 0.5, K),
                              [math.inf, 0.5, 0.2][seed % 3] * K / 3, 4e-21)
        a, b, c = nb.solve(sub), cb.solve(sub), pb.solve(sub)
        statuses |= {b.status, c.status}
        dc.append(abs(b.t - a.t) / a.t)
        dp.append(abs(c.t - a.t) / a.t)
        iters.append(c.iterations)
    return {"cvxpy_rel_diff": describe(dc), "pyomo_rel_diff": describe(dp),
            "pyomo_oa_iterations": describe(iters), "statuses": sorted(statuses)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=20, help="instances per small size")
    ap.add_argument("--default", type=int, default=20, help="default-scenario seeds")
    ap.add_argument("--agreement", type=int, default=0,
                    help="random power subproblems for the backend agreement check")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    small = small_gaps(args.small)
    print("Small instances (certified optimum by assign='exact'):")
    for key, d in small.items():
        print(f" {key}")
        for name, stats in d.items():
            if name.endswith("time_s"):
                print(f"   {'exact solve time':44s} median={stats['median']:.2f} s  "
                      f"max={stats['max']:.2f} s")
            else:
                print("   " + fmt(name, stats))
    dflt = default_gaps(args.default)
    print(f"Default scenario (K=5, M=N=20, 55 pairs), seeds 0..{args.default - 1}:")
    print("   " + fmt("heuristic_vs_bound (upper bound on the gap)", dflt["heuristic_vs_bound"]))
    tt = dflt["solve_with_bound_time_s"]
    label = 'solve(bound="relaxation") time'
    print(f"   {label:44s} median={tt['median']:.2f} s  max={tt['max']:.2f} s")
    agree = backend_agreement(args.agreement) if args.agreement else None
    if agree is not None:
        print(f"Backend agreement on {args.agreement} random power subproblems "
              f"(statuses: {', '.join(agree['statuses'])}):")
        for name in ("cvxpy_rel_diff", "pyomo_rel_diff"):
            d = agree[name]
            print(f"   {name:44s} median={d['median']:.1e}  max={d['max']:.1e}")
        d = agree["pyomo_oa_iterations"]
        print(f"   {'pyomo OA iterations':44s} median={d['median']:.0f}  max={d['max']:.0f}")
    print(f"total {time.perf_counter() - t0:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"small": small, "default": dflt, "agreement": agree},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
