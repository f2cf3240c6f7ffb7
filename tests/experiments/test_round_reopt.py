"""The fast path of the per-round re-optimisation under fading (issue 20):
``RoundReoptimiser`` gives bit for bit the points of the fresh ``adaptive_point`` on
the round's prepared links, and ``simulate_training``'s adaptive runs use it."""

from __future__ import annotations

import numpy as np
import pytest

from sfl_opt import Problem, ValidationError, evaluate, solve
from sfl_opt.engine.prepared import LinkPoint, prepare
from sfl_opt.experiments.dynamic import RoundReoptimiser, adaptive_point, simulate_training
from sfl_opt.model.fading import GaussMarkovFading, with_gains


def _held(res) -> dict[str, LinkPoint]:
    held = {"s": LinkPoint(res.assign_s, res.psd_s, np.nan),
            "f": LinkPoint(res.assign_f, res.psd_f, np.nan)}
    if res.assign_d is not None:
        held["d"] = LinkPoint(res.assign_d, res.psd_d, np.nan)
    return held


def _same(a: dict[str, LinkPoint], b: dict[str, LinkPoint]) -> None:
    assert a.keys() == b.keys()
    for n in a:
        assert np.array_equal(a[n].assign, b[n].assign), n
        assert np.array_equal(a[n].psd, b[n].psd), n
        assert a[n].t == b[n].t, n


@pytest.mark.parametrize("kw,kicks,rho", [
    ({"clients": 8, "subchannels": 24, "downlink": "allocated", "subchannels_d": 24}, 0, 0.0),
    ({"clients": 6, "subchannels": 18}, 3, 0.9),
    ({"clients": 5, "subchannels": 12, "downlink": "allocated", "band": "shared"}, 0, 0.5),
])
def test_fast_path_equals_a_fresh_round(kw, kicks, rho):
    pr = Problem.default(1, **kw)
    res = solve(pr)
    prep = prepare(pr)
    p = prep.pair_index(res.split, res.rank)
    held = _held(res)
    reopt = RoundReoptimiser(prep, p, held, kicks=kicks, seed=7)
    fading = GaussMarkovFading(pr, rho, np.random.default_rng(5))
    for _ in range(6):
        g = fading.next()
        fast = reopt(g)
        fresh = adaptive_point(prep.with_gains(g), p, held, kicks=kicks, seed=7)
        _same(fast, fresh)
        # a feasible point of the round's problem, never worse than the held allocation
        dn = {} if "d" not in fast else {"assign_d": fast["d"].assign, "psd_d": fast["d"].psd}
        bd = evaluate(with_gains(pr, g), res.split, res.rank, fast["s"].assign,
                      fast["s"].psd, fast["f"].assign, fast["f"].psd, **dn)
        rp = prep.with_gains(g)
        for n, pt in fast.items():
            q = p if rp.link(n).per_pair else None
            assert pt.t <= rp.link(n).exact_power(held[n].assign, q).t * (1 + 1e-12)
        assert np.isfinite(bd.total)


def test_simulate_training_adaptive_uses_the_same_points():
    pr = Problem.default(0, clients=5, subchannels=15, downlink="allocated")
    run = simulate_training(pr, seed=2, policy="adaptive", rounds=4, rho=0.3)
    res = solve(pr)
    prep = prepare(pr)
    p = prep.pair_index(res.split, res.rank)
    fading = GaussMarkovFading(pr, 0.3, np.random.default_rng([2, 140]))
    for t in range(4):
        g = fading.next()
        pts = adaptive_point(prep.with_gains(g), p, _held(res))
        bd = evaluate(with_gains(pr, g), res.split, res.rank, pts["s"].assign, pts["s"].psd,
                      pts["f"].assign, pts["f"].psd, assign_d=pts["d"].assign,
                      psd_d=pts["d"].psd)
        assert run.round_delays[t] == bd.t_round
    assert np.all(run.reopt_time > 0)


def test_reoptimiser_validates_its_inputs():
    pr = Problem.default(0, clients=4, subchannels=8)
    res = solve(pr)
    prep = prepare(pr)
    p = prep.pair_index(res.split, res.rank)
    with pytest.raises(ValidationError, match="^held"):
        RoundReoptimiser(prep, p, {"s": _held(res)["s"]})
    with pytest.raises(ValidationError, match="^p"):
        RoundReoptimiser(prep, prep.P, _held(res))
    reopt = RoundReoptimiser(prep, p, _held(res))
    with pytest.raises(ValidationError, match=r"^gains\[s\]"):
        reopt({"s": np.ones((4, 9)), "f": pr.gain_f})
