"""The zygote: a spawn of a preloaded module is a fork that gets what an exec'd process gets (its process group, cgroup,
descriptors, environment, credentials, a fresh RNG, the owner as parent, its exit status), and the zygote itself is
the run's infrastructure: out of the census's view, gone with the run, and replaced by exec when it is unavailable."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from peerguard.live.host import Feature, probe_host
from peerguard.live.privilege import FIRST_ID, Credentials
from peerguard.live.processes import Child, ProcessOwner, part_name

PROBE = """
import json, os, random, sys
def is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
if __name__ == "__main__":
    facts = {
        "name": __name__, "pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
        "argv": sys.argv[1:], "probe": os.environ.get("PROBE"), "fds": [fd for fd in range(256) if is_open(fd)],
        "cgroup": open("/proc/self/cgroup").read(), "uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(),
        "random": random.random(), "forked": "zygote_probe" in sys.modules,  # imported by the zygote before the fork
    }
    report = int(os.environ["PROBE_FD"])
    os.write(report, json.dumps(facts).encode())
    if sys.argv[1] == "wait":
        os.read(report, 1)  # until the test kills us
    sys.exit(int(sys.argv[1]) if sys.argv[1] != "wait" else 0)
"""


@pytest.fixture
def probe_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # Not under pytest's tmp_path (0700): a fork that dropped to another user reads the module again to run it.
    with tempfile.TemporaryDirectory(prefix="peerguard-zygote-test-") as folder:
        Path(folder).chmod(0o755)
        (Path(folder) / "zygote_probe.py").write_text(PROBE)
        (Path(folder) / "zygote_probe.py").chmod(0o644)
        monkeypatch.setenv("PYTHONPATH", folder)  # the zygote inherits it and imports the probe from there
        yield "zygote_probe"


def needs_zygote_host() -> None:
    support = probe_host()
    if not (support.pidfd.available and support.subreaper.available):
        pytest.skip(f"the zygote needs pidfds and the subreaper: {support.pidfd.reason}; {support.subreaper.reason}")


def spawn_probe(owner: ProcessOwner, module: str, arg: str, **kwargs: Any) -> tuple[Child, socket.socket, int]:
    """Start the probe with a socket at an fd number the child must find it at; return (child, our end)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = {**os.environ, "PROBE": "set-for-this-process", "PROBE_FD": str(theirs.fileno())}
    child = owner.spawn([sys.executable, "-m", module, arg], env=env, pass_fds=[theirs.fileno()], **kwargs)
    fd = theirs.fileno()
    theirs.close()
    ours.settimeout(60)
    return child, ours, fd


def test_a_spawn_of_a_preloaded_module_is_a_fork_with_what_exec_gives(tmp_path: Path, probe_module: str) -> None:
    needs_zygote_host()

    async def scenario() -> None:
        with ProcessOwner(tmp_path / "run", "zygote-test", preload=(probe_module,)) as owner:
            assert owner.zygote_pid is not None, owner.zygote_reason
            first, first_end, fd = spawn_probe(owner, probe_module, "3", cgroup="worker", log=Path("probe.log"))
            facts = json.loads(first_end.recv(65536))
            status = await owner.wait(first)
            second, second_end, _ = spawn_probe(owner, probe_module, "0", cgroup="worker", new_session=True)
            again = json.loads(second_end.recv(65536))
            await owner.wait(second)
            first_end.close()
            second_end.close()

            assert facts["forked"] and again["forked"] and owner.zygote_pid is not None, owner.zygote_reason
            assert facts["name"] == "__main__" and facts["argv"] == ["3"]
            assert facts["pid"] == first.pid and facts["ppid"] == os.getpid()  # re-parented to us, the subreaper
            assert facts["pid"] != owner.zygote_pid
            assert status.returncode == 3 and status.signal is None  # waited for and reaped by us
            assert facts["pgid"] == facts["pid"] and facts["sid"] == os.getsid(0)  # own process group
            assert again["sid"] == again["pid"]  # own session when asked
            assert facts["probe"] == "set-for-this-process"
            assert facts["fds"] == [0, 1, 2, fd]  # exactly what it was passed, at the number it was told
            assert facts["cwd"] == str(tmp_path / "run")
            assert facts["random"] != again["random"]  # its own RNG state, not a copy of the zygote's
            if owner.cgroup is not None:
                assert f"/{part_name('worker')}" in facts["cgroup"]

    asyncio.run(scenario())


