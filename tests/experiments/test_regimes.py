"""When split and rank matter (sfl_opt.experiments.regimes, the three figures of SPEC §8.2)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sfl_opt import Problem, solve
from sfl_opt.experiments.plots import plot_ablation_shares, plot_rank_tokens, plot_split_map
from sfl_opt.experiments.regimes import (
    DECISIONS,
    ablation,
    rank_by_tokens,
    shapley_shares,
    split_map,
)


def _orderings_average(value: dict[frozenset[str], float]) -> dict[str, float]:
    """Shapley values by brute force: the mean marginal contribution over orderings."""
    phi = dict.fromkeys(DECISIONS, 0.0)
    perms = list(itertools.permutations(DECISIONS))
    for order in perms:
        have: frozenset[str] = frozenset()
        for x in order:
            phi[x] += (value[have | {x}] - value[have]) / len(perms)
            have = have | {x}
    return phi


def test_shapley_against_orderings_and_an_additive_game() -> None:
    rng = np.random.default_rng(0)
    subsets = [frozenset(s) for n in range(4) for s in itertools.combinations(DECISIONS, n)]
    for _ in range(5):
        value = {s: (0.0 if not s else float(rng.uniform(0, 10))) for s in subsets}
        phi = shapley_shares(value)
        want = _orderings_average(value)
        for x in DECISIONS:
            assert phi[x] == pytest.approx(want[x], rel=1e-12, abs=1e-12)
        assert sum(phi.values()) == pytest.approx(value[frozenset(DECISIONS)], rel=1e-12)
    a = {"rank": 3.0, "allocation": 5.0, "split": 1.0}
    additive = {s: sum(a[x] for x in s) for s in subsets}
    assert shapley_shares(additive) == pytest.approx(a)


def test_ablation_ends_are_fully_random_and_sflllm() -> None:
    p = Problem.default(1, clients=3, subchannels=6, layers=4, hidden=256, seq=128,
                        profile=None)
    ab = ablation(p, seed=2, label="x")
    fr = solve(p, "fully_random", seed=2)
    assert ab.delays[frozenset()] == pytest.approx(fr.delay, rel=1e-12)
    full = solve(p, kicks=0, prune=False)
    assert ab.delays[frozenset(DECISIONS)] == pytest.approx(full.delay, rel=1e-9)
    # optimising more decisions never hurts; shares sum to one
    for s, d in ab.delays.items():
        for x in DECISIONS:
            assert ab.delays[s | {x}] <= d * (1 + 1e-12)
    assert sum(ab.shares.values()) == pytest.approx(1.0, rel=1e-12)
    assert 0 < ab.reduction < 1


def test_split_map_follows_the_threshold_far_from_it(tmp_path) -> None:
    server = 40e12
    cells = split_map([0.5e12, 60e12], [2, 8], server_flops=server, progress=False,
                      base={"subchannels": 8})
    for c in cells:
        ratio = c.client_flops / (server / c.clients)
        if ratio < 0.2:
            assert c.side == "first" and c.split == 1
        elif ratio > 5:
            assert c.side == "last" and c.split == c.last
    paths = plot_split_map(cells, tmp_path / "m", server_flops=server, server_name="S",
                           devices={"a": 1e12, "b": 1.05e12})
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert len(rows) == 1 + len(cells) and all(p.exists() for p in paths)


def test_rank_by_tokens_and_ablation_figures_write_their_data(tmp_path) -> None:
    pts = rank_by_tokens([1, 10], [1], [0], base={"clients": 2, "subchannels": 4},
                         progress=False)
    assert [p.tokens for p in pts] == [512, 5120]
    for pt in pts:
        p = Problem.default(0, local_iters=pt.local_iters, batch=1, clients=2, subchannels=4)
        assert solve(p, seed=0).rank == pt.rank
    plot_rank_tokens(pts, tmp_path / "r")
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 3
    p = Problem.default(0, clients=2, subchannels=4)
    abl = [ablation(p, seed=s, label="a") for s in (0, 1)]
    plot_ablation_shares(abl, tmp_path / "a")
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0].startswith("scenario,seed,reduction,share_rank") and len(lines) == 3
