"""Gap of ``solve`` to the enumeration oracle on random small instances.

    python benchmarks/oracle_gaps.py [--dist wide] [--instances 200]

``--dist small`` (the original set): K = 3, M = 5, N = 4, L = 4, ranks (1, 4, 16);
p_total cycles through 0.3, 0.6, inf W. ``--dist wide`` (default, issue 10): K in 2..4,
M and N in K..7, gains over 1e-13..1e-5 with Rayleigh fading, bandwidths differing up
to 10x, p_total inf or binding, some instances with gains and noise rescaled together
(``sfl_opt.testing.wide_problem``). Prints, per variant, the median, 90th percentile
and worst relative gap, the share of instances solved exactly (gap <= 1e-9) and the
median solve time; the oracle (every assignment of both links, exact power, every pair)
is independent of the solver's search.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from tqdm import tqdm

from sfl_opt import solve
from sfl_opt.testing import enumerate_optimum, small_problem, wide_problem

VARIANTS = {"nested (default)": {}, "bcd": {"mode": "bcd"}, "nested, no kicks": {"kicks": 0},
            "nested, no refinement": {"refine": False}}


def instance(dist: str, seed: int):
    if dist == "wide":
        return wide_problem(seed)
    return small_problem(seed, p_total=[0.3, 0.6, math.inf][seed % 3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dist", choices=("wide", "small"), default="wide")
    ap.add_argument("--instances", type=int, default=200)
    args = ap.parse_args()
    gaps: dict[str, list[float]] = {k: [] for k in VARIANTS}
    secs: dict[str, list[float]] = {k: [] for k in VARIANTS}
    solve(instance(args.dist, 0))  # compile outside the timings
    for seed in tqdm(range(args.instances), desc="instances"):
        p = instance(args.dist, seed)
        opt = enumerate_optimum(p).delay
        for name, kw in VARIANTS.items():
            t0 = time.perf_counter()
            d = solve(p, **kw).delay
            secs[name].append(time.perf_counter() - t0)
            gaps[name].append(d / opt - 1)
    print(f"gap to the exact optimum over {args.instances} instances (--dist {args.dist}):")
    for name, g in gaps.items():
        a = np.array(g)
        print(f"  {name:24s} median {np.median(a):.3%}  p90 {np.percentile(a, 90):.3%}  "
              f"worst {a.max():.3%}  optimal in {(a <= 1e-9).sum()}/{a.size}  "
              f"median time {np.median(secs[name]) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
