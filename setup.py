"""Build hook: ship the repository's measured profiles inside the package.

``profiles/`` at the top level stays the one source (the harness writes there); building
the package (wheel, sdist install) copies its ``*.json`` into ``sfl_opt/_profiles/``,
which :mod:`sfl_opt.profiles` reads through ``importlib.resources`` when the source
folder is not next to the package (a non-editable install). Metadata: setup.cfg.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithProfiles(build_py):
    """``build_py`` that also copies ``profiles/*.json`` to ``sfl_opt/_profiles/``."""

    def run(self) -> None:
        super().run()
        src = Path(__file__).resolve().parent / "profiles"
        dst = Path(self.build_lib) / "sfl_opt" / "_profiles"
        dst.mkdir(parents=True, exist_ok=True)
        for path in sorted(src.glob("*.json")):
            shutil.copy2(path, dst / path.name)


setup(cmdclass={"build_py": BuildPyWithProfiles})
