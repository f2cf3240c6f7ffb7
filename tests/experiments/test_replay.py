"""Virtual-time replay (sfl_opt.replay) and robust planning (solve(..., perturbations=))."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sfl_opt.replay import Perturbations, load_trace, replay, save_trace

from sfl_opt import evaluate, solve
from sfl_opt.errors import ValidationError
from sfl_opt.testing import small_problem


@pytest.fixture(scope="module")
def plan():
    p = small_problem(7)
    p = p.replace(rounds=np.array([2.6, 3.0, 4.25])[: p.ranks.size])
    return p, solve(p)


def test_no_perturbation_reproduces_the_planned_delay(plan):
    p, res = plan
    for policy in ("static", "adaptive"):
        r = replay(p, res, None, seeds=range(3), policy=policy)
        if policy == "static":
            np.testing.assert_allclose(r.realised_total, res.delay, rtol=1e-12)
            np.testing.assert_allclose(r.realised_energy, res.energy.total, rtol=1e-12)
        else:  # re-optimising from the plan is never worse
            assert (r.realised_total <= res.delay * (1 + 1e-9)).all()
    run = r.runs[0]
    rounds = float(p.rounds[list(p.ranks).index(res.rank)])
    assert run.round_time.size == int(np.ceil(rounds))
    assert run.progress.sum() == pytest.approx(rounds)


def test_perturbed_replays_are_seeded_distributions(plan):
    p, res = plan
    pert = Perturbations(rho=0.0, jitter=0.3, straggler_prob=0.2, straggler_slowdown=3.0)
    a = replay(p, res, pert, seeds=range(6))
    b = replay(p, res, pert, seeds=range(6))
    np.testing.assert_array_equal(a.realised_total, b.realised_total)
    assert a.realised_total.shape == (6,) and np.unique(a.realised_total).size > 1
    pc = a.percentiles()
    assert pc["time"][5] <= pc["time"][50] <= pc["time"][95]
    # stragglers only slow rounds down: every round at least the plan's compute-free part
    slow = replay(p, res, Perturbations(straggler_prob=0.5, straggler_slowdown=5.0),
                  seeds=range(4))
    assert (slow.realised_total >= res.delay * (1 - 1e-12)).all()


def test_each_round_is_the_model_on_the_rounds_channel(plan):
    p, res = plan
    pert = Perturbations(rho=0.0)
    r = replay(p, res, pert, seeds=[3])
    # round 0 is the problem's own gains: the plan's round time
    assert r.runs[0].round_time[0] == pytest.approx(res.breakdown.t_round, rel=1e-12)


def test_dropouts_are_charged_by_participation(plan):
    p, res = plan
    rounds = float(p.rounds[list(p.ranks).index(res.rank)])
    r = replay(p, res, Perturbations(dropout=0.4), seeds=range(4))
    for run in r.runs:
        share = run.participants.sum(axis=1) / p.K
        np.testing.assert_allclose(run.progress[:-1], share[:-1])
        assert run.progress.sum() == pytest.approx(rounds)
        assert (run.participants.sum(axis=1) >= 1).all()
    w = replay(p, res, Perturbations(dropout=0.4), seeds=range(4), dropouts="wait",
               retry=10.0)
    for run in w.runs:
        assert run.participants.all()
        assert run.wait_time % 10.0 == pytest.approx(0.0, abs=1e-9)


def test_trace_file_round_trip_validation_and_wait(plan, tmp_path):
    p, res = plan
    t_round = res.breakdown.t_round
    on = {0: [(0.0, 0.5 * t_round), (3.0 * t_round, float("inf"))]}
    path = tmp_path / "trace.json"
    save_trace(path, on)
    tr = load_trace(path, p.K)
    assert tr[0][1] == (3.0 * t_round, float("inf"))
    w = replay(p, res, Perturbations(trace=tr), seeds=[0], dropouts="wait")
    # client 0 is off from 0.5 T to 3 T: the second round waits for it
    assert w.runs[0].wait_time == pytest.approx(2.0 * t_round, rel=1e-9)
    d = replay(p, res, Perturbations(trace=tr), seeds=[0], dropouts="drop")
    assert not d.runs[0].participants[1, 0] and d.runs[0].participants[0, 0]
    bad = tmp_path / "bad.json"
    for on_bad, match in (({"9": [[0, 1]]}, "trace"), ({"0": [[2, 1]]}, r"trace\[0\]\[0\]"),
                          ({"0": [[0, 2], [1, 3]]}, r"trace\[0\]\[1\]")):
        bad.write_text(json.dumps({"sfl_opt_trace": 1, "on": on_bad}))
        with pytest.raises(ValidationError, match=match):
            load_trace(bad, p.K)


def test_bad_arguments_are_named(plan):
    p, res = plan
    for kw, field in (({"jitter": -1.0}, "jitter"), ({"dropout": 1.0}, "dropout"),
                      ({"straggler_slowdown": 0.5}, "straggler_slowdown"),
                      ({"rho": 2.0}, "rho")):
        with pytest.raises(ValidationError, match=field):
            Perturbations(**kw)
    with pytest.raises(ValidationError, match="policy"):
        replay(p, res, policy="magic", seeds=[0])
    with pytest.raises(ValidationError, match="seeds"):
        replay(p, res, seeds=[-1])


def test_robust_plan_is_a_valid_point_and_deterministic(plan):
    p, _ = plan
    pert = Perturbations(rho=0.0, jitter=0.4, dropout=0.2)
    a = solve(p, fading="saa", perturbations=pert, samples=8, seed=1)
    b = solve(p, fading="saa", perturbations=pert, samples=8, seed=1)
    assert (a.split, a.rank) == (b.split, b.rank) and a.delay == b.delay
    assert evaluate(p, **a.evaluate_kwargs()).total == a.delay
    assert np.isfinite(a.grid).any() and a.info["saa"]["mean_share"] < 1
    with pytest.raises(ValidationError, match="perturbations"):
        solve(p, perturbations=pert)


def test_process_pool_gives_the_serial_answer(plan):
    p, res = plan
    pert = Perturbations(jitter=0.3, dropout=0.2)
    a = replay(p, res, pert, seeds=range(3))
    b = replay(p, res, pert, seeds=range(3), executor=None, workers=2)
    np.testing.assert_array_equal(a.realised_total, b.realised_total)


def test_cli_replay_and_budget(tmp_path, capsys):
    from sfl_opt.cli import main

    scenario = tmp_path / "p.json"
    p = small_problem(7)
    scenario.write_text(p.to_json())
    out = tmp_path / "r.json"
    assert main(["replay", str(scenario), "--seeds", "0-2", "--jitter", "0.3",
                 "--policy", "adaptive", "--no-progress", "--out", str(out)]) == 0
    txt = capsys.readouterr().out
    assert "predicted" in txt and "p5/p50/p95" in txt
    data = json.loads(out.read_text())
    assert data["settings"]["seeds"] == [0, 1, 2] and len(data["realised_total"]) == 3
    assert main(["solve", "--clients", "2", "--subchannels", "3", "--client-energy",
                 "1e9"]) == 0
    assert "energy per training run" in capsys.readouterr().out
    assert main(["solve", "--client-energy", "1"]) == 2
    assert "client_energy" in capsys.readouterr().err


def test_budget_with_per_client_cuts_is_rejected():
    p = small_problem(1).replace(client_energy=1e9)
    with pytest.raises(ValidationError, match="client_energy"):
        solve(p, split_mode="per_client")


def test_cli_bad_seeds_are_named(capsys):
    from sfl_opt.cli import main

    with pytest.raises(SystemExit) as info:  # a usage error, as every command's
        main(["replay", "--seeds", "x"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("sfl-opt: error: argument --seeds")
