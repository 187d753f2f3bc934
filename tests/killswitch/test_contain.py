"""`peerguard contain` on process trees and cgroups this test starts itself, never on anything else."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from peerguard.killswitch.contain import contain_cgroup, contain_tree
from peerguard.live.host import probe_host
from peerguard.live.hostcheck import descendants, proc_table

# A root that keeps a storm going: children, grandchildren, one deaf to SIGTERM, and a respawner that forks a new
# child whenever its child dies. It prints READY once all ten first sleepers say they are up (a byte each on a pipe).
TREE = textwrap.dedent("""
    import os, signal, sys, time
    up, say_up = os.pipe()
    def sleeper():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.write(say_up, b"x")
        time.sleep(60); os._exit(0)
    def respawner():
        while True:
            pid = os.fork()
            if pid == 0:
                sleeper()
            os.waitpid(pid, 0)
    for _ in range(3):
        if os.fork() == 0:
            for _ in range(2):
                if os.fork() == 0:
                    sleeper()
            sleeper()
    if os.fork() == 0:
        respawner()
    seen = 0
    while seen < 10:
        seen += len(os.read(up, 10 - seen))
    print("READY", flush=True)
    time.sleep(60)
""")


def peerguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peerguard.cli", "contain", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[str]]:
    # a process group of its own (the tree never leaves it), so teardown can kill the whole tree at once, respawner
    # included, when a test fails before `contain` did
    root = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True, process_group=0)
    try:
        assert root.stdout is not None and root.stdout.readline().strip() == "READY"  # waits on the event
        yield root
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(root.pid, signal.SIGKILL)
        root.wait()
        if root.stdout is not None:
            root.stdout.close()


def test_a_process_tree_is_stopped_whole_and_stays_gone(tree: subprocess.Popen[str]) -> None:
    members = descendants(proc_table(), {tree.pid})
    assert len(members) >= 11  # root, 3 children, 6 grandchildren, the respawner and its child
    done = peerguard("--pid", str(tree.pid), "--watch", "0.5", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["verdict"] == "contained" and verdict["contained"] and verdict["survivors"] == []
    assert set(verdict["members"]) >= members and verdict["watched_s"] >= 0.5
    tree.wait()
    table = proc_table()
    assert not [pid for pid in members if pid in table and table[pid].state != "Z"]  # checked from /proc, not by it


def test_the_verdict_holds_in_python_too(tree: subprocess.Popen[str]) -> None:
    result = contain_tree(tree.pid, 0.3)
    assert result.contained and result.protocol.startswith("SIGSTOP top-down") and result.caveats


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--pid", "1"), "that is init"),
        (("--pid", str(os.getpid())), "this process or one of its ancestors"),
        (("--pid", str(os.getppid())), "this process or one of its ancestors"),
        (("--pid", "0"), "positive pid"),
        ((), "name one group"),
        (("--pid", "5", "--cgroup", "/sys/fs/cgroup"), "name one group"),
        (("--cgroup", "/tmp"), "not a cgroup directory"),
        (("--pid", "123", "--watch", "-1"), "--watch -1: give seconds"),
        (("--pid", "123", "--watch", "nan"), "--watch nan"),
    ],
)
def test_bad_or_dangerous_input_is_one_clean_error(args: tuple[str, ...], fragment: str) -> None:
    done = peerguard(*args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert fragment in done.stderr and done.stderr.startswith("error:"), done.stderr


def test_a_cgroup_holding_this_process_is_refused() -> None:
    host = probe_host()
    if not host.cgroup.available or host.cgroup_parent is None:
        pytest.skip(f"no cgroup v2 here: {host.cgroup.reason}")
    done = peerguard("--cgroup", str(host.cgroup_parent))  # our own cgroup: it holds us and our ancestors
    assert done.returncode == 2 and "holds init, this process or its ancestors" in done.stderr


@pytest.fixture
def cgroup_with_tree() -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    host = probe_host()
    if not host.cgroup.available or host.cgroup_parent is None:
        pytest.skip(f"no cgroup v2 to make a test cgroup in: {host.cgroup.reason}")
    path = host.cgroup_parent / f"peerguard-contain-test-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    procs = os.open(path / "cgroup.procs", os.O_WRONLY)
    root = subprocess.Popen(
        [sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.write(procs, b"0")
    )
    os.close(procs)
    try:
        assert root.stdout is not None and root.stdout.readline().strip() == "READY"
        yield path, root
    finally:
        (path / "cgroup.kill").write_text("1")  # the whole tree, whatever the test left of it
        root.wait()
        if root.stdout is not None:
            root.stdout.close()
        for _ in range(200):  # the kernel empties the cgroup once its last process is reaped
            if "populated 0" in (path / "cgroup.events").read_text():
                break
            os.sched_yield()
        path.rmdir()


def test_a_cgroup_is_stopped_by_the_kernel_and_watched(cgroup_with_tree: tuple[Path, subprocess.Popen[str]]) -> None:
    path, root = cgroup_with_tree
    done = peerguard("--cgroup", str(path), "--watch", "0.5", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["contained"] and verdict["protocol"] == "cgroup.kill" and len(verdict["members"]) >= 11
    root.wait()
    assert (path / "cgroup.procs").read_text().split() == []


def test_a_process_that_enters_the_cgroup_during_the_watch_is_no_containment(
    cgroup_with_tree: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, root = cgroup_with_tree
    result_box: list = []
    import threading

    watcher = threading.Thread(target=lambda: result_box.append(contain_cgroup(path, 1.5)))
    watcher.start()
    root.wait()  # killed by the stop: the group is gone
    newcomer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (path / "cgroup.procs").write_text(str(newcomer.pid))  # one of ours walks in while the watch goes on
        watcher.join()
        result = result_box[0]
        assert not result.contained and newcomer.pid in result.survivors
        assert result.verdict.startswith(("escaped at t=", "not contained"))
    finally:
        newcomer.kill()
        newcomer.wait()
