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
    """Write `path` (and make its folder) from a process of its own; its pid."""
    folder, name = str(path.parent), str(path)
    program = (
        f"import os; os.makedirs({folder!r}, exist_ok=True); open({name!r}, 'w').write({text!r}); print(os.getpid())"
    )
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


def test_a_file_written_in_a_folder_made_at_once_has_its_writer(tmp_path: Path) -> None:
    # The folder is made and written in by one short program, before the watch can read that the folder exists.
    watch, changes = watching(tmp_path)
    try:
        if not watch.whole_filesystem:
            pytest.skip(f"no fanotify mark of the whole filesystem here: {watch.reason}")
        writer = write_from_a_child(tmp_path / "files" / "new" / "deep" / "x", "hi")
        watch.drain()
        assert [(c.path, c.writer_pid) for c in changes] == [("new/deep/x", writer)]
    finally:
        watch.close()


def test_writes_elsewhere_on_the_filesystem_are_not_the_sandboxs(tmp_path: Path) -> None:
    watch, changes = watching(tmp_path)
    try:
        write_from_a_child(tmp_path / "beside.txt", "outside the sandbox")
        watch.drain()
        assert changes == [] and watch.writers == {}
    finally:
        watch.close()


def queued_paths(fan_fd: int) -> list[str]:
    """The files of the fanotify events waiting on `fan_fd` (other writers on the host's filesystem among them)."""
    paths = []
    while True:
        try:
            data = os.read(fan_fd, 4096)
        except BlockingIOError:
            return paths
        for offset in range(0, len(data), sandbox_watch._FAN_EVENT.size):
            fd = sandbox_watch._FAN_EVENT.unpack_from(data, offset)[5]
            if fd >= 0:
                paths.append(os.readlink(f"/proc/self/fd/{fd}"))
                os.close(fd)


def test_the_platforms_own_folder_is_not_even_queued(tmp_path: Path) -> None:
    ledger, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    ledger.mkdir(), elsewhere.mkdir()
    changes: list[Change] = []
    watch = SandboxWatch(Sandbox(ledger / "files", clean=True), changes.append, quiet=(ledger,))
    watch.start()
    try:
        if not watch.whole_filesystem:
            pytest.skip(f"no fanotify mark of the whole filesystem here: {watch.reason}")
        write_from_a_child(ledger / "ledger.jsonl", "an entry")
        write_from_a_child(elsewhere / "ledger.jsonl", "an entry")  # the control: a folder not named quiet
        ours = {path for path in queued_paths(watch.fan_fd) if path.startswith(str(tmp_path))}
        assert ours == {str(elsewhere / "ledger.jsonl")}  # its write and close may be one event or two
    finally:
        watch.close()


def test_an_overflow_of_fanotifys_queue_is_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watch, _ = watching(tmp_path)
    overflow = sandbox_watch._FAN_EVENT.pack(
        sandbox_watch._FAN_EVENT.size, 3, 0, 24, sandbox_watch.IN_Q_OVERFLOW, -1, 0
    )
    pending = [overflow]

    class KernelOverflowed:
        def read(self, fd: int, size: int) -> bytes:
            if fd == watch.fan_fd and pending:
                return pending.pop()
            return os.read(fd, size)

        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

    try:
        monkeypatch.setattr(sandbox_watch, "os", KernelOverflowed())
        watch.read_writers()
        assert watch.writers_lost == 1 and watch.writers == {}
    finally:
        watch.close()
