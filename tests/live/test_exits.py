"""One descriptor for every child's exit: `exits_fd`, `exited` (statuses, nothing reaped yet) and `reap_exited`."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
from pathlib import Path

import pytest

from peerguard.live.host import probe_host
from peerguard.live.processes import Child, ExitStatus, ProcessOwner
from peerguard.live.procfs import proc_info

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]

pytestmark = pytest.mark.skipif(not probe_host().pidfd.available, reason="exits_fd needs pidfds, which this host lacks")


def exits_of(owner: ProcessOwner, count: int) -> list[tuple[Child, ExitStatus]]:
    """What `exited` reports, each time the descriptor turns readable, until `count` children were reported."""
    fd = owner.exits_fd()
    assert fd is not None
    reported: list[tuple[Child, ExitStatus]] = []
    while len(reported) < count:
        assert select.select([fd], [], [], 30)[0] == [fd], "no exit reported within 30 s"
        reported += owner.exited()
    return reported


def test_children_killed_together_are_reported_with_their_signal_and_left_unreaped(tmp_path: Path) -> None:
    with ProcessOwner(tmp_path, "exits-together") as owner:
        owner.exits_fd()
        children = [owner.spawn(SLEEPER) for _ in range(3)]
        for child in children:
            owner.signal(child, signal.SIGKILL)
        reported = exits_of(owner, 3)
        assert sorted(c.pid for c, _ in reported) == sorted(c.pid for c in children)
        assert all(status.signal == signal.SIGKILL and status.returncode is None for _, status in reported)
        zombies = {child.pid: proc_info(child.pid) for child in children}
        assert all(info is not None and info.state == "Z" for info in zombies.values()), zombies  # not reaped yet
        assert not any(owner.signal(child, signal.SIGKILL) for child in children)  # exited: nothing to signal
        owner.reap_exited()
        for pid, zombie in zombies.items():
            now = proc_info(pid)
            assert now is None or (zombie is not None and now.start_ticks != zombie.start_ticks)  # reaped: gone
        assert owner.exited() == []  # each reported once
        assert asyncio.run(owner.wait(children[0])) == dict(reported)[children[0]]


def test_a_child_reaped_by_wait_first_is_still_reported_once(tmp_path: Path) -> None:
    with ProcessOwner(tmp_path, "exits-waited") as owner:
        owner.exits_fd()
        child = owner.spawn([sys.executable, "-c", "raise SystemExit(3)"])
        status = asyncio.run(owner.wait(child))  # reaps it
        assert status == ExitStatus(child.pid, 3, None)
        assert exits_of(owner, 1) == [(child, status)]
        assert owner.exited() == []


def test_children_started_before_the_descriptor_was_asked_for_are_watched_too(tmp_path: Path) -> None:
    with ProcessOwner(tmp_path, "exits-late") as owner:
        child = owner.spawn(SLEEPER)
        assert owner.exits_fd() is not None
        os.kill(child.pid, signal.SIGTERM)  # unreaped, so the pid is still our child's
        assert exits_of(owner, 1) == [(child, ExitStatus(child.pid, None, signal.SIGTERM))]
