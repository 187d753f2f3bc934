"""The process owner: real processes are started, watched, signalled, and none survives the run, escapers included,
on every combination of host features (missing ones simulated by passing a downgraded `HostSupport`)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from peerguard.live.host import (
    Feature,
    HostSupport,
    find_cgroup2_mount,
    is_child_subreaper,
    probe_cgroup,
    probe_host,
)
from peerguard.live.processes import Child, ExitStatus, ForeignProcessError, ProcessOwner, part_name

# Every child program starts with this; announce() writes atomically, so a reader never sees half a pid.
PRELUDE = """
import os, signal, sys, time
def announce(path, text):
    with open(path + ".tmp", "w") as file:
        file.write(text)
    os.replace(path + ".tmp", path)
"""
SLEEPER = "time.sleep(600)"
IGNORES_SIGTERM = """
signal.signal(signal.SIGTERM, signal.SIG_IGN)
announce(sys.argv[1], str(os.getpid()))
time.sleep(600)
"""
DOUBLE_FORK = """
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        announce(sys.argv[1], str(os.getpid()))
        time.sleep(600)
    os._exit(0)
"""
FORK_THEN_SETSID = """
if os.fork() == 0:
    os.setsid()  # the child itself cannot: as a process group leader, setsid() fails with EPERM
    announce(sys.argv[1], str(os.getpid()))
time.sleep(600)
"""
FORK_CHAIN = """
while True:  # each generation logs its pid, forks its successor and exits: a moving target for pid lists
    with open(sys.argv[1], "a") as log:
        log.write(f"{os.getpid()}\\n")
    time.sleep(0.005)
    if os.fork():
        os._exit(0)
"""
NOTES_SIGTERM = """
signal.signal(signal.SIGTERM, lambda signum, frame: announce(sys.argv[1] + ".term", "1"))
announce(sys.argv[1], str(os.getpid()))
time.sleep(600)
"""
ORCHESTRATOR = """
import asyncio
from dataclasses import replace
from pathlib import Path
from peerguard.live.host import Feature, probe_host
from peerguard.live.processes import ProcessOwner

run_dir, disabled, grace_s = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
stubborn_program, escaper_program = sys.argv[4], sys.argv[5]
support = probe_host()
for feature in filter(None, disabled.split(",")):
    support = replace(support, **{feature: Feature(False, "disabled by the test")})
with ProcessOwner(run_dir, "interrupted", support=support, grace_s=grace_s) as owner:
    stubborn = owner.spawn([sys.executable, "-c", stubborn_program, str(run_dir / "stubborn.pid")])
    escaper = owner.spawn([sys.executable, "-c", escaper_program, str(run_dir / "escapee.pid")])
    while not (run_dir / "escapee.pid").exists() or not (run_dir / "stubborn.pid").exists():
        time.sleep(0.01)
    escapee = (run_dir / "escapee.pid").read_text()
    (run_dir / "pids.tmp").write_text(f"{stubborn.pid} {escaper.pid} {escapee}")
    (run_dir / "pids.tmp").rename(run_dir / "pids")
    asyncio.run(owner.wait(stubborn))  # blocks until the test interrupts us