def test_the_zygote_is_out_of_the_census_view_and_gone_with_the_run(tmp_path: Path, probe_module: str) -> None:
    needs_zygote_host()

    async def scenario() -> int:
        with ProcessOwner(tmp_path / "run", "zygote-test", preload=(probe_module,)) as owner:
            zygote = owner.zygote_pid
            assert zygote is not None, owner.zygote_reason
            child, end, _ = spawn_probe(owner, probe_module, "wait", cgroup="worker")
            assert json.loads(end.recv(65536))["forked"]
            assert child.pid in owner.processes() and zygote not in owner.processes()
            assert zygote in owner.alive()
            assert owner.signal(child, signal.SIGKILL)
            status = await owner.wait(child)
            assert status.signal == signal.SIGKILL
            end.close()
        return zygote

    zygote = asyncio.run(scenario())
    assert not Path(f"/proc/{zygote}").exists() or "Z" in Path(f"/proc/{zygote}/stat").read_text().split()[2]


def test_without_a_subreaper_spawn_execs_and_says_why(tmp_path: Path, probe_module: str) -> None:
    support = replace(probe_host(), subreaper=Feature(False, "left out for the test"))

    async def scenario() -> None:
        with ProcessOwner(tmp_path / "run", "zygote-test", support=support, preload=(probe_module,)) as owner:
            assert owner.zygote_pid is None and "left out for the test" in owner.zygote_reason
            child, end, _ = spawn_probe(owner, probe_module, "0")
            facts = json.loads(end.recv(65536))
            assert not facts["forked"] and facts["ppid"] == os.getpid() and (await owner.wait(child)).returncode == 0
            end.close()

    asyncio.run(scenario())


def test_a_zygote_that_is_gone_makes_spawn_exec_instead(tmp_path: Path, probe_module: str) -> None:
    needs_zygote_host()

    async def scenario() -> None:
        with ProcessOwner(tmp_path / "run", "zygote-test", preload=(probe_module,)) as owner:
            zygote = owner.zygote_pid
            assert zygote is not None
            os.kill(zygote, signal.SIGKILL)  # ours: the owner started it
            child, end, _ = spawn_probe(owner, probe_module, "0")
            facts = json.loads(end.recv(65536))
            assert (await owner.wait(child)).returncode == 0 and not facts["forked"]
            assert owner.zygote_pid is None and "stopped forking" in owner.zygote_reason
            end.close()

    asyncio.run(scenario())


def test_a_fork_takes_its_credentials(tmp_path: Path, probe_module: str) -> None:
    needs_zygote_host()
    if os.geteuid() != 0:
        pytest.skip("dropping to another user needs a root platform")
    credentials = Credentials(FIRST_ID + 7, FIRST_ID, 4 * 1024**3, 0o007)

    async def scenario() -> None:
        with ProcessOwner(tmp_path / "run", "zygote-test", preload=(probe_module,)) as owner:
            assert owner.zygote_pid is not None, owner.zygote_reason
            child, end, _ = spawn_probe(
                owner, probe_module, "0", cgroup="worker", credentials=credentials, cwd=Path("/")
            )
            facts = json.loads(end.recv(65536))
            assert facts["forked"] and (facts["uid"], facts["gid"]) == (FIRST_ID + 7, FIRST_ID)
            assert facts["ppid"] == os.getpid()
            await owner.wait(child)
            end.close()

    asyncio.run(scenario())


def kernel_at_least(major: int, minor: int) -> bool:
    found = [int(part) for part in os.uname().release.split("-")[0].split(".")[:2]]
    return (found[0], found[1]) >= (major, minor)


