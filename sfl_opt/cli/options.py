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


float_list = comma_list(float, "numbers")
int_list = comma_list(int, "integers")


def add_seeds(p: argparse.ArgumentParser, default: str, what: str = "") -> None:
    """``--seeds`` with the shared syntax; ``default`` in the same syntax."""
    p.add_argument("--seeds", type=seeds, default=seeds(default),
                   help=f"{SEEDS_HELP}{what} (default {default})")


def add_no_progress(p: argparse.ArgumentParser) -> None:
    """``--no-progress`` (``--quiet`` is the former spelling, still accepted)."""
    p.add_argument("--no-progress", action="store_true", dest="no_progress",
                   help="no progress bar")
    p.add_argument("--quiet", action="store_true", dest="no_progress",
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


__all__ = ["SEEDS_HELP", "Parser", "add_no_progress", "add_seeds", "comma_list", "fail",
           "float_list", "int_list", "parse_seeds", "seed_count", "seeds"]
