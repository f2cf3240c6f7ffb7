"""Discoverable options: every method declares its options once (default, unit, doc);
``available_methods``, ``show_options`` and ``SolveResult.options`` read them."""

from __future__ import annotations

import importlib.util
import json

import pytest

import sfl_opt
from sfl_opt import solve
from sfl_opt.methods import METHODS
from sfl_opt.methods.registry import COMMON_OPTIONS, DEFAULTS, Options


def test_available_methods_lists_the_installed_ones() -> None:
    names = sfl_opt.available_methods()
    assert names[0] == "sflllm" and "exact" in names and "fully_random" in names
    have_pyomo = all(importlib.util.find_spec(m) for m in ("pyomo", "highspy"))
    assert ("milp" in names) == bool(have_pyomo)
    assert set(names) <= set(METHODS)


def test_every_option_is_declared_with_a_doc() -> None:
    for spec in METHODS.values():
        for opt in spec.option_table().values():
            assert opt.doc, (spec.name, opt.name)
        assert spec.options == tuple(o.name for o in spec.own)


def test_defaults_are_defined_once() -> None:
    # Options (what a method receives) takes its defaults from the one table
    o = Options()
    for name in ("refine", "max_iter", "max_moves", "prune", "time_limit", "seed"):
        assert getattr(o, name) == DEFAULTS[name] == COMMON_OPTIONS[name].default


def test_show_options_names_every_option_with_its_default() -> None:
    text = sfl_opt.show_options("sflllm", disp=False)
    for name in ("seed", "refine", "max_iter", "max_moves", "prune", "kicks", "time_limit",
                 "start", "fading", "samples", "large_scale"):
        assert f"  {name} " in text
    assert "default 10_000" in text and "default 20" in text and "[s]" in text
    assert "modes nested, bcd (default nested)" in text
    fr = sfl_opt.show_options("fixed_rank", disp=False)
    assert "rank" in fr and "median" in fr
    with pytest.raises(sfl_opt.BackendError, match="available: "):
        sfl_opt.show_options("nope")


def test_show_options_prints(capsys) -> None:
    assert sfl_opt.show_options("exact") is None
    out = capsys.readouterr().out
    assert out.startswith("exact: ") and "time_limit" in out and "refine" not in out


def test_result_records_the_options_that_ran(tiny_problem) -> None:
    res = solve(tiny_problem)
    o = res.options
    assert o["mode"] == "nested" and o["power"] == "native" and o["bound"] == "native"
    assert o["refine"] is True and o["max_moves"] == 10_000 and o["prune"] is True
    assert o["kicks"] > 0  # the automatic choice on a small link, resolved
    assert "max_iter" not in o  # bcd only
    assert o["samples"] == 32 and o["fading"] is None
    bcd = solve(tiny_problem, mode="bcd", kicks=0, seed=5, bound=False).options
    assert bcd["mode"] == "bcd" and bcd["max_iter"] == 20 and bcd["kicks"] == 0
    assert bcd["seed"] == 5 and bcd["bound"] is False and "prune" not in bcd
    fr = solve(tiny_problem, "fixed_rank", rank=8).options
    assert fr["rank"] == 8
    eq = solve(tiny_problem, "fully_random", seed=3).options
    assert eq == {"seed": 3, "time_limit": None, "bound": "native"}
    json.loads(res.to_json())["options"]  # serialisable


def test_rerunning_with_the_recorded_options_gives_the_same_answer(tiny_problem) -> None:
    res = solve(tiny_problem, "random_split", seed=2)
    kw = {k: v for k, v in res.options.items() if k not in ("power",)}
    again = solve(tiny_problem, "random_split", **kw)
    assert again.delay == res.delay and again.split == res.split
