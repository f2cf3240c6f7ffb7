"""Output files and the command line under stress (issue 20): atomic writes with concurrent
writers, failing before a long run when the output cannot be written, one error for one
cause, a closed pipe, and no gap printed under ``--bound none``."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sfl_opt import Problem
from sfl_opt.cli import main
from sfl_opt.experiments.sweep import SweepRow, SweepTable


def _table(tag: str, n: int = 3000) -> SweepTable:
    return SweepTable([SweepRow(param="clients", value=float(i), method=tag, seed=i,
                                delay=1.0 + i / 7, split=1, rank=4, status="feasible",
                                time=0.1) for i in range(n)])


def test_concurrent_writers_never_leave_a_mixed_or_partial_csv(tmp_path):
    """Two writers of one CSV and a reader: every read is one whole table (before, two
    writers corrupted the file and from_csv read a mix silently)."""
    path = tmp_path / "runs.csv"
    tables = {"a": _table("a"), "b": _table("b")}
    tables["a"].to_csv(path)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(tag: str) -> None:
        try:
            for _ in range(15):
                tables[tag].to_csv(path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    seen = []

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append(SweepTable.from_csv(path))
            except BaseException as exc:
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(t,)) for t in ("a", "b", "a", "b")]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert not errors
    assert seen and all(t == tables["a"] or t == tables["b"] for t in seen)
    assert SweepTable.from_csv(path) in (tables["a"], tables["b"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]  # no temp file left


def test_a_failed_write_leaves_the_old_file(tmp_path):
    from sfl_opt._io import atomic_write

    path = tmp_path / "x.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write("half")
            raise RuntimeError("disk full")
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_every_writer_of_the_package_uses_the_atomic_helper():
    """No module writes an output file in place (open(..., "w"), write_text, savefig to
    a path): the one helper is sfl_opt._io."""
    root = Path(__import__("sfl_opt").__file__).parent
    offenders = []
    for f in root.rglob("*.py"):
        if f.name == "_io.py":
            continue
        text = f.read_text()
        for needle in (".write_text(", '.open("w"', "open(\"w\"", ".savefig(p", "json.dump("):
            if needle in text:
                offenders.append(f"{f.relative_to(root)}: {needle}")
    assert not offenders


@pytest.mark.slow
def test_solve_json_is_written_atomically(tmp_path, capsys):
    out = tmp_path / "res.json"
    assert main(["solve", "--clients", "2", "--subchannels", "3", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["delay"] > 0 and [p.name for p in tmp_path.iterdir()] == ["res.json"]


# ------------------------------------------------------------ fail before the run
def test_sweep_to_an_unwritable_folder_fails_before_running_any_task(tmp_path, capsys,
                                                                       monkeypatch):
    import sfl_opt.cli.experiments as ex

    def boom(*a, **k):
        raise AssertionError("a task ran")

    monkeypatch.setattr(ex, "sweep", boom)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["sweep", "clients", "--values", "2", "--seeds", "1", "--serial",
                 "--out", str(blocker / "sub" / "out.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sfl-opt: error: --out:")


def test_compare_with_a_truncated_profile_prints_one_error(tmp_path, capsys, monkeypatch):
    from sfl_opt.model.profiles import bundled_profile_path

    bad = tmp_path / "truncated.json"
    bad.write_text(bundled_profile_path().read_text()[:300])
    for cmd in (["compare", "--seeds", "5"], ["sweep", "clients", "--values", "2", "3",
                                                 "--out", str(tmp_path / "s.csv")]):
        assert main([*cmd, "--profile", str(bad), "--serial", "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "profile" in err[0] and "truncated.json" in err[0]


# ------------------------------------------------------------ pipes and the report
def test_a_closed_pipe_exits_quietly():
    """``sfl-opt default --clients 200 ... | head -2``: no "Broken pipe", exit 0."""
    code = ("import sys; from sfl_opt.cli import main; "
            "sys.exit(main(['default', '--clients', '200', '--subchannels', '512']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()  # the reader goes away, like head -2
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert first[0].startswith(b"{") and "Broken pipe" not in err and "Traceback" not in err
    assert err == ""


def test_bound_none_prints_no_gap_even_for_a_certifying_method(capsys):
    small = ["--clients", "2", "--subchannels", "3"]
    assert main(["solve", "--method", "exact", "--bound", "none", *small]) == 0
    out = capsys.readouterr().out
    assert "status: optimal" in out and "gap" not in out and "lower bound" not in out
    assert main(["solve", "--method", "exact", *small]) == 0
    assert "optimality gap" in capsys.readouterr().out


def test_an_unknown_power_option_is_one_line_listing_the_options(capsys):
    assert main(["solve", "--clients", "2", "--subchannels", "3", "--power-option",
                 "foo=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sfl-opt: error: power_options:") and "rtol" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_problem_json_file_with_duplicate_keys_is_one_cli_error(tmp_path, capsys):
    p = Problem.default(0, clients=2, subchannels=3)
    path = tmp_path / "dup.json"
    path.write_text(p.to_json(indent=None)[:-1] + ', "batch": 2}')
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch" in err[0]