"""

MODES = {
    "full": (),
    "no-cgroup": ("cgroup",),
    "no-pidfd": ("pidfd",),
    "no-subreaper": ("subreaper",),
    "no-cgroup-no-pidfd": ("cgroup", "pidfd"),
}


def without(support: HostSupport, *features: str) -> HostSupport:
    return replace(support, **{name: Feature(False, "disabled by the test") for name in features})


@pytest.fixture(scope="session")
def host() -> HostSupport:
    return probe_host()


@pytest.fixture(params=list(MODES))
def support(request: pytest.FixtureRequest, host: HostSupport) -> HostSupport:
    return without(host, *MODES[request.param])


@pytest.fixture(autouse=True)
def nothing_left_running(tmp_path: Path) -> Iterator[None]:
    """Fail a test that leaves a process running, after killing it: children of ours, and every pid announced in a
    file under tmp_path (child programs announce escapees there), so a failing test leaks nothing either."""
    before = children_of_this_process()
    yield

    def started() -> list[int]:
        files = [*tmp_path.rglob("*.pid"), *tmp_path.rglob("*.pids"), *tmp_path.rglob("pids")]
        announced = [int(pid) for file in files for pid in file.read_text().split()]
        return announced + sorted(children_of_this_process() - before)

    leftovers = [pid for pid in started() if running(pid)]
    kill_running(started)
    assert not leftovers, f"the test left processes running: {leftovers}"


def children_of_this_process() -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


@pytest.fixture
def containing(support: HostSupport) -> HostSupport:
    """A support that can catch escapers: they need a run cgroup or this process as their subreaper."""
    if not (support.cgroup.available or support.subreaper.available):
        pytest.skip(f"escapers cannot be caught without a cgroup ({support.cgroup.reason}) or a subreaper")
    return support


def python(program: str, *args: object) -> list[str]:
    return [sys.executable, "-c", PRELUDE + program, *map(str, args)]


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def kill_running(started: Callable[[], list[int]]) -> None:
    """SIGKILL what still runs of the processes a test started (a fork chain keeps moving: repeat until none)."""
    for _ in range(100):
        alive = [pid for pid in started() if running(pid)]
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def assert_all_gone(started: Callable[[], list[int]]) -> None:
    survivors = [pid for pid in started() if running(pid)]
    kill_running(started)  # so that a failing test leaks nothing
    assert not survivors, f"still running after the run: {survivors}"


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def announced_pid(path: Path) -> int:
    wait_until(path.exists, f"{path.name} to be written")
    return int(path.read_text())


# -- starting, waiting, signalling -------------------------------------------------------------------------------


def test_wait_returns_the_exit_code(tmp_path: Path, support: HostSupport) -> None:
    async def scenario() -> tuple[Child, ExitStatus]:
        with ProcessOwner(tmp_path, "exit-code", support=support) as owner:
            child = owner.spawn(python("import sys; sys.exit(3)"))
            return child, await owner.wait(child)

    child, status = asyncio.run(scenario())
    assert status == ExitStatus(child.pid, 3, None)


def test_signal_ends_the_child_and_wait_reports_the_signal(tmp_path: Path, support: HostSupport) -> None:
    async def scenario() -> tuple[Child, bool, ExitStatus]:
        with ProcessOwner(tmp_path, "signalled", support=support) as owner:
            child = owner.spawn(python(SLEEPER))
            delivered = owner.signal(child, signal.SIGTERM)
            return child, delivered, await owner.wait(child)

    child, delivered, status = asyncio.run(scenario())
    assert (child.pidfd is not None) == support.pidfd.available
    assert delivered
    assert status == ExitStatus(child.pid, None, signal.SIGTERM)


def test_signal_after_exit_reports_nothing_delivered(tmp_path: Path, support: HostSupport) -> None:
    async def scenario() -> bool:
        with ProcessOwner(tmp_path, "late-signal", support=support) as owner:
            child = owner.spawn(python("pass"))
            await owner.wait(child)
            return owner.signal(child, signal.SIGKILL)

    assert asyncio.run(scenario()) is False


def test_waiters_share_one_exit_and_a_cancelled_wait_harms_nothing(tmp_path: Path, support: HostSupport) -> None:
    async def scenario() -> list[ExitStatus]:
        with ProcessOwner(tmp_path, "waiters", support=support) as owner:
            child = owner.spawn(python(SLEEPER))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(owner.wait(child), timeout=0.01)
            waiting = asyncio.gather(owner.wait(child), owner.wait(child))
            owner.signal(child, signal.SIGKILL)
            return [*await waiting, await owner.wait(child)]

    statuses = asyncio.run(scenario())
    assert len(set(statuses)) == 1 and statuses[0].signal == signal.SIGKILL


def test_refuses_to_signal_or_wait_for_a_process_it_did_not_start(tmp_path: Path) -> None:
    foreign = subprocess.Popen(python(SLEEPER))  # started before the owner: never part of its run
    try:
        with ProcessOwner(tmp_path / "a", "a") as owner, ProcessOwner(tmp_path / "b", "b") as other:
            impostor = Child(foreign.pid, None, 0.0, ())
            with pytest.raises(ForeignProcessError, match=str(foreign.pid)):
                owner.signal(impostor, signal.SIGKILL)
            with pytest.raises(ForeignProcessError):
                asyncio.run(owner.wait(impostor))
            others_child = other.spawn(python(SLEEPER))
            with pytest.raises(ForeignProcessError):
                owner.signal(others_child, signal.SIGKILL)
            assert others_child.pid not in owner.alive() and others_child.pid in other.alive()
        assert running(foreign.pid)
    finally:
        foreign.kill()
        foreign.wait()


def test_alive_lists_running_children_and_forgets_reaped_ones(tmp_path: Path, support: HostSupport) -> None:
    async def scenario() -> None:
        with ProcessOwner(tmp_path, "alive", support=support) as owner:
            sleeper, quitter = owner.spawn(python(SLEEPER)), owner.spawn(python("pass"))
            await owner.wait(quitter)
            assert owner.alive() == {sleeper.pid}
        assert owner.alive() == set()

    asyncio.run(scenario())


def test_children_run_in_the_run_cgroup_and_it_is_removed_afterwards(tmp_path: Path, host: HostSupport) -> None:
    if not host.cgroup.available:
        pytest.skip(f"no cgroup v2 here: {host.cgroup.reason}")
    with ProcessOwner(tmp_path, "cgroup", support=host) as owner:
        child = owner.spawn(python(SLEEPER))
        cgroup = owner.cgroup
        assert cgroup is not None
        v2_line = next(line for line in Path(f"/proc/{child.pid}/cgroup").read_text().splitlines() if line[:3] == "0::")
        assert v2_line.endswith(f"/{cgroup.name}")
        assert str(child.pid) in (cgroup / "cgroup.procs").read_text().split()
    assert not cgroup.exists()


# -- leaving the block -------------------------------------------------------------------------------------------


def test_close_kills_a_child_that_ignores_sigterm(tmp_path: Path, support: HostSupport) -> None:
    with ProcessOwner(tmp_path, "stubborn", support=support, grace_s=0.2) as owner:
        child = owner.spawn(python(IGNORES_SIGTERM, tmp_path / "stubborn.pid"))
        announced_pid(tmp_path / "stubborn.pid")  # SIGTERM is ignored from here on
    assert_all_gone(lambda: [child.pid])
    assert asyncio.run(owner.wait(child)).signal == signal.SIGKILL  # SIGTERM was not enough: it was escalated


def test_close_kills_and_reaps_a_double_forked_escapee(tmp_path: Path, containing: HostSupport) -> None:
    with ProcessOwner(tmp_path, "double-fork", support=containing) as owner:
        child = owner.spawn(python(DOUBLE_FORK, tmp_path / "escapee.pid"))
        escapee = announced_pid(tmp_path / "escapee.pid")
        assert asyncio.run(owner.wait(child)).returncode == 0  # its parent is gone: the escapee is on its own
        assert running(escapee) and escapee in owner.alive()
    assert_all_gone(lambda: [escapee])
    if containing.subreaper.available:
        assert not Path(f"/proc/{escapee}").exists()  # reaped by us, not left a zombie


@pytest.mark.parametrize("new_session", [False, True], ids=["own-group", "own-session"])
def test_close_kills_a_forked_child_that_left_for_a_new_session(
    tmp_path: Path, containing: HostSupport, new_session: bool
) -> None:
    with ProcessOwner(tmp_path, "setsid", support=containing) as owner:
        child = owner.spawn(python(FORK_THEN_SETSID, tmp_path / "forked.pid"), new_session=new_session)
        forked = announced_pid(tmp_path / "forked.pid")
        assert os.getsid(forked) == forked != os.getpgid(child.pid)  # out of reach of a kill of the child's group
        assert {child.pid, forked} <= owner.alive()
    assert_all_gone(lambda: [child.pid, forked])


def test_close_stops_a_chain_of_processes_that_fork_and_exit(tmp_path: Path, containing: HostSupport) -> None:
    log = tmp_path / "chain.pids"

    def generations() -> list[int]:
        return [int(line) for line in log.read_text().split()] if log.exists() else []

    with ProcessOwner(tmp_path, "chain", support=containing) as owner:
        owner.spawn(python(FORK_CHAIN, log))
        wait_until(lambda: len(generations()) >= 5, "the chain to move past its first pids")
    assert_all_gone(generations)


def test_an_owner_on_a_host_without_cgroup_and_pidfd_falls_back_and_still_cleans_up(
    tmp_path: Path, host: HostSupport, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not host.subreaper.available:
        pytest.skip(f"without a cgroup, escapers need a subreaper: {host.subreaper.reason}")
    monkeypatch.setattr("peerguard.live.processes.probe_host", lambda: without(host, "cgroup", "pidfd"))
    with ProcessOwner(tmp_path, "bare-host") as owner:
        assert not owner.support.cgroup.available and owner.cgroup is None
        child = owner.spawn(python(DOUBLE_FORK, tmp_path / "escapee.pid"))
        escapee = announced_pid(tmp_path / "escapee.pid")
        assert child.pidfd is None and asyncio.run(owner.wait(child)).returncode == 0
        assert escapee in owner.alive()
    assert_all_gone(lambda: [escapee])


def test_an_exception_in_the_block_leaves_nothing_running(tmp_path: Path, containing: HostSupport) -> None:
    started: list[int] = []
    with pytest.raises(RuntimeError, match="agent crashed"), ProcessOwner(tmp_path, "crash", support=containing) as o:
        started.append(o.spawn(python(SLEEPER)).pid)
        started.append(o.spawn(python(IGNORES_SIGTERM, tmp_path / "stubborn.pid")).pid)
        started.append(o.spawn(python(DOUBLE_FORK, tmp_path / "escapee.pid"), new_session=True).pid)
        started.append(announced_pid(tmp_path / "escapee.pid"))
        raise RuntimeError("agent crashed")
    assert_all_gone(lambda: started)


class Orchestrator:
    """A separate Python process running a ProcessOwner with a stubborn child and a double-forked escapee."""

    def __init__(self, tmp_path: Path, disabled: str, grace_s: float = 0.0, stubborn: str = IGNORES_SIGTERM) -> None:
        self.run_dir, self.log = tmp_path / "run", tmp_path / "orchestrator.log"
        argv = python(ORCHESTRATOR, self.run_dir, disabled, grace_s, PRELUDE + stubborn, PRELUDE + DOUBLE_FORK)
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(argv, stdout=output, stderr=output)

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Whatever the test concluded, stop the orchestrator (what it started is announced in pid files)."""
        self.process.kill()
        self.process.wait()

    def started_pids(self) -> list[int]:
        """The stubborn child, the escaper and the escapee, once all are running."""
        pids = self.run_dir / "pids"
        wait_until(lambda: pids.exists() or self.process.poll() is not None, "the orchestrator to start its run")
        assert self.process.poll() is None, self.log.read_text()
        return [int(pid) for pid in pids.read_text().split()]

    def interrupt(self, sig: int) -> None:
        self.process.send_signal(sig)

    def finished_by(self, sig: int) -> bool:
        self.process.wait(timeout=60)
        return self.process.returncode in (-sig, 128 + sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
@pytest.mark.parametrize("disabled", ["", "cgroup,pidfd"], ids=["full", "no-cgroup-no-pidfd"])
def test_an_interrupted_run_in_another_process_leaves_nothing_behind(
    tmp_path: Path, host: HostSupport, sig: signal.Signals, disabled: str
) -> None:
    if not (host.subreaper.available or (host.cgroup.available and "cgroup" not in disabled)):
        pytest.skip("escapers cannot be caught here without a cgroup or a subreaper")
    with Orchestrator(tmp_path, disabled) as orchestrator:
        started = orchestrator.started_pids()
        assert all(running(pid) for pid in started[::2])  # the stubborn child and the escapee
        orchestrator.interrupt(sig)
        assert orchestrator.finished_by(sig), orchestrator.log.read_text()
        assert_all_gone(lambda: started)


def test_a_second_interrupt_during_cleanup_does_not_abandon_it(tmp_path: Path, host: HostSupport) -> None:
    if not (host.subreaper.available or host.cgroup.available):
        pytest.skip("escapers cannot be caught here without a cgroup or a subreaper")
    with Orchestrator(tmp_path, "", grace_s=2.0, stubborn=NOTES_SIGTERM) as orchestrator:
        started = orchestrator.started_pids()
        orchestrator.interrupt(signal.SIGINT)
        wait_until((orchestrator.run_dir / "stubborn.pid.term").exists, "cleanup to ask the stubborn child to stop")
        orchestrator.interrupt(signal.SIGINT)  # arrives while close() waits out the grace period
        assert orchestrator.finished_by(signal.SIGINT), orchestrator.log.read_text()
        assert_all_gone(lambda: started)


def test_close_is_idempotent_and_the_owner_cannot_be_reused(tmp_path: Path) -> None:
    owner = ProcessOwner(tmp_path, "once")
    with owner:
        child = owner.spawn(python(SLEEPER))
    owner.close()
    assert_all_gone(lambda: [child.pid])
    with pytest.raises(RuntimeError, match="not open"):
        owner.spawn(python(SLEEPER))
    with pytest.raises(RuntimeError, match="already entered"), owner:
        pass


def test_leaving_the_block_restores_signal_handlers_and_the_subreaper_flag(tmp_path: Path, host: HostSupport) -> None:
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT), is_child_subreaper())
    with ProcessOwner(tmp_path, "restore", support=host):
        if before[0] is signal.SIG_DFL:
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # SIGTERM now unwinds the block
        assert is_child_subreaper() == (host.subreaper.available or before[2])
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT), is_child_subreaper()) == before


