"""The sandbox watch names the writer of every direct write it reports, wherever the write lands in its drain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from peerguard.live import sandbox_watch
from peerguard.live.sandbox import Sandbox
from peerguard.live.sandbox_watch import Change, SandboxWatch


def watching(tmp_path: Path) -> tuple[SandboxWatch, list[Change]]:
    changes: list[Change] = []
    watch = SandboxWatch(Sandbox(tmp_path / "files", clean=True), changes.append)
    watch.start()
    if not watch.names_writers:
        watch.close()
        pytest.skip(f"this host does not say who writes: {watch.reason}")
    return watch, changes


def write_from_a_child(path: Path, text: str) -> int:
    program = f"import os; open({str(path)!r}, 'w').write({text!r}); print(os.getpid())"
    child = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60)
    return int(child.stdout)


class ReadsOfTheWatch:
    """The `os` the watch sees: its reads counted, and a child's write made just before read number `write_at`."""

    def __init__(self, write_at: int, target: Path) -> None:
        self.write_at, self.target, self.reads = write_at, target, 0
        self.pids: list[int] = []

    def read(self, fd: int, size: int) -> bytes:
        if self.reads == self.write_at:
            self.pids.append(write_from_a_child(self.target, "from the child"))
        self.reads += 1
        return os.read(fd, size)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


@pytest.mark.parametrize("write_at", [0, 1, 2])
def test_a_write_landing_during_a_drain_is_reported_with_its_writer_or_not_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_at: int
) -> None:
    watch, changes = watching(tmp_path)
    try:
        reads = ReadsOfTheWatch(write_at, tmp_path / "files" / "note.txt")
        with monkeypatch.context() as patched:
            patched.setattr(sandbox_watch, "os", reads)
            watch.drain()  # an empty drain reads each queue once: inotify's, then fanotify's
        watch.drain()  # whatever the first drain had not seen yet
        if write_at < 2:
            assert reads.pids, f"the drain made {reads.reads} reads, fewer than {write_at + 1}"
        else:  # the control: a write after the drain, seen by the next one
            assert not reads.pids
            reads.pids.append(write_from_a_child(reads.target, "from the child"))
            watch.drain()
        assert [(c.path, c.writer_pid) for c in changes] == [("note.txt", reads.pids[0])]
    finally:
        watch.close()
