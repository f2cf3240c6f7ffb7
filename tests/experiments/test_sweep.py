"""Parameter sweeps: the grid, determinism across executors, the CSV round trip."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sfl_opt import Problem, solve
from sfl_opt.experiments.sweep import (
    PARAMS,
    SweepRow,
    SweepTable,
    make_tasks,
    scenario_kwargs,
    sweep,
)

METHODS = ["sflllm", "fully_random", "equal_power"]
GRID = dict(param="clients", values=[3, 2], methods=METHODS, seeds=[1, 0])


@pytest.fixture(scope="module")
def serial() -> SweepTable:
    return sweep(**GRID, executor="serial", progress=False)


def test_table_shape_order_and_values(serial: SweepTable) -> None:
    assert len(serial) == 2 * 3 * 2
    keys = [(r.value, r.method, r.seed) for r in serial.rows]
    assert keys == sorted(keys)
    assert serial.values() == [2.0, 3.0]
    # each row is the run it names (independent: solve directly)
    for r in serial.select(value=3.0, seed=1):
        direct = solve(Problem.default(1, clients=3), r.method, seed=1)
        assert r.delay == direct.delay and (r.split, r.rank) == (direct.split, direct.rank)
        assert r.status == direct.status and r.status in ("feasible", "optimal") and r.time > 0


def test_same_seeds_same_table_serial_and_pool(serial: SweepTable) -> None:
    again = sweep(**GRID, executor="serial", progress=False)
    assert again == serial
    pooled = sweep(**GRID, progress=False)  # default: ProcessPoolExecutor(2)
    assert pooled == serial
    with ThreadPoolExecutor(2) as ex:
        assert sweep(**GRID, executor=ex, progress=False) == serial
    # a different seed set gives a different table
    assert sweep(**{**GRID, "seeds": [2]}, executor="serial", progress=False) != serial


def _dask_table(processes: bool) -> SweepTable:
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    extra = {} if processes else {"protocol": "tcp"}
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, worker_dashboard_address=None,
                      processes=processes, **extra) as cluster, Client(cluster) as client:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        return sweep(**GRID, executor=client.get_executor(), progress=False)


def test_dask_threads_on_loopback(serial: SweepTable) -> None:
    assert _dask_table(processes=False) == serial


@pytest.mark.slow
def test_dask_worker_processes_on_loopback(serial: SweepTable) -> None:
    assert _dask_table(processes=True) == serial


def test_csv_round_trip(serial: SweepTable, tmp_path) -> None:
    path = serial.to_csv(tmp_path / "sub" / "clients.csv")
    back = SweepTable.from_csv(path)
    assert back == serial
    assert [r.time for r in back.rows] == [r.time for r in serial.rows]
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(SweepTable.columns) and len(lines) == len(serial) + 1
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="^path"):
        SweepTable.from_csv(tmp_path / "bad.csv")


def test_equality_ignores_time_only(serial: SweepTable) -> None:
    rows = list(serial.rows)
    r0 = rows[0]
    timed = SweepTable([SweepRow(**{**r0.__dict__, "time": 123.0})] + rows[1:])
    assert timed == serial
    moved = SweepTable([SweepRow(**{**r0.__dict__, "delay": r0.delay * (1 + 1e-15)})]
                       + rows[1:])
    assert moved != serial


def test_progress_bar_shows(capsys) -> None:
    sweep("p_max", [0.2], ["fully_random"], seeds=[0], executor="serial", progress=True)
    err = capsys.readouterr().err
    assert "sweep p_max" in err and "1/1" in err


def test_scenario_kwargs_map_to_problem() -> None:
    for param, value, check in (
        ("clients", 7, lambda p: p.K == 7),
        ("subchannel_bw", 2e6, lambda p: np.all(p.bw_s == 2e6) and np.all(p.bw_f == 2e6)),
        ("p_max", 0.1, lambda p: np.all(p.p_max == 0.1)),
        ("server_flops", 20e12, lambda p: p.server_flops == 20e12),
        ("local_iters", 10, lambda p: p.local_iters == 10),
        ("seq", 256, lambda p: "seq=256" in p.workload.source),
    ):
        assert check(Problem.default(0, **scenario_kwargs(param, value))), param
    # client compute: the default range scaled so that its midpoint is the value
    lo, hi = scenario_kwargs("client_flops", 1.2e12)["client_flops"]
    assert (lo, hi) == pytest.approx((0.4e12, 2.0e12))
    assert (lo + hi) / 2 == pytest.approx(1.2e12)
    p = Problem.default(0, **scenario_kwargs("client_flops", 1.2e12))
    assert np.all((p.client_flops >= lo) & (p.client_flops <= hi))
    # the swept value changes the answer in the expected direction
    slow = solve(Problem.default(0, **scenario_kwargs("seq", 1024)), seed=0).delay
    fast = solve(Problem.default(0, **scenario_kwargs("seq", 256)), seed=0).delay
    assert slow > fast
    assert set(PARAMS) == {"clients", "subchannel_bw", "p_max", "client_flops", "server_flops",
                           "local_iters", "seq"}


@pytest.mark.parametrize("kwargs, field", [
    (dict(param="batch"), "param"),
    (dict(values=[]), "values"),
    (dict(values=[2.5]), "values"),
    (dict(values=[0]), "values"),
    (dict(methods=["nope"]), "methods"),
    (dict(methods=[]), "methods"),
    (dict(seeds=[-1]), "seeds"),
    (dict(seeds=[]), "seeds"),
    (dict(base={"clients": 4}), "base"),
])
def test_bad_input_names_the_field(kwargs, field) -> None:
    args = {**GRID, **kwargs}
    with pytest.raises(ValueError, match=f"^{field}"):
        make_tasks(args["param"], args["values"], args["methods"], args["seeds"],
                   args.get("base"))
    if field == "values":
        return
    with pytest.raises(ValueError, match=f"^{field}"):
        sweep(**args, executor="serial", progress=False)


def test_bad_executor() -> None:
    with pytest.raises(ValueError, match="^executor"):
        sweep(**GRID, executor="threads", progress=False)


def test_base_and_solve_options_are_applied() -> None:
    t = sweep("p_max", [0.3], ["sflllm"], seeds=[0], executor="serial", progress=False,
              base={"clients": 3}, solve_options={"mode": "bcd"})
    direct = solve(Problem.default(0, clients=3, p_max=0.3), seed=0, mode="bcd")
    assert t.rows[0].delay == direct.delay