# -- host probes -------------------------------------------------------------------------------------------------


def test_host_support_gives_every_feature_a_yes_or_no_and_a_reason(host: HostSupport) -> None:
    for feature in (host.pidfd, host.subreaper, host.cgroup, host.pids):
        assert isinstance(feature.available, bool) and feature.reason
    assert (host.cgroup_parent is not None) == host.cgroup.available
    assert (host.pids_parent is not None) == host.pids.available
    assert host.describe().count("\n") == 3


def test_a_part_bounded_with_pids_max_cannot_fork_past_it(tmp_path: Path, host: HostSupport) -> None:
    if not host.pids.available:
        pytest.skip(f"no pids controller here: {host.pids.reason}")
    # It forks (and reaps) until a fork is refused, then exits with the errno: EAGAIN once the part is closed.
    storm = textwrap.dedent("""
        import os, sys, time
        while True:
            try:
                pid = os.fork()
            except OSError as error:
                sys.exit(error.errno)
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            time.sleep(0.005)
    """)
    with ProcessOwner(tmp_path, "bounded") as owner:
        child = owner.spawn([sys.executable, "-c", storm])
        assert owner.bound_processes("a", child.pid, 64)
        assert owner.close_to_new_processes(["a"]) == ["a"]
        part = owner.pids_cgroup / part_name("a")  # type: ignore[operator]
        assert str(child.pid) in (part / "cgroup.procs").read_text()
        status = asyncio.run(owner.wait(child))
        assert status.returncode == errno.EAGAIN  # the kernel refused the fork, not a timer


