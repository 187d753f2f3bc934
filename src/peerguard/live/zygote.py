"""A per-run fork server (zygote): one process of the run with the agent code imported, from which agents are forked.

Starting an agent with `python -m peerguard.live.agent` costs an interpreter start and the agent's imports (about a
tenth of a second here); forking a process that has done both costs a fork. The zygote is started by the run's
`ProcessOwner` like any process of the run (its own child cgroup `zygote` of the run's, killed with the run) and dies
with the platform (PR_SET_PDEATHSIG, checked against the platform's pid). It forks twice per request, so the new
process is re-parented to the platform (a child subreaper): the platform waits for it, reads its exit status from the
kernel and holds it by a pidfd, exactly as it does a process it execs. Where the kernel has clone3 with
CLONE_INTO_CGROUP (Linux 5.7) it forks once instead (live/clone3.py): the process is born in its cgroup as the
platform's child (CLONE_PARENT), with no move between cgroups, whose lock waits for an RCU grace period (6 to 14 ms
here, most of a relaunch); a v1 `pids` cgroup it then joins by writing "0" to that cgroup's `tasks`, a
single-threaded process's move of itself, which the kernel makes without that lock.

The forked process takes, in the exec path's order, its process group or session, its cgroup (born in it, or the
cgroup.procs the platform hands over), its part's v1 pids cgroup where the host has one, its working folder, stdin
/dev/null and stdout/stderr to its log, exactly the descriptors the platform passes at the numbers it names and no
other; then its memory bound, umask, group and user
(`privilege.become`), its environment, a reseeded RNG and argv. It reports its pid only after all that, so a spawn
that returns has a process in its cgroup, without privileges, re-parented to the platform. It then asks to die with
the platform and runs the module as `python -m` would (runpy), so the agent's own entry point runs unchanged.

What a fork cannot give: a fresh hash seed (str hashes are the zygote's, the same for every agent of a run), and
/proc/<pid>/environ, which shows the environment the zygote was started with, not the one set after the fork (the
census reads only claims there; identity comes from descent).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import dataclasses
import fcntl
import gc
import importlib
import json
import os
import random
import runpy
import signal
import socket
import sys
import threading
import traceback
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from typing import Any

from peerguard.live.clone3 import CloneUnavailable, clone_into
from peerguard.live.privilege import Credentials, become

# The agent program and the policies it unpickles. Every page their imports make is mapped into each agent and unmapped
# at its exit, so they import only the standard library and peerguard, and nothing heavy a scripted agent never uses
# (pydantic, asyncio: hints under TYPE_CHECKING, imported where used); checked by tests/live/test_zygote.py.
AGENT_MODULES = ("peerguard.live.agent", "peerguard.policies")
PR_SET_PDEATHSIG = 1
MAX_REQUEST = 1 << 20  # an environment fits many times over
MAX_FDS = 16
READY_TIMEOUT_S = 120.0  # the zygote's imports, on a loaded host
REPLY_TIMEOUT_S = 30.0
# Each module's code, compiled once here: runpy would read and, where no fresh .pyc can be read or written
# (PYTHONDONTWRITEBYTECODE, a read-only tree), compile it again in every fork (4 ms for the agent program here).
_COMPILED: dict[str, tuple[ModuleSpec, types.CodeType]] = {}


class ZygoteUnavailable(Exception):
    """The zygote did not start or is gone: the caller starts the process the ordinary way instead."""


class ForkFailed(RuntimeError):
    """The forked process could not take its cgroup, descriptors or credentials (the exec path's pre-exec failure)."""


@dataclass(frozen=True)
class ForkRequest:
    module: str
    args: tuple[str, ...]
    env: dict[str, str]
    cwd: str
    new_session: bool
    pass_fds: tuple[int, ...]  # the numbers the process finds its descriptors at (ours, sent along)
    cgroup_procs_fd: int | None  # cgroup.procs to join first, when the process cannot be born in its cgroup
    cgroup_dir_fd: int | None  # the same cgroup's directory, to be born in (clone3 CLONE_INTO_CGROUP)
    pids_tasks_fd: int | None  # a v1 pids cgroup's `tasks`, joined next (None: none, or the caller moves it)
    log_fd: int | None  # stdout and stderr; None: the zygote's (the platform's)
    credentials: Credentials | None


class ForkServer:
    """The platform's end of a zygote: asks it for processes, one at a time."""

    def __init__(self, sock: socket.socket, pid: int, modules: Sequence[str]) -> None:
        self.sock, self.pid, self.modules = sock, pid, tuple(modules)
        self.ready = False
        self.births: dict[str, int] = {}  # forks by how they were made: "clone3" (born in the cgroup) or "fork"

    def serves(self, argv: Sequence[str]) -> str | None:
        """The module `argv` runs, when it is `python -m <a module the zygote imported> ...` with our interpreter."""
        if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m" and argv[2] in self.modules:
            return argv[2]
        return None

    def fork(self, request: ForkRequest) -> int:
        """The pid of a new process, already re-parented to us (a subreaper) and unreaped, so the pid is ours."""
        self._await_ready()
        fds = [*request.pass_fds]
        fds += [request.cgroup_procs_fd] if request.cgroup_procs_fd is not None else []
        fds += [request.cgroup_dir_fd] if request.cgroup_dir_fd is not None else []
        fds += [request.pids_tasks_fd] if request.pids_tasks_fd is not None else []
        fds += [request.log_fd] if request.log_fd is not None else []
        # Shallow: asdict would deep-copy the environment on every fork, only to serialise it.
        body = {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}
        body["credentials"] = dataclasses.asdict(request.credentials) if request.credentials is not None else None
        try:
            socket.send_fds(self.sock, [json.dumps(body).encode()], fds)
        except OSError as error:
            raise ZygoteUnavailable(f"the zygote (pid {self.pid}) is gone: {error}") from error
        reply = self._receive(REPLY_TIMEOUT_S)
        if "error" in reply:
            raise ForkFailed(str(reply["error"]))
        how = str(reply.get("how", "fork"))
        self.births[how] = self.births.get(how, 0) + 1
        return int(reply["pid"])

    def close(self) -> None:
        self.sock.close()

    def _await_ready(self) -> None:
        if self.ready:
            return
        hello = self._receive(READY_TIMEOUT_S)
        if hello.get("type") != "ready":
            raise ZygoteUnavailable(f"the zygote did not start: {hello.get('error', hello)}")
        self.ready = True

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        self.sock.settimeout(timeout_s)
        try:
            data = self.sock.recv(MAX_REQUEST)
        except OSError as error:  # a timeout included: a zygote that does not answer is as good as gone
            raise ZygoteUnavailable(f"the zygote (pid {self.pid}) did not answer: {error}") from error
        if not data:
            raise ZygoteUnavailable(f"the zygote (pid {self.pid}) is gone")
        reply: dict[str, Any] = json.loads(data)
        return reply


# -- the zygote process ----------------------------------------------------------------------------------------------


def serve(server: socket.socket, platform_pid: int, modules: Sequence[str]) -> None:
    """Import `modules`, then fork a process per request until the platform closes its end."""
    problem = _import(modules)
    if problem is not None:
        server.send(json.dumps({"type": "failed", "error": problem}).encode())
        return
    gc.collect()  # the imports' garbage, freed here once rather than frozen into every fork's pages
    gc.freeze()  # what the imports made stays untouched by the collector, so forks keep sharing its pages
    server.send(json.dumps({"type": "ready", "pid": os.getpid(), "modules": list(modules)}).encode())
    clone = True  # until the kernel says it cannot
    while True:
        data, fds, _, _ = socket.recv_fds(server, MAX_REQUEST, MAX_FDS)
        if not data:
            return
        try:
            request, pid, how = json.loads(data), None, "clone3"
            if clone:
                try:
                    pid = _clone_one(request, list(fds), server, platform_pid)
                except CloneUnavailable:
                    clone = False
                except OSError:
                    pid = None  # this cgroup refused a birth in it: the fork path joins it, or says why it cannot
            if pid is None:
                pid, how = _fork_one(request, list(fds), server, platform_pid), "fork"
            reply: dict[str, Any] = {"pid": pid, "how": how}
        except ForkFailed as error:
            reply = {"error": str(error)}
        finally:
            for fd in fds:
                os.close(fd)
        server.send(json.dumps(reply).encode())


def _import(modules: Sequence[str]) -> str | None:
    try:
        for module in modules:
            importlib.import_module(module)
            spec = sys.modules[module].__spec__
            get_code = getattr(spec.loader, "get_code", None) if spec is not None else None
            if spec is not None and get_code is not None and spec.submodule_search_locations is None:
                _COMPILED[module] = (spec, get_code(module))  # a package runs its __main__: left to runpy
    except Exception as error:  # the caller falls back to exec and says why
        return f"importing {module}: {error!r}"
    if threading.active_count() != 1:  # a fork copies only the forking thread: a lock another one held stays held
        return f"importing {', '.join(modules)} started threads ({threading.active_count()}); cannot fork safely"
    return None


def _clone_one(request: dict[str, Any], fds: list[int], server: socket.socket, platform_pid: int) -> int | None:
    """Fork once, the new process born in its cgroup as the platform's child; its pid once it is set up. None when
    the request names no cgroup directory to be born in (only a cgroup.procs to join)."""
    if request["cgroup_dir_fd"] is None and request["cgroup_procs_fd"] is not None:
        return None
    report_read, report_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = clone_into(_received(request, fds)["cgroup_dir"])
    except BaseException:
        os.close(report_read)
        os.close(report_write)
        raise
    if pid == 0:
        try:
            os.close(report_read)
        finally:
            _become_process({**request, "born_in_cgroup": True}, fds, server, report_write, platform_pid)
    os.close(report_write)
    return _await_report(report_read, f"the new process {pid} ended before reporting")


def _fork_one(request: dict[str, Any], fds: list[int], server: socket.socket, platform_pid: int) -> int:
    """Fork twice so the process's parent is the platform, not us; return its pid once it is set up."""
    report_read, report_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    intermediate = os.fork()
    if intermediate == 0:
        code = 1
        try:
            os.close(report_read)
            if os.fork() == 0:
                _become_process(request, fds, server, report_write, platform_pid)  # never returns
            code = 0
        finally:
            os._exit(code)  # the new process is orphaned now, so the kernel hands it to the platform (subreaper)
    os.close(report_write)
    _, status = os.waitpid(intermediate, 0)
    return _await_report(report_read, f"the forking process ended with status {status} before reporting")


def _await_report(report_read: int, silent: str) -> int:
    """The pid the new process reports once set up (read to the end: the pipe closes when it has said all)."""
    with os.fdopen(report_read, "rb") as report:
        said = report.read().decode(errors="replace")
    if not said.startswith("ok "):
        raise ForkFailed(said or silent)
    return int(said.split()[1])


def _received(request: dict[str, Any], fds: list[int]) -> dict[str, int | None]:
    """The descriptors that came after pass_fds, by what they are (None for those not sent)."""
    extra = iter(fds[len(request["pass_fds"]) :])
    names = (("cgroup_procs", "cgroup_procs_fd"), ("cgroup_dir", "cgroup_dir_fd"), ("pids_tasks", "pids_tasks_fd"),
             ("log", "log_fd"))  # fmt: skip
    return {name: next(extra) if request[key] is not None else None for name, key in names}


def _become_process(
    request: dict[str, Any], fds: list[int], server: socket.socket, report: int, platform_pid: int
) -> None:
    forked_by = os.getppid()
    try:
        server.detach()  # its descriptor is closed with every other one the process is not given
        report = _take_setup(request, fds, report)
    except BaseException as error:  # any failure is reported, never run past
        with contextlib.suppress(OSError):
            os.write(report, f"could not set up the new process: {error!r}".encode())
        os._exit(127)
    os.write(report, f"ok {os.getpid()}".encode())
    os.close(report)
    while os.getppid() == forked_by != platform_pid:  # the forking process exits at once; this is a few microseconds
        os.sched_yield()
    _die_with(platform_pid)
    _run_module(request["module"], request["args"])


def _take_setup(request: dict[str, Any], fds: list[int], report: int) -> int:
    """What the exec path gives a process, in its order: group, cgroup, folder, descriptors, then credentials.
    Returns where the report pipe is now."""
    if request["new_session"]:
        os.setsid()
    else:
        os.setpgid(0, 0)
    pass_fds: list[int] = request["pass_fds"]
    received = dict(zip(pass_fds, fds, strict=False))
    extra = _received(request, fds)
    cgroup_fd, pids_fd, log_fd = extra["cgroup_procs"], extra["pids_tasks"], extra["log"]
    if cgroup_fd is not None and not request.get("born_in_cgroup"):
        os.write(cgroup_fd, b"0")  # "0": the writing process; while still privileged, as the exec path joins
    if pids_fd is not None:
        os.write(pids_fd, b"0")  # "0" in v1 `tasks`: this thread, the only one, so the whole process
    os.chdir(request["cwd"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    if log_fd is not None:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
    report = _keep_only(received, report)
    credentials = request["credentials"]
    if credentials is not None:
        become(Credentials(**credentials))
    os.environ.clear()
    os.environ.update(request["env"])
    random.seed()  # also done by random's own fork hook; said here because a copy of the zygote's RNG would be shared
    return report


def _keep_only(wanted: dict[int, int], report: int) -> int:
    """Put each received descriptor at the number the process expects it at; close every other one but 0-2 and the
    report pipe (the exec path's pass_fds and close_fds). Returns the report pipe's new number."""
    high = max([*wanted, *wanted.values(), report, 2]) + 1
    moved = {target: fcntl.fcntl(source, fcntl.F_DUPFD_CLOEXEC, high) for target, source in wanted.items()}
    report = fcntl.fcntl(report, fcntl.F_DUPFD_CLOEXEC, high + len(moved))  # above every target, so none lands on it
    for target, source in moved.items():
        os.dup2(source, target, inheritable=True)
    keep = sorted({0, 1, 2, *wanted, report})
    for low, up in zip(keep, [*keep[1:], os.sysconf("SC_OPEN_MAX")], strict=True):
        os.closerange(low + 1, up)
    return report


def _die_with(platform_pid: int) -> None:
    """Ask for SIGKILL when the platform dies (after the last credential change, which would clear it); a platform
    gone already means the new process has no run to join."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != platform_pid:
        os._exit(1)


def _run_module(module: str, args: Sequence[str]) -> None:
    """Run `module` as `python -m module args...` would, then end the process as the interpreter would."""
    sys.argv = [module, *args]
    code = 0
    try:
        if module in _COMPILED:
            _run_compiled(*_COMPILED[module])
        else:
            with warnings.catch_warnings():  # the module was imported on purpose, before it is run as __main__
                warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)
                runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    except BaseException:  # as python does: the traceback, status 1
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _run_compiled(spec: ModuleSpec, code: types.CodeType) -> None:
    """Run a module's compiled code as a new __main__, with the globals and argv[0] runpy gives it."""
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=spec.origin, __cached__=spec.cached, __loader__=spec.loader, __package__=spec.parent, __spec__=spec,
    )  # fmt: skip
    sys.argv[0] = spec.origin or sys.argv[0]
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform-pid", type=int, required=True)
    parser.add_argument("--socket-fd", type=int, required=True)
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args(argv)
    _die_with(args.platform_pid)
    serve(socket.socket(fileno=args.socket_fd), args.platform_pid, args.modules)


if __name__ == "__main__":
    main()
