"""Write a file or a folder whole or not at all: the one helper every output goes through. The
content is written to a temporary path beside the target (same filesystem, so the rename is
atomic for files), renamed over the target when the writing ends cleanly, and removed when it
raises: a reader, or a run resumed after kill -9, never sees half of it."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write a file or a folder to; it replaces `path` when
    the block ends cleanly and is removed if it raises."""
    target = Path(path)
    tmp = temporary_beside(target)
    try:
        yield tmp
        commit(tmp, target)
    finally:
        remove(tmp)


def temporary_beside(target: Path) -> Path:
    """A free temporary path in `target`'s folder (made if missing); the process id in its
    name keeps two writers of one target apart. For writers that cannot be one `with` block
    (curate.documents.DocumentWriter): `commit` it, or `remove` it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    remove(tmp)
    return tmp


def commit(tmp: Path, target: Path) -> None:
    """`tmp` becomes `target` (a folder already there is removed first)."""
    if target.is_dir() and tmp.is_dir():
        shutil.rmtree(target)
    os.replace(tmp, target)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """A text file (UTF-8) written whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
