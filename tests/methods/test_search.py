"""The default ``solve()`` is exact on a fixed sample of the wide small-instance
distribution (issue 10): every link there is solved by the subset DP, every pair's
lower-bound pruning is valid, so the answer must equal the enumeration oracle's."""

from __future__ import annotations

import numpy as np
import pytest

from sfl_opt import solve
from sfl_opt.testing import enumerate_optimum, wide_problem


@pytest.mark.slow
def test_default_solve_exact_on_a_wide_sample() -> None:
    gaps = []
    for seed in range(40):
        p = wide_problem(seed)
        gaps.append(solve(p).delay / enumerate_optimum(p).delay - 1)
    gaps = np.array(gaps)
    assert gaps.min() >= -1e-9  # never below the optimum (the oracle is exact)
    assert gaps.max() <= 1e-9, np.flatnonzero(gaps > 1e-9)


def test_wide_sample_covers_the_distribution() -> None:
    """The sample spans what it claims: K up to 4, M up to 7, 60+ dB of mean gain,
    10x bandwidths, a binding and an infinite total cap, rescaled units."""
    ps = [wide_problem(s) for s in range(40)]
    assert max(p.K for p in ps) == 4 and max(p.M for p in ps) == 7
    snr = np.log10(np.concatenate([p.gain_s.mean(axis=1) / p.noise_psd for p in ps]))
    assert snr.max() - snr.min() > 6  # over 60 dB of mean gain across the clients
    assert max(p.bw_s.max() / p.bw_s.min() for p in ps) > 5
    assert any(np.isinf(p.p_total_s) for p in ps)
    assert any(p.p_total_s < p.p_max.sum() for p in ps)
    assert len({p.noise_psd for p in ps}) > 1
