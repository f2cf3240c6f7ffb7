"""A built wheel (non-editable install) finds the measured profiles and gives the same
default scenario and delay as the source tree (issue 11: 29,671 s instead of 590.6 s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sfl_opt import Problem, solve
from sfl_opt.model.profiles import PROFILES_DIR, bundled_profile_path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("sfl_opt", "profiles", "setup.py", "setup.cfg", "pyproject.toml", "README.md",
           "MANIFEST.in")


def test_bundled_profile_is_found_in_the_source_tree():
    path = bundled_profile_path()
    assert path is not None and path.parent == PROFILES_DIR
    assert Problem.default(0).rounds_source.startswith("measured: cpu-gpt2-small.json")


@pytest.mark.slow
def test_wheel_install_finds_the_profiles_and_gives_the_same_delay(tmp_path):
    # build the wheel from a copy of the sources (the build leaves nothing in the tree)
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        s = ROOT / name
        if s.is_dir():
            shutil.copytree(s, src / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.nbi", "*.nbc", "*.pyc"))
        else:
            shutil.copy2(s, src / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(src)], check=True, timeout=300,
                   capture_output=True)
    wheel = next(wheels.glob("sfl_opt-*.whl"))
    # install it (no dependencies: this interpreter has them) into a separate folder
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, timeout=300, capture_output=True)
    assert not (target / "profiles").exists()   # only the package data can be found
    # the source tree's answer (kernels run here; the installed copy only evaluates)
    p = Problem.default(0)
    res = solve(p)
    point = {"split": res.split, "rank": res.rank, "assign_s": res.assign_s.tolist(),
             "psd_s": res.psd_s.tolist(), "assign_f": res.assign_f.tolist(),
             "psd_f": res.psd_f.tolist()}
    code = (
        "import json, sys\n"
        "import sfl_opt\n"
        "from sfl_opt import Problem, evaluate\n"
        "point = json.loads(sys.stdin.read())\n"
        "p = Problem.default(0)\n"
        "bd = evaluate(p, **point)\n"
        "print(json.dumps({'file': sfl_opt.__file__, 'json': p.to_json(),\n"
        "                  'source': p.rounds_source, 'delay': bd.total}))\n")
    env = {k: val for k, val in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(point), env=env,
                         cwd=tmp_path, check=True, timeout=300, capture_output=True, text=True)
    got = json.loads(out.stdout)
    assert Path(got["file"]).resolve().is_relative_to(target.resolve())
    assert got["source"] == p.rounds_source and got["source"].startswith("measured: ")
    assert got["json"] == p.to_json()
    assert got["delay"] == res.delay
