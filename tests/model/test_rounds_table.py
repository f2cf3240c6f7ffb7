"""rounds(r, I) from a profile (SPEC §8.1, issue 22): schema-2 tables read as iterations
n = rounds * I, interpolated in log-log, extrapolated (flagged, never clamped), old flat
tables read as measured, and rounds_source naming the protocol."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sfl_opt import Problem, ValidationError
from sfl_opt.model.profiles import PROFILES_DIR, profile_rounds, rounds_at, rounds_protocol

SMALL = PROFILES_DIR / "cpu-gpt2-small.json"
RANKS = [1, 2, 4, 8, 16]
ITERS = [1, 5, 20, 50]
#: synthetic table rounds[r][I]: fewer rounds at larger I and rank
TABLE = {str(r): {str(i): round(60.0 / (r ** 0.4) / (i ** 0.6) + 0.5, 4) for i in ITERS}
         for r in RANKS}


def schema2(tmp_path: Path) -> Path:
    """The bundled profile with a synthetic schema-2 rounds section."""
    data = json.loads(SMALL.read_text())
    data["rounds"] = {
        "schema": 2, "ranks": RANKS, "local_iters": ITERS, "table": TABLE,
        "spread": {str(r): {str(i): 0.1 for i in ITERS} for r in RANKS},
        "per_seed": {}, "reference_local_iters": 50,
        "rounds": [TABLE[str(r)]["50"] for r in RANKS],
        "protocol": {"scaling": "fixed-alpha", "alpha": 8.0,
                     "lr_grid": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
                     "lr": {str(r): 1e-2 / r for r in RANKS}, "seeds": [0, 1, 2],
                     "target_loss": 1.3},
        "measured_on": {"name": "gpt2-syn", "layers": 4, "hidden": 64, "seq": 64},
    }
    path = tmp_path / "syn.json"
    path.write_text(json.dumps(data))
    return path


def hand(r: int, i: float) -> float:
    """Rounds at I by hand: iterations n = rounds * I linear in (ln I, ln n) between the
    measured I; beyond them the edge's iterations (no fitted form), rounds = n / I."""
    xs = ITERS
    n = {x: TABLE[str(r)][str(x)] * x for x in xs}
    if i <= xs[0]:
        return n[xs[0]] / i
    if i >= xs[-1]:
        return n[xs[-1]] / i
    for a, b in zip(xs, xs[1:], strict=False):
        if a <= i <= b:
            t = (math.log(i) - math.log(a)) / (math.log(b) - math.log(a))
            return math.exp((1 - t) * math.log(n[a]) + t * math.log(n[b])) / i
    raise AssertionError


def test_default_reads_rounds_for_its_local_iters(tmp_path: Path) -> None:
    path = schema2(tmp_path)
    p5 = Problem.default(0, profile=path, local_iters=5)
    p50 = Problem.default(0, profile=path, local_iters=50)
    np.testing.assert_allclose(p5.rounds, [TABLE[str(r)]["5"] for r in RANKS], rtol=1e-14)
    np.testing.assert_allclose(p50.rounds, [TABLE[str(r)]["50"] for r in RANKS], rtol=1e-14)
    assert np.all(p5.rounds > p50.rounds)
    assert p5.local_iters == 5 and p50.local_iters == 50
    # the source names the file, the I and the protocol
    src = p50.rounds_source
    assert src.startswith("measured: syn.json, rounds(r, I=50) as measured")
    assert "proxy model gpt2-syn" in src and "fixed-alpha" in src
    assert "lr tuned per rank" in src and "3 seeds" in src


@pytest.mark.parametrize("i", [2, 3, 7, 10, 13, 30, 42])
def test_log_i_interpolation_against_a_hand_computation(tmp_path: Path, i: int) -> None:
    path = schema2(tmp_path)
    got, note = rounds_at(path, RANKS, i)
    np.testing.assert_allclose(got, [hand(r, i) for r in RANKS], rtol=1e-12)
    assert "interpolated in log-log" in note
    p = Problem.default(0, profile=path, local_iters=i, ranks=(16, 1))
    np.testing.assert_allclose(p.rounds, [hand(16, i), hand(1, i)], rtol=1e-12)
    # rounds between the neighbouring measured values
    lo = max(x for x in ITERS if x <= i)
    hi = min(x for x in ITERS if x >= i)
    for r in RANKS:  # iterations between the neighbouring measured iterations
        n = hand(r, i) * i
        a, b = TABLE[str(r)][str(lo)] * lo, TABLE[str(r)][str(hi)] * hi
        assert min(a, b) * (1 - 1e-12) <= n <= max(a, b) * (1 + 1e-12)