def test_cgroup_probe_explains_a_missing_cgroup2_mount(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("proc /proc proc rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n")
    (tmp_path / "cgroup").write_text("0::/\n")
    feature, parent = probe_cgroup(mounts, tmp_path / "cgroup")
    assert not feature.available and parent is None
    assert "cgroup v2 not mounted" in feature.reason


def test_cgroup_probe_explains_child_cgroups_without_kill_and_freeze(tmp_path: Path) -> None:
    fake_root = tmp_path / "cgroup2"
    (fake_root / "agents").mkdir(parents=True)
    (fake_root / "agents" / "cgroup.procs").write_text(f"{os.getpid()}\n")
    mounts = tmp_path / "mounts"
    mounts.write_text(f"cgroup2 {fake_root} cgroup2 rw 0 0\n")
    (tmp_path / "cgroup").write_text("0::/agents\n")
    feature, parent = probe_cgroup(mounts, tmp_path / "cgroup")  # a plain directory: mkdir works, no kernel files
    assert not feature.available and parent is None
    assert "lack cgroup.procs, cgroup.kill, cgroup.freeze" in feature.reason
    assert list((fake_root / "agents").iterdir()) == [fake_root / "agents" / "cgroup.procs"]  # probe cleaned up


def test_find_cgroup2_mount_reads_escaped_mount_points() -> None:
    mounts = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup2 /sys/fs/cgroup/my\\040tree cgroup2 rw 0 0\n"
    assert find_cgroup2_mount(mounts) == Path("/sys/fs/cgroup/my tree")
    assert find_cgroup2_mount("proc /proc proc rw 0 0\n") is None
