"""The census gives each process the agent it descends from, whatever the process says about itself."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from peerguard.live.census import UNKNOWN, ProcessCensus, parent_of
from peerguard.live.host import Feature, probe_host
from peerguard.live.processes import ProcessOwner
from peerguard.world.ledger import EntryKind, Ledger

# The "agent": forks a child that re-execs with an environment claiming to be agent b, reports the child's pid, then
# waits for the test's word and exits, so the child is orphaned (re-parented to the test, our subreaper).
# It reports only once the child has exec'd: the end of a close-on-exec pipe the child holds closes at its exec.
AGENT = textwrap.dedent("""
    import os, sys
    report, go = sys.argv[1], sys.argv[2]
    execd, held = os.pipe()  # not inherited across exec
    pid = os.fork()
    if pid == 0:
        os.execve(sys.executable, [sys.executable, "-c", "import time; time.sleep(30)"], {"PEERGUARD_AGENT": "b"})
    os.close(held)
    os.read(execd, 1)  # end of file: the child's copy closed at its exec
    with open(report, "w") as out:
        out.write(f"{pid}\\n")
    open(go).read()
""")

# Double-forks at once: the grandchild is orphaned before anyone could have seen its parent.
ESCAPER = textwrap.dedent("""
    import os, sys
    if os.fork() == 0:
        if os.fork() == 0:
            os.setsid()
            os.execve(sys.executable, [sys.executable, "-c", "import time; time.sleep(30)"], {})
        os._exit(0)
    os.wait()
    with open(sys.argv[1], "w") as out:
        out.write("done\\n")
    open(sys.argv[2]).read()
""")


def fifos(tmp_path: Path) -> tuple[Path, Path]:
    report, go = tmp_path / "report", tmp_path / "go"
    os.mkfifo(report)
    os.mkfifo(go)
    return report, go


def test_a_re_exec_with_a_false_environment_and_an_orphaning_keep_the_owner_by_descent(tmp_path: Path) -> None:
    report, go = fifos(tmp_path)
    ledger = Ledger()
    with ProcessOwner(tmp_path, "census-descent") as owner:
        census = ProcessCensus(owner, ledger, time.monotonic, agents=["a", "b"])
        agent = owner.spawn([sys.executable, "-c", AGENT, str(report), str(go)], env={"PEERGUARD_AGENT": "a"},
                            cgroup="a")  # fmt: skip
        census.started(agent.pid, "a")
        child = int(report.read_text())  # blocks until the agent wrote: an event, not a sleep
        census.record()  # both seen while the agent lives (it waits for our word before it exits)
        go.write_text("")  # let the agent exit: its child is re-parented to us
        asyncio.run(owner.wait(agent))
        assert parent_of(child) == os.getpid()  # orphaned: re-parented to us, the subreaper
        census.record()
        assert census.current()[child] == "a"
        assert child in census.members(["a"]) and child not in census.members(["b"])
        spawn = next(e for e in ledger if e.kind == EntryKind.spawn and e.data["pid"] == child)
        assert spawn.agent == "b" and spawn.data["owner"] == "a"  # ledgered as what it claims, owned by descent


@pytest.mark.parametrize("cgroups", [True, False])
def test_a_process_first_seen_orphaned_is_its_cgroups_or_the_runs_of_unknown_owner(
    tmp_path: Path, cgroups: bool
) -> None:
    host = probe_host()
    if cgroups and not host.cgroup.available:
        pytest.skip(f"no cgroup v2: {host.cgroup.reason}")
    if not cgroups:
        host = replace(host, cgroup=Feature(False, "pretend: no cgroup"), pids=Feature(False, "pretend: no pids"))
    if not host.subreaper.available:
        pytest.skip(f"an orphan goes to init without a subreaper: {host.subreaper.reason}")
    report, go = fifos(tmp_path)
    with ProcessOwner(tmp_path, "census-orphan", support=host) as owner:
        census = ProcessCensus(owner, Ledger(), time.monotonic, agents=["a"])
        agent = owner.spawn([sys.executable, "-c", ESCAPER, str(report), str(go)], cgroup="a")
        census.started(agent.pid, "a")
        assert report.read_text() == "done\n"  # the grandchild exists and its parent is gone
        census.record()
        orphans = {pid: owner_of for pid, owner_of in census.current().items() if pid != agent.pid}
        go.write_text("")
        assert len(orphans) == 1
        assert list(orphans.values()) == (["a"] if cgroups else [UNKNOWN])  # never nobody's
