"""Gap of ``solve`` to the enumeration oracle on random small instances.

    python benchmarks/oracle_gaps.py [--instances 60]

K = 3, M = 5, N = 4, L = 4, ranks (1, 4, 16); p_total cycles through 0.3, 0.6, inf W.
Prints the median, 90th percentile and worst relative gap for the nested mode, the bcd
mode and the nested mode without kicks.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from sfl_opt import solve
from sfl_opt.testing import enumerate_optimum, small_problem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--instances", type=int, default=60)
    args = ap.parse_args()
    variants = {"nested (default)": {}, "bcd": {"mode": "bcd"},
                "nested, no kicks": {"kicks": 0}, "nested, no refinement": {"refine": False}}
    gaps: dict[str, list[float]] = {k: [] for k in variants}
    for seed in range(args.instances):
        p = small_problem(seed, p_total=[0.3, 0.6, math.inf][seed % 3])
        opt = enumerate_optimum(p).delay
        for name, kw in variants.items():
            gaps[name].append(solve(p, **kw).delay / opt - 1)
    print(f"gap to the exact optimum over {args.instances} instances (K=3, M=5, N=4, L=4):")
    for name, g in gaps.items():
        a = np.array(g)
        print(f"  {name:24s} median {np.median(a):.3%}  p90 {np.percentile(a, 90):.3%}  "
              f"worst {a.max():.3%}  optimal in {(a <= 1e-9).sum()}/{a.size}")


if __name__ == "__main__":
    main()