def test_extrapolation_is_flagged_not_clamped(tmp_path: Path) -> None:
    path = schema2(tmp_path)
    got, note = rounds_at(path, [4], 200)
    # the iterations of I=50 held: rounds = n(50) / 200, a quarter of rounds(50)
    np.testing.assert_allclose(got, [TABLE["4"]["50"] * 50 / 200], rtol=1e-12)
    assert "EXTRAPOLATED from I=50" in note
    p = Problem.default(0, profile=path, local_iters=200)
    assert "EXTRAPOLATED" in p.rounds_source
    assert p.convergence.extrapolated(4, 200) and not p.convergence.extrapolated(4, 20)
    # reference I when none is given
    np.testing.assert_allclose(profile_rounds(path, [2]), [TABLE["2"]["50"]], rtol=1e-14)


def test_schema2_errors_name_the_field(tmp_path: Path) -> None:
    path = schema2(tmp_path)
    with pytest.raises(ValidationError, match="^ranks"):
        rounds_at(path, [32], 5)
    data = json.loads(path.read_text())
    del data["rounds"]["table"]["4"]["20"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError, match="^profile.rounds.table.4"):
        rounds_at(path, [4], 5)


def test_old_flat_table_is_read_as_measured() -> None:
    # the first edition's flat table, kept in the bundled profile under rounds.previous
    data = json.loads(SMALL.read_text())
    rounds = data["rounds"]
    old = (rounds.get("previous_edition") or rounds)["previous"]
    data["rounds"] = old
    measured = old["settings"]["local_iters"]
    got, note = rounds_at(data, old["ranks"], measured)
    assert got.tolist() == old["rounds"] and "as measured" in note
    got, note = rounds_at(data, old["ranks"], measured * 10)
    assert got.tolist() == old["rounds"]
    assert f"measured at I={measured} only" in note and "unchanged" in note
    assert "one lr" in rounds_protocol(data)


def test_the_local_iters_sweep_reads_the_table(tmp_path: Path) -> None:
    from sfl_opt import solve
    from sfl_opt.experiments.sweep import sweep

    path = schema2(tmp_path)
    base = {"profile": str(path), "clients": 2, "subchannels": 4}
    table = sweep("local_iters", [5, 10], ["fully_random"], seeds=[0], executor="serial",
                  progress=False, base=base)
    for row in table:
        p = Problem.default(0, local_iters=int(row.value), **base)
        np.testing.assert_allclose(p.rounds, [hand(r, row.value) for r in RANKS], rtol=1e-12)
        assert row.delay == solve(p, "fully_random", seed=0).delay


def test_bundled_default_reads_rounds_for_its_local_iters() -> None:
    # the default scenario's rounds follow the bundled table at its I (issue 22: the
    # schema-3 iterations x the calibrated scale / I, log-log between measured I)
    from sfl_opt.profiles import convergence_model

    table = json.loads(SMALL.read_text())["rounds"]
    assert table["schema"] in (2, 3)
    model = convergence_model(SMALL)
    for local_iters in (5, 50, 70):
        p = Problem.default(0, local_iters=local_iters)
        want = [model.rounds(r, local_iters) for r in p.ranks.tolist()]
        np.testing.assert_allclose(p.rounds, want, rtol=1e-14)
        assert f"I={local_iters}" in p.rounds_source
    if table["schema"] == 3:
        assert table["protocol"]["lr_reference"] and "calibrated scale" in p.rounds_source
        # the done-criterion: a real fine-tune, rounds >= 1 for every rank
        assert (Problem.default(0).rounds >= 1).all()
    assert not np.array_equal(Problem.default(0, local_iters=5).rounds,
                              Problem.default(0, local_iters=50).rounds)
