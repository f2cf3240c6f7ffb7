"""The online scheduler at the edges of float64 (issue 19, item 4): a band or a deadline of
1e308, a compute-energy coefficient that overflows, and V printed in full."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sfl_opt.cli.online import register
from sfl_opt.errors import NumericalRangeError
from sfl_opt.online import POLICIES, OnlineProblem, simulate, solve_round

LN2 = math.log(2.0)


def _parser():
    parser = argparse.ArgumentParser(prog="sfl-opt")
    register(parser.add_subparsers(dest="command"))
    return parser


@pytest.mark.parametrize("V, text", [("250000", "250000"), ("1234567.5", "1234567.5"),
                                     ("3e20", "3e+20")])
def test_cli_prints_v_in_full(V, text, capsys):
    args = _parser().parse_args(["online", "--clients", "3", "--rounds", "3", "--policy",
                                 "lyapunov", "--V", V, "--sweep", f"{V},7", "--no-progress"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"lyapunov V={text} " in out
    sweep = out.split("V sweep")[1].splitlines()
    assert any(line.startswith(f"{text} ") for line in sweep)


def _gains(p: OnlineProblem, seed: int = 1) -> np.ndarray:
    return p.draw_gains(np.random.default_rng(seed))


def test_band_of_1e308_gives_the_infinite_band_limit():
    """With B = 1e308 Hz every device can take an astronomically wide band: its uplink
    energy tends to p·S·ln2/a (the rate tends to a/ln 2) and the downlink rate to
    (P/K)·g/(N0 ln 2) — closed forms, not the code's rate function."""
    p = OnlineProblem.default(seed=0, devices=4, bandwidth=1e308)
    g = _gains(p)
    a_dl = p.downlink_power / p.K * g / p.noise_psd
    np.testing.assert_allclose(p.downlink_rate(g), a_dl / LN2, rtol=1e-12)
    m = p.round_model(g)
    assert np.isfinite(m.b_min).all() and (m.b_min > 0).all()
    for exact in (False, True):
        d = solve_round(p, g, np.ones(p.K), V=1e4, weight=1.0, exact=exact)
        assert d.scheduled.all() and np.isfinite(d.objective)
        limit = p.compute_energy + p.power * p.bits_up * LN2 / m.snr_bw
        np.testing.assert_allclose(d.energy, limit, rtol=1e-9)
        assert d.bandwidth.sum() <= p.bandwidth * (1 + 1e-12)
    for name in POLICIES:
        tr = simulate(p, name, 1e4, 12, seed=0)
        assert np.isfinite(tr.energy).all() and np.isfinite(tr.queues).all(), name
        assert np.isfinite(tr.objective).all() and tr.deadline_violations == 0, name
        assert tr.participation.min() >= 1, name


def test_deadline_of_1e308_gives_finite_minimum_bands_and_decisions():
    """b^min solves b·log2(1 + a/b) = S/(T − c) where a/b overflows: check it against
    b·(ln a − ln b)/ln 2 written out by hand, then run every policy."""
    p = OnlineProblem.default(seed=0, devices=4, deadline=1e308)
    m = p.round_model(_gains(p))
    b = m.b_min
    assert np.isfinite(b).all() and (b > 0).all()
    by_hand = np.array([bk * (math.log(ak) - math.log(bk)) / LN2
                        for ak, bk in zip(m.snr_bw, b, strict=True)])
    np.testing.assert_allclose(by_hand * (p.deadline - m.fixed_time), m.bits, rtol=1e-9)
    for exact in (False, True):
        d = solve_round(p, _gains(p), np.ones(p.K), V=1e4, exact=exact)
        assert d.scheduled.all() and np.isfinite(d.objective)
    for name in POLICIES:
        tr = simulate(p, name, 1e4, 12, seed=0)
        assert np.isfinite(tr.energy).all() and np.isfinite(tr.queues).all(), name
        assert tr.deadline_violations == 0 and tr.participation.min() >= 1, name


def test_compute_energy_that_overflows_names_kappa():
    with pytest.raises(NumericalRangeError, match="^kappa:") as exc:
        OnlineProblem.default(seed=0, devices=3, kappa=1e300)
    assert exc.value.field == "kappa"
    p = OnlineProblem.default(seed=0, devices=3)
    with pytest.raises(NumericalRangeError, match="^kappa:"):
        p.replace(kappa=np.array([5e-36, 1e300, 5e-36]))


@pytest.mark.parametrize("policy", ["all", "random"])
def test_queue_times_energy_overflow_is_an_error_not_an_inf(policy):
    """κ = 1e140: each round's compute energy (~1e170 J) is finite, but the queue-weighted
    objective Q·E of a baseline overflows in the second round: a NumericalRangeError
    naming kappa."""
    p = OnlineProblem.default(seed=0, devices=3, kappa=1e140)
    assert np.isfinite(p.compute_energy).all()
    with pytest.raises(NumericalRangeError, match="^kappa:"):
        simulate(p, policy, 1e4, 6, seed=0)


def test_lyapunov_stops_scheduling_a_device_whose_queue_cost_overflows():
    """The same scenario under lyapunov: after the first round the queues price every
    device out (Q·E = inf > any penalty), so nobody is scheduled again and the trace
    stays finite."""
    p = OnlineProblem.default(seed=0, devices=3, kappa=1e140)
    tr = simulate(p, "lyapunov", 1e4, 6, seed=0)
    assert tr.participation[0] >= 1 and (tr.participation[1:] == 0).all()
    assert np.isfinite(tr.queues).all() and np.isfinite(tr.objective).all()


_SNIPPET = r"""
import json
import numpy as np
from sfl_opt.online import OnlineProblem, solve_round
out = []
for kw in ({"bandwidth": 1e308}, {"deadline": 1e308}):
    p = OnlineProblem.default(seed=0, devices=4, **kw)
    g = p.draw_gains(np.random.default_rng(1))
    q = np.array([0.0, 1.0, 3.0, 0.5])
    d = solve_round(p, g, q, V=1e4)
    out.append([d.scheduled.tolist(), d.bandwidth.tolist(), d.energy.tolist()])
print(json.dumps(out))
"""


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="compares with the JIT")
def test_extremes_compiled_and_pure_python_agree():
    runs = []
    for disable in (False, True):
        env = dict(os.environ)
        env.pop("NUMBA_DISABLE_JIT", None)
        if disable:
            env["NUMBA_DISABLE_JIT"] = "1"
        proc = subprocess.run([sys.executable, "-c", _SNIPPET], env=env, capture_output=True,
                              text=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for jit, py in zip(*runs, strict=True):
        assert jit[0] == py[0]
        np.testing.assert_allclose(jit[1], py[1], rtol=1e-9)
        np.testing.assert_allclose(jit[2], py[2], rtol=1e-9)
        assert np.isfinite(jit[2]).all()
