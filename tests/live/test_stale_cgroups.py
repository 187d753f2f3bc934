"""Run cgroups of a platform that was SIGKILLed are removed by the next run of the same user, and only those:
never one whose platform still runs, one of another pid namespace, one not stamped, or one with a process in it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peerguard.live.host import probe_host
from peerguard.live.platform_stamp import platform_gone, stamp
from peerguard.live.processes import ProcessOwner
from peerguard.live.stale_cgroups import remove_abandoned


def a_dead_pid() -> tuple[int, int]:
    """The pid and start time of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = int(Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    child.wait()
    return child.pid, started


def test_only_a_gone_platform_of_this_pid_namespace_counts_as_gone() -> None:
    namespace = os.stat("/proc/self/ns/pid").st_ino
    pid, started = a_dead_pid()
    assert platform_gone(f"peerguard-run-n{namespace}-p{pid}-s{started}-1")
    assert not platform_gone(f"peerguard-run{stamp()}-1")  # this very process
    assert not platform_gone(f"peerguard-run-n{namespace + 1}-p{pid}-s{started}-1")  # another namespace's pid
    assert not platform_gone(f"peerguard-run-{pid}-1")  # unstamped: nothing proves anything
    own = os.getpid()
    assert platform_gone(f"peerguard-run-n{namespace}-p{own}-s1-1")  # the pid now names a later process


def test_abandoned_folders_go_and_the_others_stay(tmp_path: Path) -> None:
    namespace = os.stat("/proc/self/ns/pid").st_ino
    pid, started = a_dead_pid()
    gone = tmp_path / f"peerguard-run-n{namespace}-p{pid}-s{started}-1"
    (gone / "part-a").mkdir(parents=True)
    alive = tmp_path / f"peerguard-run{stamp()}-2"
    alive.mkdir()
    other = tmp_path / f"other-n{namespace}-p{pid}-s{started}-1"
    other.mkdir()
    assert remove_abandoned(tmp_path, "peerguard-") == [gone]
    assert not gone.exists() and alive.exists() and other.exists()


def test_the_next_run_removes_a_sigkilled_platforms_empty_cgroup_but_not_a_populated_one(tmp_path: Path) -> None:
    support = probe_host()
    if not support.cgroup.available or support.cgroup_parent is None:
        pytest.skip(f"needs a cgroup v2 this user can make children in: {support.cgroup.reason}")
    namespace = os.stat("/proc/self/ns/pid").st_ino
    pid, started = a_dead_pid()
    parent = support.cgroup_parent
    empty = parent / f"peerguard-test-n{namespace}-p{pid}-s{started}-1"
    (empty / "part-a").mkdir(parents=True)
    populated = parent / f"peerguard-test-n{namespace}-p{pid}-s{started}-2"
    populated.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (populated / "cgroup.procs").write_text(str(sleeper.pid))
        with ProcessOwner(tmp_path, "next-run", support=support):
            assert not empty.exists()  # removed on entry, child cgroup first
            assert populated.exists()  # the kernel refused: a process is in it
    finally:
        sleeper.kill()
        sleeper.wait()
        for directory in (populated, empty / "part-a", empty):
            with contextlib.suppress(OSError):
                directory.rmdir()
