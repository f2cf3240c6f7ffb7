"""Second-edition options of Problem.default (SPEC §8.2, §8.3) and their CLI flags."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import sfl_opt
from sfl_opt import Problem, ValidationError, solve
from sfl_opt.cli import main
from sfl_opt.model.hardware import DEVICES, SERVERS
from sfl_opt.model.memory import memory_table
from sfl_opt.model.scenario import DEFAULTS


def test_defaults_keep_the_first_edition_scenario() -> None:
    p = Problem.default(0)
    assert p.splits.tolist() == list(range(1, 12))
    assert np.isinf(p.client_memory).all()
    assert p.noise_psd == pytest.approx(10 ** (-174 / 10) * 1e-3, rel=1e-12)
    assert p.server_flops == 50e12
    assert np.all((p.client_flops >= 0.2e12) & (p.client_flops <= 1e12))


def test_noise_figure_scales_the_noise_floor() -> None:
    a, b = Problem.default(0), Problem.default(0, noise_figure_db=9.0)
    nf0 = DEFAULTS["noise_figure_db"]
    assert b.noise_psd / a.noise_psd == pytest.approx(10 ** ((9.0 - nf0) / 10), rel=1e-12)
    assert np.array_equal(a.gain_s, b.gain_s)  # same channel draw
    assert np.all(b.rate_down <= a.rate_down) and np.any(b.rate_down < a.rate_down)  # capped
    assert solve(b).delay > solve(a).delay
    with pytest.raises(ValidationError, match="^noise_figure_db"):
        Problem.default(0, noise_figure_db=-1.0)


def test_split_min_is_a_privacy_floor() -> None:
    p = Problem.default(0, split_min=4)
    assert p.splits.tolist() == list(range(4, 12))
    assert solve(p).split >= 4
    for bad in (0, 12):
        with pytest.raises(ValidationError, match="^split_min"):
            Problem.default(0, split_min=bad)


def test_devices_and_server_come_from_the_catalogue() -> None:
    names = ["laptop-rtx-4060", "raspberry-pi-5"]
    p = Problem.default(0, devices=names, server="H100")
    want = [DEVICES[names[k % 2]] for k in range(p.K)]
    assert p.client_flops.tolist() == [d.flops for d in want]
    assert p.client_memory.tolist() == [d.memory for d in want]
    assert p.server_flops == SERVERS["H100"].flops
    q = Problem.default(0)
    assert np.array_equal(p.gain_s, q.gain_s) and np.array_equal(p.rate_down, q.rate_down)
    one = Problem.default(0, devices="jetson-orin-nano-8gb")
    assert np.all(one.client_flops == DEVICES["jetson-orin-nano-8gb"].flops)
    assert one.server_flops == 50e12  # no server given: the old default
    # an explicit client_memory replaces the devices' memory
    assert Problem.default(0, devices=names, client_memory=2e9).client_memory.tolist() == \
        [2e9] * p.K
    with pytest.raises(ValidationError, match="^devices"):
        Problem.default(0, devices="toaster")
    with pytest.raises(ValidationError, match="^server"):
        Problem.default(0, server="cray")
    with pytest.raises(ValidationError, match="^client_flops"):
        Problem.default(0, devices=names, client_flops=(1e12, 2e12))
    with pytest.raises(ValidationError, match="^server_flops"):
        Problem.default(0, server="L4", server_flops=1e12)


def test_client_memory_caps_the_split() -> None:
    p = Problem.default(0, devices="jetson-agx-orin-64gb", server="L4", batch=32)
    need = memory_table(p.workload, p.batch, p.splits, p.ranks)
    cap = float(need[5].max())  # splits 1..6 fit at every rank
    q = Problem.default(0, devices="jetson-agx-orin-64gb", server="L4", batch=32,
                        client_memory=cap)
    r = solve(q)
    assert r.split <= 6
    assert q.memory_need(r.split, r.rank)[0] <= cap
    assert np.isinf(r.grid[6:]).all()
    with pytest.raises(ValidationError, match="^client_memory"):
        Problem.default(0, client_memory=1e6)


def test_p_total_inf_variant() -> None:
    p = Problem.default(0, p_total=math.inf)
    assert math.isinf(p.p_total_s) and math.isinf(p.p_total_f)
    r = solve(p)
    assert r.delay <= solve(Problem.default(0)).delay * (1 + 1e-9)


def test_memory_bits_option() -> None:
    a, b = Problem.default(0), Problem.default(0, memory_bits=32)
    assert b.memory_need(6, 4)[0] > 1.8 * a.memory_need(6, 4)[0]
    with pytest.raises(ValidationError, match="^memory_bits"):
        Problem.default(0, memory_bits=8)


def test_submodules_are_exported() -> None:
    assert sfl_opt.model.hardware.DEVICES is DEVICES
    assert callable(sfl_opt.model.memory.memory_need)
    assert "hardware" in sfl_opt.__all__ and "memory" in sfl_opt.__all__


def test_cli_default_and_solve_take_the_scenario_options(capsys, tmp_path) -> None:
    assert main(["default", "--devices", "laptop-rtx-4060", "raspberry-pi-5", "--server", "L4",
                 "--split-min", "2", "--client-memory", "5e9", "--noise-figure-db", "7"]) == 0
    data = json.loads(capsys.readouterr().out)
    q = Problem.from_dict(data)
    p = Problem.default(0, devices=["laptop-rtx-4060", "raspberry-pi-5"], server="L4",
                        split_min=2, client_memory=5e9, noise_figure_db=7.0)
    assert q == p
    assert main(["solve", "--devices", "jetson-agx-orin-64gb", "--server", "L4",
                 "--split-min", "3", "--client-memory", "inf"]) == 0
    out = capsys.readouterr().out
    assert "client memory:" in out and "candidate splits 3..11" in out
    scenario = tmp_path / "s.json"
    scenario.write_text(p.to_json())
    assert main(["solve", str(scenario), "--server", "L4"]) == 2
    assert "scenario" in capsys.readouterr().err
    assert main(["solve", "--client-memory", "1e6"]) == 2
    assert "client_memory" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [0, 1])
def test_catalogue_presets_with_a_split_above_one(seed: int) -> None:
    # compute: capable clients sharing a modest server choose the last split
    p = Problem.default(seed, devices="jetson-agx-orin-64gb", server="L4", clients=10)
    assert solve(p, seed=seed).split == p.splits.max()
    # memory: at batch 32 the Orin Nano's 5 GB caps the split; the optimum is the
    # largest split that fits (compute favours the last one at K = 20)
    q = Problem.default(seed, devices="jetson-orin-nano-8gb", server="L4", clients=20,
                        subchannels=40, batch=32)
    need = memory_table(q.workload, q.batch, q.splits, q.ranks)
    largest = int(q.splits[(need <= q.client_memory.min()).any(axis=1)].max())
    assert 1 < largest < q.splits.max()
    assert solve(q, seed=seed).split == largest
