"""The shared vocabulary of the ``sfl-opt`` command line: one spelling and one meaning of
every option that several commands take.

- lists are comma-separated (``--values 1e6,2e6``, ``--ranks 1,4,16``);
- ``--seeds``: ``N`` is seeds 0..N-1, ``a,b,c`` those seeds, ``a-b`` the range a..b
  (inclusive) — :func:`seeds`;
- ``--clients N`` is a count; ``--devices`` catalogue device names;
- ``--out PATH`` the file or folder a command writes; ``--no-progress`` turns progress
  bars off;
- errors: one line ``sfl-opt: error: ...`` on stderr, exit code 2 (:func:`fail`; argparse's
  own usage errors have the same form and code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ..errors import ValidationError

#: the help text of ``--seeds``
SEEDS_HELP = "N (seeds 0..N-1), a list a,b,c or a range a-b"


def parse_seeds(text: str, option: str = "--seeds") -> list[int]:
    """``N`` (seeds 0..N-1, N >= 1), ``a,b,c`` or ``a-b`` (inclusive, seeds >= 0);
    a ValidationError naming ``option`` otherwise."""
    t = str(text).strip()
    try:
        if "," in t:
            out = [int(x) for x in t.split(",")]
        elif "-" in t.lstrip("-"):
            a, b = t.split("-")
            out = list(range(int(a), int(b) + 1))
        else:
            out = list(range(int(t)))
    except ValueError:
        out = []
    if not out or min(out) < 0:
        raise ValidationError(option, f"{SEEDS_HELP} of seeds >= 0", text)
    return out


def seeds(text: str) -> list[int]:
    """argparse type of ``--seeds`` (:func:`parse_seeds`)."""
    try:
        return parse_seeds(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"expected {SEEDS_HELP} of seeds >= 0, got "
                                         f"{text!r}") from None


def format_seeds(chosen: Sequence[int]) -> str:
    """``--seeds`` text that :func:`parse_seeds` reads back as ``chosen`` (a command line
    recorded in a file): ``a,b,c``, one seed ``s`` as the range ``s-s``."""
    vals = [int(x) for x in chosen]
    return f"{vals[0]}-{vals[0]}" if len(vals) == 1 else ",".join(map(str, vals))


def seed_count(chosen: Sequence[int], option: str = "--seeds") -> int:
    """N for a command whose runs take the seeds 0..N-1 (``figures``): the seeds must be
    exactly those."""
    if list(chosen) != list(range(len(chosen))):
        raise ValidationError(option, "seeds 0..N-1 for this command (N, or 0-(N-1))",
                              ",".join(map(str, chosen)))
    return len(chosen)


def comma_list(item: Callable[[str], Any], what: str) -> Callable[[str], list[Any]]:
    """argparse type of a comma-separated list of ``item`` (``what`` names it in errors)."""
    def parse(text: str) -> list[Any]:
        try:
            out = [item(x) for x in str(text).split(",") if x.strip()]
        except ValueError:
            out = []
        if not out:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}")
        return out

    parse.__name__ = f"{what} list"
    return parse


class PathList(argparse.Action):
    """``--profile a.json,b.json`` (the CLI's comma lists); the former space-separated
    spelling ``--profile a.json b.json`` is still accepted (use with ``nargs="+"``). A
    value naming an existing file is kept whole, even with a comma in its name."""

    def __call__(self, parser, namespace, values, option_string=None):
        out: list[str] = []
        for value in values if isinstance(values, list) else [values]:
            if Path(value).exists():
                out.append(value)
                continue
            parts = [x.strip() for x in str(value).split(",")]
            if not all(parts):
                raise argparse.ArgumentError(self, f"expected comma-separated paths, got "
                                                   f"{value!r}")
            out.extend(parts)
        setattr(namespace, self.dest, out)


float_list = comma_list(float, "numbers")
int_list = comma_list(int, "integers")


def add_seeds(p: argparse.ArgumentParser, default: str, what: str = "") -> None:
    """``--seeds`` with the shared syntax; ``default`` in the same syntax."""
    p.add_argument("--seeds", type=seeds, default=seeds(default),
                   help=with_default(f"{SEEDS_HELP}{what}", default))


def add_no_progress(p: argparse.ArgumentParser, text: str = "no progress bar") -> None:
    """``--no-progress`` (``--quiet`` is the former spelling, still accepted)."""
    p.add_argument("--no-progress", action="store_true", dest="no_progress", help=text)
    p.add_argument("--quiet", action="store_true", dest="no_progress",
                   help=argparse.SUPPRESS)


def default_text(value: Any) -> str:
    """How a help text shows a default value: ``%g`` numbers, comma-separated sequences,
    ``None`` as ``None`` (the option's doc says what None means)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ",".join(default_text(x) for x in value)
    return str(value)


def with_default(text: str, value: Any) -> str:
    """``text (default VALUE)``: a help text whose default is read from its source of
    truth (``sfl_opt.methods.registry.DEFAULTS``, a method's ``Option``,
    ``sfl_opt.model.scenario.DEFAULTS``), never written by hand."""
    return f"{text} (default {default_text(value)})"


class _DeprecatedAlias(argparse.Action):
    """A former spelling of an option: stores into the new option's ``dest`` and prints
    a one-line deprecation note on stderr."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "",
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"sfl-opt: note: {option_string} is deprecated, use {self.new}",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_out(p: argparse.ArgumentParser, what: str, *, old: str | None = None,
            metavar: str = "PATH") -> None:
    """``--out PATH`` (``args.out``; None: nothing written) that also writes ``what``;
    ``old``: a former spelling (e.g. ``--json``), hidden, still accepted with a
    deprecation note on stderr."""
    p.add_argument("--out", metavar=metavar, default=None, help=f"also write {what}")
    if old is not None:
        p.add_argument(old, dest="out", metavar=metavar, action=_DeprecatedAlias, new="--out",
                       help=argparse.SUPPRESS)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are the command line's one error line
    (``sfl-opt: error: ...`` on stderr, exit 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see {self.prog} --help)")


def fail(message: str) -> NoReturn:
    """The command line's error: ``sfl-opt: error: message`` on stderr, exit code 2."""
    print(f"sfl-opt: error: {message}", file=sys.stderr)
    raise SystemExit(2)


__all__ = ["SEEDS_HELP", "Parser", "add_no_progress", "add_out", "add_seeds", "comma_list",
           "default_text", "fail", "float_list", "format_seeds", "int_list", "parse_seeds",
           "seed_count", "seeds", "with_default"]
