"""Which catalogue presets have their optimum at a split > 1 (README, "When split and
rank matter").

    python benchmarks/split_presets.py [--seeds 3] [--batch 8]

Solves ``Problem.default(seed, devices=D, server=S, clients=K,
subchannels=max(20, K), batch=b)`` for every device and server of
``sfl_opt.model.hardware`` and K in {5, 10, 20}, and prints per preset the compute-threshold
side (``hardware.split_side``), the chosen (split, rank) per seed, the largest split
that fits the devices' memory and the delay gained over the best split-1 point.
About 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
from tqdm.auto import tqdm

from sfl_opt import Problem, solve
from sfl_opt.model.hardware import DEVICES, SERVERS, split_side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    grid = list(itertools.product(DEVICES, SERVERS, (5, 10, 20)))
    lines = []
    for dev, srv, k in tqdm(grid, desc="presets"):
        picks, gains, fits = [], [], []
        for seed in range(args.seeds):
            p = Problem.default(seed, devices=dev, server=srv, clients=k,
                                subchannels=max(20, k), batch=args.batch)
            r = solve(p, seed=seed, prune=False)
            picks.append(f"({r.split}, {r.rank})")
            first = r.grid[0]
            gains.append(1 - r.delay / first.min() if np.isfinite(first).any() else np.nan)
            fits.append(int(p.splits[np.isfinite(r.grid).any(axis=1)].max()))
        mark = "*" if any(x.split(",")[0] != "(1" for x in picks) else " "
        lines.append(f"{mark} {dev:22} {srv:5} K={k:<3} side={split_side(dev, srv, k):5} "
                     f"(split, rank) {' '.join(picks)}  largest fitting split {min(fits)}  "
                     f"gain over split 1 {np.nanmax(gains):.2%}")
    print("\n".join(lines))
    print("* = a split > 1 for some seed")


if __name__ == "__main__":
    main()
