"""Writing files so a reader never sees half of one: write beside it, then rename over it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def atomic_writer(path: Path) -> Iterator[TextIO]:
    """A text file to write `path` through; it replaces `path` only when the block ends without error."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as out:
        yield out
    temporary.replace(path)


def write_atomic(path: Path, text: str) -> None:
    with atomic_writer(path) as out:
        out.write(text)
