"""Output files written atomically: every file the package writes (CSV tables, result and
profile JSON, figures) goes to a temporary file in the same folder that replaces the
target in one ``os.replace``, so a reader — or a second writer of the same path — never
sees a half-written or interleaved file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import ValidationError


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kw: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing (``mode`` ``"w"`` or ``"wb"``,
    further ``open`` keywords such as ``newline``); on success it replaces ``path``
    atomically, on an exception it is removed and ``path`` is untouched. The folder is
    created if needed."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode: expected 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates the file 0600; give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_write`); returns the path."""
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def save_figure(fig: Any, path: str | Path, **savefig_kw: Any) -> Path:
    """``fig.savefig`` to ``path`` atomically (the format from the suffix)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or None
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, **savefig_kw)
    return path


def check_writable(path: str | Path, name: str) -> Path:
    """Fail early (before a long run) when ``path`` cannot be written: its folder is
    created if missing and a temporary file is created and removed there. Raises a
    :class:`ValidationError` naming ``name`` (the option, e.g. ``--out``)."""
    path = Path(path)
    if path.is_dir():
        raise ValidationError(name, "a file path (it is a folder)", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise ValidationError(name, "a path in a folder this process can write",
                              f"{path} ({exc.strerror or exc})") from None
    return path


__all__ = ["atomic_write", "check_writable", "save_figure", "write_text"]
