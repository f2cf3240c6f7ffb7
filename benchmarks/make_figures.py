"""Regenerate the paper's figures into docs/figures/ (same as ``sfl-opt figures``).

    .venv/bin/python benchmarks/make_figures.py            # full grids, 10 seeds
    .venv/bin/python benchmarks/make_figures.py --quick    # 3 values per parameter, 2 seeds

Every figure is written as PNG and PDF with the CSV of what it draws beside it; the raw
runs of each sweep are written as ``*_runs.csv``. Runs go through a 2-process pool by
default (``--serial``, ``--workers N`` or ``--dask tcp://scheduler:8786`` otherwise).
"""

from __future__ import annotations

import sys

from sfl_opt.cli import main

if __name__ == "__main__":
    sys.exit(main(["figures", *sys.argv[1:]]))
