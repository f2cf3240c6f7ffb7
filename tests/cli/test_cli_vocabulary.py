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
