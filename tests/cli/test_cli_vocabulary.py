"""One command-line vocabulary (sfl_opt.cli.options): the same spelling and meaning of
the shared options in every subcommand, one error style (stderr, exit 2)."""

from __future__ import annotations

import pytest

from sfl_opt.cli import build_parser, main
from sfl_opt.cli.options import parse_seeds

#: subcommand (with its required arguments) -> whether its --seeds must be 0..N-1
SEEDED = {
    ("compare",): False,
    ("sweep", "clients"): False,
    ("figures",): True,
    ("radio-figures",): True,
    ("radio-shares",): False,
    ("replay",): False,
    ("replay-figures",): False,
    ("per-client-gain",): False,
    ("measure-rounds", "--profile", "p.json", "--target-loss", "3"): False,
    ("measure-accuracy", "--profile", "p.json", "--lr", "0.01"): False,
}
PROGRESS = [("compare",), ("sweep", "clients"), ("figures",), ("radio-figures",),
            ("online",), ("replay",), ("per-client-gain",)]


def test_seed_syntax() -> None:
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,4,2") == [0, 4, 2]
    assert parse_seeds("2-4") == [2, 3, 4]
    for bad in ("0", "x", "3-1", "-1", "1,,"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


@pytest.mark.parametrize("cmd", list(SEEDED), ids=" ".join)
@pytest.mark.parametrize("text,seeds", [("3", [0, 1, 2]), ("0-2", [0, 1, 2]),
                                        ("0,1,2", [0, 1, 2])])
def test_every_seeded_command_reads_the_same_seeds(cmd, text, seeds) -> None:
    args = build_parser().parse_args([*cmd, "--seeds", text])
    got = args.seeds if isinstance(args.seeds, list) else parse_seeds(args.seeds)
    assert got == seeds


@pytest.mark.parametrize("cmd", [c for c, n in SEEDED.items() if not n], ids=" ".join)
def test_a_seed_list_means_those_seeds(cmd) -> None:
    args = build_parser().parse_args([*cmd, "--seeds", "4,7"])
    got = args.seeds if isinstance(args.seeds, list) else parse_seeds(args.seeds)
    assert got == [4, 7]


@pytest.mark.parametrize("cmd", list(SEEDED), ids=" ".join)
def test_bad_seeds_are_one_line_on_stderr_exit_2(cmd, capsys) -> None:
    code = _code([*cmd, "--seeds", "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("sfl-opt: error: argument --seeds: expected N")


def _code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize("cmd", PROGRESS, ids=" ".join)
def test_every_long_command_takes_no_progress(cmd) -> None:
    args = build_parser().parse_args([*cmd, "--no-progress"])
    assert args.no_progress is True


def test_figure_commands_need_seeds_from_zero(capsys) -> None:
    assert _code(["figures", "--seeds", "3-5", "--serial", "--no-progress",
                  "--out", "/nonexistent/x"]) == 2
    assert "0..N-1" in capsys.readouterr().err


def test_lists_are_comma_separated(tmp_path, monkeypatch) -> None:
    import sfl_opt.cli.experiments as ex

    seen = {}

    def fake(param, values, methods, seeds, **kw):
        seen.update(values=values, methods=methods, seeds=seeds)
        raise SystemExit(0)

    monkeypatch.setattr(ex, "sweep", fake)
    assert _code(["sweep", "p_max", "--values", "0.1,0.4", "--methods",
                  "sflllm,fully_random", "--seeds", "1-2", "--no-progress"]) == 0
    assert seen == {"values": [0.1, 0.4], "methods": ["sflllm", "fully_random"],
                    "seeds": [1, 2]}


def test_clients_is_a_count_and_devices_are_names() -> None:
    p = build_parser()
    assert p.parse_args(["online", "--clients", "6"]).clients == 6
    with pytest.raises(SystemExit):
        p.parse_args(["online", "--devices", "6"])  # no count under the names' option
    assert p.parse_args(["solve", "--clients", "6"]).scn_clients == 6
    assert p.parse_args(["solve", "--devices", "raspberry-pi-5"]).scn_devices == \
        ["raspberry-pi-5"]


def test_dynamic_errors_go_to_stderr(capsys, tmp_path) -> None:
    path = tmp_path / "p.json"
    from sfl_opt import Problem

    path.write_text(Problem.default(0, clients=2, subchannels=3).to_json())
    assert _code(["dynamic", str(path), "--mobility-step", "1"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("sfl-opt: error: --mobility-step")


def test_measure_commands_default_seeds_and_record_them_readably() -> None:
    """measure-*: the shared ``--seeds`` (defaults 3 and 2 seeds from 0); the command
    line they record in a profile reads back as the same seeds."""
    from sfl_opt.cli.harness import _command_line
    from sfl_opt.cli.options import format_seeds

    p = build_parser()
    rounds = p.parse_args(["measure-rounds", "--profile", "p.json", "--target-loss", "3"])
    acc = p.parse_args(["measure-accuracy", "--profile", "p.json", "--lr", "0.01"])
    assert rounds.seeds == [0, 1, 2] and acc.seeds == [0, 1]
    for chosen in ([5], [0, 1, 2], [3, 9]):
        assert parse_seeds(format_seeds(chosen)) == chosen
        rounds.seeds = chosen
        line = _command_line("measure-rounds", rounds).split()
        assert parse_seeds(line[line.index("--seeds") + 1]) == chosen


@pytest.mark.parametrize("command,extra", [
    ("measure-rounds", ["--target-loss", "3"]), ("measure-convergence", ["--out", "runs"]),
    ("measure-accuracy", ["--lr", "0.01"])])
def test_measure_profile_is_a_comma_list_and_the_old_spelling_works(command, extra, tmp_path,
                                                                     capsys) -> None:
    """``--profile a.json,b.json`` like every other list; ``--profile a.json b.json`` (the
    former spelling) reads the same; a file whose name holds a comma stays whole; the
    recorded command line reads back as the same files."""
    from sfl_opt.cli.harness import _command_line

    p = build_parser()
    comma = p.parse_args([command, *extra, "--profile", "a.json,b.json"])
    spaced = p.parse_args([command, *extra, "--profile", "a.json", "b.json"])
    assert comma.profile == spaced.profile == ["a.json", "b.json"]
    odd = tmp_path / "x,y.json"
    odd.write_text("{}")
    assert p.parse_args([command, *extra, "--profile", str(odd)]).profile == [str(odd)]
    line = _command_line(command, comma).split()
    assert p.parse_args([command, *extra, "--profile",
                         line[line.index("--profile") + 1]]).profile \
        == ["a.json", "b.json"]
    with pytest.raises(SystemExit):
        p.parse_args([command, *extra, "--profile", "a.json,,b.json"])
    assert "--profile" in capsys.readouterr().err


@pytest.mark.parametrize("cmd,old,new_ext", [
    (["solve", "--clients", "2", "--subchannels", "3"], "--json", "json"),
    (["dynamic", "SCENARIO", "--rounds", "2"], "--json", "json"),
])
def test_out_replaces_json_and_the_old_spelling_still_works(cmd, old, new_ext, tmp_path,
                                                            capsys) -> None:
    from sfl_opt import Problem

    scenario = tmp_path / "p.json"
    scenario.write_text(Problem.default(0, clients=2, subchannels=3).to_json())
    cmd = [str(scenario) if c == "SCENARIO" else c for c in cmd]
    new, former = tmp_path / f"new.{new_ext}", tmp_path / f"old.{new_ext}"
    assert _code([*cmd, "--out", str(new)]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert _code([*cmd, old, str(former)]) == 0
    err = capsys.readouterr().err
    assert f"sfl-opt: note: {old} is deprecated, use --out" in err
    assert former.read_text() == new.read_text() or new_ext == "json"
    assert former.stat().st_size > 0
    assert old not in build_parser()._subparsers._group_actions[0].choices[
        cmd[0]].format_help()  # hidden


def test_compare_csv_is_out(tmp_path, capsys, monkeypatch) -> None:
    import sfl_opt.cli.experiments as ex

    written = []
    monkeypatch.setattr(ex, "compare", lambda *a, **k: _FakeTable(written))
    monkeypatch.setattr(ex, "format_compare", lambda *a, **k: "table")
    assert _code(["compare", "--seeds", "1", "--no-progress", "--serial",
                  "--out", str(tmp_path / "a.csv")]) == 0
    assert _code(["compare", "--seeds", "1", "--no-progress", "--serial",
                  "--csv", str(tmp_path / "b.csv")]) == 0
    assert written == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    assert "--csv is deprecated, use --out" in capsys.readouterr().err


class _FakeTable(list):
    def __init__(self, sink: list) -> None:
        super().__init__()
        self.sink = sink

    def to_csv(self, path):
        self.sink.append(str(path))
        return path

    def failed(self):
        return []


def test_help_defaults_come_from_their_declarations() -> None:
    """Every default a help text shows for a solve option or a scenario option is the
    one its declaration holds (methods.registry.DEFAULTS / a method's Option /
    model.scenario.DEFAULTS)."""
    import inspect

    import sfl_opt
    from sfl_opt import Problem
    from sfl_opt.cli.options import default_text
    from sfl_opt.methods import METHODS
    from sfl_opt.methods.registry import DEFAULTS
    from sfl_opt.model.scenario import DEFAULTS as SCENARIO

    solve = build_parser()._subparsers._group_actions[0].choices["solve"]
    helps = {a.option_strings[0]: a.help or "" for a in solve._actions if a.option_strings}
    truth = {"--seed": DEFAULTS["seed"], "--kicks": DEFAULTS["kicks"],
             "--max-iter": DEFAULTS["max_iter"], "--max-moves": DEFAULTS["max_moves"],
             "--time-limit": DEFAULTS["time_limit"],
             "--rank": next(o.default for o in METHODS["fixed_rank"].own if o.name == "rank"),
             "--mode": METHODS["sflllm"].modes[0],
             "--method": inspect.signature(sfl_opt.solve).parameters["method"].default,
             "--power": "native",  # solve's backend when none is named (docs/backends.md)
             "--scenario-seed": inspect.signature(Problem.default).parameters["seed"].default,
             "--clients": SCENARIO["clients"], "--subchannels": SCENARIO["subchannels"],
             "--local-iters": SCENARIO["local_iters"], "--batch": SCENARIO["batch"],
             "--noise-figure-db": SCENARIO["noise_figure_db"], "--max-se": SCENARIO["max_se"],
             "--se-attenuation": SCENARIO["se_attenuation"], "--p-total": SCENARIO["p_total"]}
    for flag, value in truth.items():
        assert helps[flag].endswith(f"(default {default_text(value)})"), (flag, helps[flag])
    assert f"refine is {DEFAULTS['refine']}" in helps["--no-refine"]
    # and no help states a default by hand besides: each "(default" is one of those
    import re

    for flag, text in helps.items():
        for shown in re.findall(r"\(default ([^)]*)\)", text):
            assert flag in truth, (flag, shown)


def test_online_help_defaults_come_from_their_declarations() -> None:
    """The online command's help shows the defaults OnlineProblem.default and the command
    actually use (argparse's own default, the scenario's signature, the experiment's V
    sweep), not numbers written by hand."""
    import inspect

    from sfl_opt.cli import online as cli_online
    from sfl_opt.online.problem import OnlineProblem

    online = build_parser()._subparsers._group_actions[0].choices["online"]
    acts = {a.option_strings[0]: a for a in online._actions if a.option_strings}
    sig = inspect.signature(OnlineProblem.default).parameters
    assert acts["--clients"].default == sig["devices"].default
    assert acts["--seed"].default == sig["seed"].default
    text = online.format_help().replace("\n", " ")
    text = " ".join(text.split())
    assert f"number of clients K (default {sig['devices'].default})" in text
    assert f"(default {sig['energy_budget'].default:g};" in text
    sweep = ",".join(f"{v:g}" for v in cli_online.EXP_VS)
    assert f"--sweep (default {sweep})" in text
    assert f"(default {acts['--out'].default})" in text


def test_radio_shares_writes_the_table_it_prints(tmp_path, cli) -> None:
    """``radio-shares --out`` writes one CSV row per radio model holding the numbers the
    printed table shows; the first row's delay is an independent solve's, and the stage
    shares of each row partition T_total."""
    import csv

    from sfl_opt import Problem, solve

    out = tmp_path / "shares.csv"
    code, text, _ = cli("radio-shares", "--seeds", "1", "--out", out)
    assert code == 0 and f"wrote {out}" in text
    rows = list(csv.DictReader(out.open()))
    printed = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == len(printed) - 1 == 4
    assert float(rows[0]["mean_delay_s"]) == pytest.approx(
        solve(Problem.default(0), seed=0).delay, rel=1e-12)
    for row, line in zip(rows, printed[1:], strict=True):
        assert line.startswith(f"| {row['config']} | {float(row['mean_delay_s']):,.1f} |")
        parts = ("client_fwd_uplink", "server", "downlink_client_bwd", "adapter_upload")
        assert sum(float(row[k]) for k in parts) == pytest.approx(1.0)
    code, _, err = cli("radio-shares", "--seeds", "1", "--out", tmp_path)  # a folder
    assert code == 2 and "--out" in err