def test_a_fork_is_born_in_its_cgroup_and_joins_its_pids_part_before_it_runs(tmp_path: Path, probe_module: str) -> None:
    needs_zygote_host()
    support = probe_host()
    if not support.cgroup.available:
        pytest.skip(f"no cgroup v2 here: {support.cgroup.reason}")

    async def scenario() -> None:
        with ProcessOwner(tmp_path / "run", "zygote-test", preload=(probe_module,)) as owner:
            assert owner.zygote_pid is not None, owner.zygote_reason
            children = []
            for _ in range(2):  # a second process of the same part, as a relaunch is
                child, end, _ = spawn_probe(owner, probe_module, "wait", cgroup="worker", max_tasks=16)
                facts = json.loads(end.recv(65536))
                children.append((child, end, facts))
                assert facts["forked"] and facts["ppid"] == os.getpid()
                assert f"/{part_name('worker')}" in facts["cgroup"].split("0::", 1)[1].splitlines()[0]
                pids_part = owner.pids_cgroup / part_name("worker") if owner.pids_cgroup is not None else None
                if pids_part is not None and (pids_part / "tasks").exists():  # a v1 pids hierarchy: joined by itself
                    assert str(child.pid) in (pids_part / "cgroup.procs").read_text().split()
                    assert (pids_part / "pids.max").read_text().strip() == "16"
                    assert owner.bound_processes("worker", child.pid, 16)  # nothing left to move
                    assert str(child.pid) in (pids_part / "cgroup.procs").read_text().split()
            if kernel_at_least(5, 7):  # clone3 with CLONE_INTO_CGROUP: no move between v2 cgroups at all
                assert owner.zygote_births == {"clone3": 2}
            for child, end, _ in children:
                assert owner.signal(child, signal.SIGKILL)
                assert (await owner.wait(child)).signal == signal.SIGKILL
                end.close()

    asyncio.run(scenario())


def test_an_agent_connecting_to_the_monitor_imports_nothing_the_zygote_did_not() -> None:
    # Each module an agent imports after the fork is private memory of its own (the idna codec http.client uses for a
    # host name was 1.8 MB of every agent's PSS); a zygote imports what the agent program imports.
    script = (
        "import socket, sys\n"
        "import peerguard.live.agent\n"
        "from peerguard.agent.monitor import connection_to\n"
        "listener = socket.create_server(('127.0.0.1', 0))\n"
        "before = set(sys.modules)\n"
        "connection_to(f'http://127.0.0.1:{listener.getsockname()[1]}').connect()\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_zygote_imports_only_the_standard_library_and_peerguard_and_not_asyncio() -> None:
    # Every page the zygote's imports make is mapped into each agent forked from it, and unmapped again at the agent's
    # exit: pydantic (through a type hint of world/grading.py) and asyncio (the LLM policy's, at import) made an agent
    # map 26 MB instead of 17 and a cgroup.kill of 64 of them half as slow again. A fresh interpreter importing what
    # the zygote imports, in its order, lists what that loaded (the interpreter's own start-up, site's, left out).
    script = (
        "import json, sys, sysconfig\n"
        "before = set(sys.modules)\n"
        "import peerguard.live.zygote as zygote\n"
        "for module in zygote.AGENT_MODULES:\n"
        "    __import__(module)\n"
        "new = sorted(set(sys.modules) - before)\n"
        "sites = tuple({sysconfig.get_paths()[key] for key in ('purelib', 'platlib')})\n"
        "installed = [m for m in new if (getattr(sys.modules[m], '__file__', None) or '').startswith(sites)]\n"
        "print(json.dumps({'new': new, 'installed': installed}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    new = facts["new"]
    assert "peerguard.live.agent" in new and "peerguard.policies.scripted" in new  # the check saw the imports
    foreign = [m for m in facts["installed"] if m.split(".")[0] != "peerguard"]
    assert foreign == []  # e.g. pydantic, pydantic_core, typing_extensions: the run's side, never an agent's
    heavy = [m for m in new if m.split(".")[0] in ("asyncio", "concurrent", "logging", "zipfile")]
    heavy += [m for m in new if m == "importlib.metadata"]
    assert heavy == []  # imported where the LLM policy calls a model (with Inspect AI), never by a scripted agent
