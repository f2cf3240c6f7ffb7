"""The ``sfl-opt`` command line: :func:`main` (the console script) and
:func:`build_parser`, assembled in :mod:`.main` from one module per command group
(:mod:`.core`, :mod:`.experiments`, :mod:`.online`, :mod:`.dynamic`, :mod:`.harness`)."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
