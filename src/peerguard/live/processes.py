"""Own the OS processes of one live run: start them, watch them exit, signal them, and leave none behind.

`ProcessOwner` is a context manager in the spirit of a trio nursery: no process it started, nor any descendant (even
one that double-forked or called setsid), outlives the `with` block, however the block is left: normally, by an
exception, by KeyboardInterrupt (SIGINT) or by SIGTERM/SIGHUP, which become SystemExit(128 + signal) while the block
is open if they had their default (fatal) action.

    with ProcessOwner(run_dir, "run-1") as owner:
        child = owner.spawn([sys.executable, "agent.py"], log=Path("agent.log"))
        owner.signal(child, signal.SIGTERM)  # False if it had already exited
        status = await owner.wait(child)  # ExitStatus(pid, returncode, signal); the child is reaped
        owner.alive()  # pids of the run's live processes
    # here close() has killed and reaped everything of the run

API: `ProcessOwner(run_dir, name, *, support=None, grace_s=0.0, kill_timeout_s=10.0, preload=())`;
`spawn(argv, *, env, pass_fds, cwd, new_session, log, cgroup, credentials) -> Child`; `async wait(child) -> ExitStatus`;
`signal(child, sig) -> bool`; `alive() -> set[int]`; `close()`. A `Child` counts by identity: one made by hand, or
another owner's, is refused with `ForeignProcessError`. An event loop that watches many children at once watches
`exits_fd()` (one descriptor for all their pidfds) and calls `exited()` when it turns readable: every child that ended
since, with its status, left unreaped until `reap_exited()` (reaping competes with the dying for the kernel's locks).

What it uses when the host has it (`host.probe_host`, or `support=` to pretend it lacks something):
- cgroup v2: a child cgroup per run. Each child joins it in a pre-exec hook, before the target program runs (joining
  after spawn would let an escaper fork outside first); `cgroup.kill` then takes every member at once.
- child subreaper: orphans of the run (double-forked, setsid) are re-parented to this process instead of init, so
  walking /proc from this process finds them and they can be reaped. While an owner is open, every child of this
  process that was not there at entry and that no other open owner started counts as part of its run.
- pidfds: exits are watched with `loop.add_reader(pidfd)` and signals cannot reach a recycled pid. Without them, a
  daemon thread per watched child blocks in waitid(WNOWAIT), and os.kill is used only on children not yet reaped.
- a zygote (`preload`, live/zygote.py): a process of the run, started on entry, that imported these modules; a spawn
  of `python -m <one of them>` is then a fork of it instead of a new interpreter, with the same cgroup, process group,
  descriptors, credentials and parent (the kernel re-parents the fork to this subreaper, which waits for it and holds
  it by pidfd). It needs pidfds and the subreaper; without them, or if the zygote fails, spawn execs as before and
  `zygote_reason` says why. The zygote is the run's infrastructure: `processes()` (the census's view) leaves it out.
Without a cgroup, close() SIGKILLs each child's process group and every run process the /proc walk finds, and walks
again until nothing is alive. Without a cgroup and a subreaper, a double-forked orphan goes to init and is missed.

Use an owner from one thread, the one that runs the event loop its waits use. Beware that asyncio's
`loop.remove_signal_handler(SIGTERM)` resets SIGTERM to SIG_DFL rather than to the handler it replaced: restore the
previous handler yourself, or a later SIGTERM ends the process before close() can run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Protocol

from peerguard.live.host import Feature, HostSupport, is_child_subreaper, probe_host, set_child_subreaper
from peerguard.live.privilege import Credentials, become
from peerguard.live.procfs import ProcInfo, proc_info
from peerguard.live.stale_cgroups import PREFIX, fresh_run_cgroup
from peerguard.live.zygote import ForkFailed, ForkRequest, ForkServer, ZygoteUnavailable
from peerguard.world.errors import PeerguardError

_DEFERRED_WHILE_CLOSING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_FATAL_BY_DEFAULT = (signal.SIGTERM, signal.SIGHUP)  # their default action would end us before any cleanup
_run_serial = itertools.count(1)
_LISTING_READ = 65536  # bytes of one cgroup.procs pread: some 9,000 pids
ZYGOTE_CGROUP = "zygote"  # the zygote's own child cgroup of the run's (agents' parts are all named part-...)


class ForeignProcessError(PeerguardError):
    """Asked to signal or wait for a process that this owner did not start."""


class SurvivorsError(RuntimeError):
    """Processes of a run were still alive after SIGKILL and the kill timeout."""


@dataclass(frozen=True, eq=False)  # identity, not pid: a Child made by hand with some pid is not ours
class Child:
    pid: int
    pidfd: int | None  # valid until the child is reaped
    started_wall: float  # time.monotonic() when it was spawned
    argv: tuple[str, ...]


@dataclass(frozen=True)
class ExitStatus:
    pid: int
    returncode: int | None  # set when the process exited by itself
    signal: int | None  # set when a signal ended it

    @classmethod
    def from_returncode(cls, pid: int, returncode: int) -> ExitStatus:
        return cls(pid, None, -returncode) if returncode < 0 else cls(pid, returncode, None)


class _Process(Protocol):
    """What the owner needs of a started process: a subprocess.Popen, or a fork the zygote made (`_Forked`)."""

    pid: int

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def kill(self) -> None: ...


class _Forked:
    """A process the zygote forked and the kernel re-parented to us: reaped with waitpid, as Popen reaps."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self._wait(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int:
        code = self._wait(0)
        assert code is not None  # a blocking waitpid returns only once the process has ended
        return code

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # unreaped, so the pid is still this process's

    def _wait(self, options: int) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, options)
            except ChildProcessError:  # reaped by someone else: Popen's convention
                self.returncode = 0
                return 0
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


@dataclass(eq=False)
class _Owned:
    child: Child
    popen: _Process
    pidfd: int | None
    status: ExitStatus | None = None
    watch: asyncio.Future[None] | None = None


class ProcessOwner:
    """Starts the processes of one run; none outlives its `with` block (see the module docstring).

    support: what the host allows, probed when None; pass a downgraded copy to use a fallback on purpose.
    grace_s: on close, SIGTERM the children it started and give them this long before killing everything.
    kill_timeout_s: how long close() waits for killed processes to disappear before raising SurvivorsError.
    preload: modules a zygote imports on entry, so that spawning `python -m` one of them is a fork (see above).
    """

    def __init__(
        self,
        run_dir: Path,
        name: str,
        *,
        support: HostSupport | None = None,
        grace_s: float = 0.0,
        kill_timeout_s: float = 10.0,
        preload: Sequence[str] = (),
    ) -> None:
        self.run_dir = Path(run_dir)
        self.name = name
        self.support = support or probe_host()  # downgraded on entry if a feature fails in use
        self.grace_s = grace_s
        self.kill_timeout_s = kill_timeout_s
        self.cgroup: Path | None = None
        self.pids_cgroup: Path | None = None  # the run's cgroup with pids.max (v2 or v1 `pids`), when the host has one
        self._owned: dict[Child, _Owned] = {}
        self._present_at_entry: set[tuple[int, int]] = set()
        self._cgroup_procs_fd: int | None = None
        self._sub_fds: dict[str, int] = {}  # per-part child cgroups (one per agent), by name
        self._switch_fds: dict[tuple[str, str], int] = {}  # (part, cgroup.kill or cgroup.freeze), open for writing
        self._dir_fds: dict[str | None, int] = {}  # their directories (None: the run's), to be born in
        self._tasks_fds: dict[str, int] = {}  # per-part v1 pids cgroups' `tasks`, joined by the child itself
        self._bounded_at_spawn: set[int] = set()  # pids that joined their part's pids cgroup before they ran
        self._holds_subreaper = False
        self._replaced_handlers: dict[int, Any] = {}
        self._state = "new"  # new -> open -> closed
        self._closing = False
        self.preload = tuple(preload)
        self._zygote: ForkServer | None = None
        self._zygote_child: Child | None = None
        self.zygote_reason = "no modules to preload" if not preload else "not started"
        self._listing: dict[Path, int] = {}  # cgroup.procs of every cgroup of the run's v2 tree, open for pread
        self._listing_stat: int | None = None  # the run cgroup's cgroup.stat, open for pread
        self._listing_shape = b""  # what cgroup.stat said when the tree was last walked
        self._exits: select.epoll | None = None  # every unreaped child's pidfd: readable when any of them exited
        self._owned_by_fd: dict[int, _Owned] = {}
        self._exited_unreaped: list[_Owned] = []  # reported by `exited`, left for `reap_exited`
        self._tasks_count_fd: int | None = None  # the run pids cgroup's pids.current, open for pread
        self._v2_mount: str | None = None  # where the v2 hierarchy our cgroup paths are relative to is mounted

    def __enter__(self) -> ProcessOwner:
        if self._state != "new":
            raise RuntimeError(f"process owner {self.name!r} was already entered; make a new one per run")
        self._state = "open"
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._present_at_entry = {_identity(pid, info) for pid, info in _stats(_children_of(os.getpid())).items()}
            _open_owners.add(self)
            self._become_subreaper()
            self._make_run_cgroup()
            self._make_pids_cgroup()
            self._turn_fatal_signals_into_exit()
            self._start_zygote()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        cwd: Path | None = None,
        new_session: bool = False,
        log: Path | None = None,
        cgroup: str | None = None,
        credentials: Credentials | None = None,
        max_tasks: int | None = None,
    ) -> Child:
        """Start `argv` in its own process group (or its own session), in the run's cgroup if there is one.

        The child's stdin is /dev/null (a background process group reading our terminal would be stopped);
        stdout and stderr go to `log` (appended; relative to run_dir) or, when None, to ours. cwd defaults to run_dir
        (entered while the child still has our privileges, so it need not be reachable by `credentials`' user).
        `credentials`: the user, group and memory bound the child takes after joining its cgroup, before exec.
        `max_tasks`: with `cgroup`, where the part's pids cgroup is a v1 one, the child joins it (pids.max
        `max_tasks`) itself before it runs anything; `bound_processes` then has nothing left to do.
        """
        if self._state != "open" or self._closing:
            raise RuntimeError(f"process owner {self.name!r} is not open; spawn inside its `with` block")
        if not argv:
            raise ValueError("spawn needs a non-empty argv")
        module = self._zygote.serves(argv) if self._zygote is not None else None
        tasks_fd = self._pids_tasks_fd(cgroup, max_tasks) if cgroup is not None and max_tasks is not None else None
        output = (self.run_dir / log).open("ab") if log is not None else None
        started_wall = time.monotonic()
        try:
            if module is not None:
                procs_fd = self._cgroup_procs_fd if cgroup is None else self._sub_cgroup_fd(cgroup)
                dir_fd = self._cgroup_dir_fd(cgroup) if procs_fd is not None else None
                request = ForkRequest(
                    module, tuple(argv[3:]), dict(os.environ if env is None else env), str(cwd or self.run_dir),
                    new_session, tuple(pass_fds), procs_fd, dir_fd, tasks_fd, output.fileno() if output else None,
                    credentials,
                )  # fmt: skip
                forked = self._fork_from_zygote(request, started_wall, argv)
                if forked is not None:
                    if tasks_fd is not None:
                        self._bounded_at_spawn.add(forked.pid)
                    return forked
            popen: _Process = subprocess.Popen(
                list(argv),
                env=env,
                pass_fds=tuple(pass_fds),
                cwd=cwd or self.run_dir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=new_session,
                process_group=None if new_session else 0,
                preexec_fn=self._pre_exec_hook(cgroup, credentials, tasks_fd),
            )
        except subprocess.SubprocessError as error:  # raised only when the pre-exec hook failed
            raise RuntimeError(
                f"could not move a new process of run {self.name!r} into {self.cgroup} or give it {credentials}"
            ) from error
        finally:
            if output is not None:
                output.close()
        if tasks_fd is not None:
            self._bounded_at_spawn.add(popen.pid)
        return self._adopt(popen, started_wall, argv)

    def _fork_from_zygote(self, request: ForkRequest, started_wall: float, argv: Sequence[str]) -> Child | None:
        """A fork of the zygote, or None when the zygote is gone (the caller execs instead; it is not asked again)."""
        assert self._zygote is not None
        try:
            pid = self._zygote.fork(request)
        except ZygoteUnavailable as error:
            self.zygote_reason = f"stopped forking: {error}"
            self._zygote.close()
            self._zygote = None
            return None
        except ForkFailed as error:
            raise RuntimeError(
                f"could not move a new process of run {self.name!r} into its cgroup or give it {request.credentials}:"
                f" {error}"
            ) from error
        return self._adopt(_Forked(pid), started_wall, argv)

    def _adopt(self, popen: _Process, started_wall: float, argv: Sequence[str]) -> Child:
        """Hold a new child of ours by pidfd and own it; kill it if the owner closed meanwhile."""
        try:
            pidfd = os.pidfd_open(popen.pid) if self.support.pidfd.available else None
        except BaseException:
            popen.kill()
            popen.wait()
            raise
        child = Child(popen.pid, pidfd, started_wall, tuple(argv))
        owned = self._owned[child] = _Owned(child, popen, pidfd)
        if self._exits is not None and pidfd is not None:
            self._watch_exits_of(owned)
        if self._state != "open":  # a signal handler closed us while we were starting it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
            self._reap(self._owned[child])
            raise RuntimeError(f"process owner {self.name!r} was closed while spawning {argv[0]}")
        return child

    async def wait(self, child: Child) -> ExitStatus:
        """Resolve when `child` has exited, reap it and return how it ended. Waiting again returns the same status."""
        owned = self._own(child)
        while (status := self._reap(owned)) is None:
            # Shielded: a cancelled waiter must not cancel the watch that other waiters of this child share.
            await asyncio.shield(self._exit_watch(owned))
        return status

    def exits_fd(self) -> int | None:
        """A descriptor that turns readable when a child this owner started has exited (an epoll of their pidfds),
        for an event loop to watch all of them at once; `exited` then says which. None without pidfds."""
        if self._exits is None and self.support.pidfd.available and self._state == "open":
            self._exits = select.epoll()
            for owned in self._owned.values():
                if owned.pidfd is not None:
                    self._watch_exits_of(owned)
        return self._exits.fileno() if self._exits is not None else None

    def exited(self) -> list[tuple[Child, ExitStatus]]:
        """Every child that has exited since the last call and how it ended, from one poll of their pidfds (a stop that
        kills many children is one wake-up, not one per child), read without reaping it (waitid with WNOWAIT): reaping
        costs the reaper up to a few ms of CPU a process when many die at once, so `reap_exited` does it when the
        caller has time. A child reaped meanwhile (`wait`, `alive`) is reported all the same: its pidfd stays open,
        and readable, until it is."""
        if self._exits is None:
            return []
        ended = []
        for fd, _ in self._exits.poll(0):
            owned = self._owned_by_fd.get(fd)
            if owned is None or (status := self._peek(owned)) is None:
                continue  # (readable and neither reaped nor waitable: never expected)
            del self._owned_by_fd[fd]
            self._exits.unregister(fd)
            if owned.status is not None:
                os.close(fd)  # kept open only for this report
            else:
                self._exited_unreaped.append(owned)
            ended.append((owned.child, status))
        return ended

    def reap_exited(self) -> None:
        """Reap the children `exited` reported (the kernel keeps each as a zombie until then)."""
        exited, self._exited_unreaped = self._exited_unreaped, []
        for owned in exited:
            self._reap(owned)

    def _peek(self, owned: _Owned) -> ExitStatus | None:
        """How `owned` ended if it has, without reaping it."""
        if owned.status is not None:
            return owned.status
        try:  # unreaped, so its pid is still its own
            info = os.waitid(os.P_PID, owned.child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped by someone else: Popen's convention
            return ExitStatus(owned.child.pid, 0, None)
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            return ExitStatus(owned.child.pid, info.si_status, None)
        return ExitStatus(owned.child.pid, None, info.si_status)

    def _watch_exits_of(self, owned: _Owned) -> None:
        assert self._exits is not None and owned.pidfd is not None
        self._exits.register(owned.pidfd, select.EPOLLIN)
        self._owned_by_fd[owned.pidfd] = owned

    def signal(self, child: Child, sig: int) -> bool:
        """Send `sig` to `child`. False when it had already exited. Refuses processes this owner did not start."""
        owned = self._own(child)
        if owned.pidfd is None or owned.status is not None:
            if self._reap(owned) is not None:
                return False
            os.kill(child.pid, sig)  # not reaped (checked just above), so this pid still names our child
            return True
        if self._peek(owned) is not None:  # exited; not reaped here, which can wait (see `exited`)
            return False
        try:
            signal.pidfd_send_signal(owned.pidfd, sig)
        except ProcessLookupError:
            return False
        return True

    def alive(self) -> set[int]:
        """Pids of this run's processes that are still alive (zombies excluded)."""
        unreaped = {owned.child.pid for owned in self._owned.values() if self._reap(owned) is None}
        return unreaped | {pid for pid, info in self._members().items() if info.state != "Z"}

    def processes(self) -> dict[int, ProcInfo]:
        """Every process of this run as /proc shows it now (state, parent, start time), zombies included; the
        zygote and the processes it is forking (the run's infrastructure, not its agents') left out."""
        return self._members(infrastructure=False)

    def listed_pids(self) -> set[int] | None:
        """The run's live processes as its v2 cgroup tree lists them (zombies are not listed; the zygote's cgroup is
        left out), one pread per cgroup through descriptors kept open; None without a cgroup. The tree is walked
        again only when the run cgroup's cgroup.stat (its number of descendant cgroups) changes."""
        if not self._fresh_listing():
            return None
        return self._read_listing(list(self._listing.items()))

    def part_pids(self, names: Sequence[str]) -> set[int]:
        """Pids in the named parts' cgroups (and any cgroup a member made inside them), read like `listed_pids`:
        one pread per cgroup through the listing's open descriptors, no directory walked (a kill switch reads it just
        before its kill, which must not wait on a walk)."""
        if not self._fresh_listing():
            return self.cgroup_pids(names)
        assert self.cgroup is not None
        wanted = {part_name(name) for name in names}
        top = len(self.cgroup.parts)
        return self._read_listing([(d, fd) for d, fd in self._listing.items() if d.parts[top : top + 1] and
                                   d.parts[top] in wanted])  # fmt: skip

    def _fresh_listing(self) -> bool:
        """Open the run's v2 tree's cgroup.procs files again if its shape changed; False without a cgroup."""
        if self.cgroup is None or self._state != "open":
            return False
        try:
            if self._listing_stat is None:
                self._listing_stat = os.open(self.cgroup / "cgroup.stat", os.O_RDONLY | os.O_CLOEXEC)
            shape = os.pread(self._listing_stat, 4096, 0)
        except OSError:
            return False
        if shape != self._listing_shape or not self._listing:
            self._walk_listing()
            self._listing_shape = shape
        return True

    def _read_listing(self, listing: list[tuple[Path, int]]) -> set[int]:
        pids: set[int] = set()
        for directory, fd in listing:
            try:
                text = os.pread(fd, _LISTING_READ, 0)
                if len(text) == _LISTING_READ:  # more than one read holds: read it whole
                    text = (directory / "cgroup.procs").read_bytes()
            except OSError:  # removed meanwhile: walk again next time
                self._listing_shape = b""
                continue
            pids.update(int(pid) for pid in text.split())
        return pids

    def in_run_cgroup(self, pid: int) -> bool:
        """Whether `pid` is in the run's v2 cgroup tree by its own /proc/<pid>/cgroup. An exiting process has left
        the cgroup's list (cgroup.procs) but not this, so a process missing from the list and still in here is
        dying, not escaped."""
        if self.cgroup is None or self.support.cgroup_parent is None:
            return False
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return False
        top = str(self.cgroup)
        for line in lines:
            if line.startswith("0::"):
                if self._v2_mount is None:  # read once: a stop asks this of every dying member, each pass
                    self._v2_mount = _mount_root(self.support.cgroup_parent, "0::")
                inside = self._v2_mount + line[3:].rstrip("/")
                return inside == top or inside.startswith(top + "/")
        return False

    def _walk_listing(self) -> None:
        assert self.cgroup is not None
        self._close_listing(keep_stat=True)
        zygote = self.cgroup / ZYGOTE_CGROUP
        for directory, subdirectories, _ in os.walk(self.cgroup):
            if Path(directory) == self.cgroup:
                subdirectories[:] = [d for d in subdirectories if self.cgroup / d != zygote]
            with contextlib.suppress(OSError):
                self._listing[Path(directory)] = os.open(Path(directory, "cgroup.procs"), os.O_RDONLY | os.O_CLOEXEC)

    def _close_listing(self, keep_stat: bool = False) -> None:
        for fd in self._listing.values():
            os.close(fd)
        self._listing.clear()
        if not keep_stat and self._listing_stat is not None:
            os.close(self._listing_stat)
            self._listing_stat = None

    @property
    def zygote_pid(self) -> int | None:
        """The zygote's pid while it forks for this run."""
        return self._zygote.pid if self._zygote is not None else None

    @property
    def zygote_births(self) -> dict[str, int]:
        """The zygote's forks so far by how they were made: "clone3" (born in their cgroup), "fork" (moved into it)."""
        return dict(self._zygote.births) if self._zygote is not None else {}

    def close(self) -> None:
        """Stop and reap everything of this run, then undo what entry changed. Idempotent.

        SIGINT/SIGTERM/SIGHUP that arrive meanwhile are held and delivered afterwards, so a second Ctrl-C cannot
        abandon the cleanup half-way. A nested call (from a signal handler that interrupted close) returns at once;
        the interrupted call finishes the job. Raises SurvivorsError if processes outlive the kill timeout.
        """
        if self._state == "closed" or self._closing:
            return
        if self._state == "new":
            self._state = "closed"
            return
        self._closing = True
        held: list[int] = []
        deferred_handlers = _hold_stop_signals(held)
        survivors: set[int] = set()
        try:
            survivors = self._stop_everything()
        finally:
            self._release_host(keep_cgroup=bool(survivors))
            self._state = "closed"
            self._closing = False
            for sig, handler in deferred_handlers.items():
                original = self._replaced_handlers.pop(sig, None)
                ours = original is not None and handler is _raise_system_exit  # else the caller changed it since
                signal.signal(sig, original if ours else handler)
            for sig in dict.fromkeys(held):
                signal.raise_signal(sig)
        if survivors:
            where = f"; their cgroup {self.cgroup} is kept" if self.cgroup else ""
            raise SurvivorsError(
                f"run {self.name!r}: processes {sorted(survivors)} were still alive {self.kill_timeout_s} s after "
                f"SIGKILL (uninterruptible sleep?){where}"
            )

    # -- entry -----------------------------------------------------------------------------------------------------

    def _become_subreaper(self) -> None:
        if not self.support.subreaper.available:
            return
        try:
            _shared_subreaper.acquire()
        except OSError as error:
            self.support = replace(self.support, subreaper=Feature(False, f"setting the subreaper flag: {error}"))
            return
        self._holds_subreaper = True

    def _make_run_cgroup(self) -> None:
        parent = self.support.cgroup_parent
        if not self.support.cgroup.available or parent is None:
            return
        path = fresh_run_cgroup(parent, f"{PREFIX}{_run_slug(self.name)}", next(_run_serial))
        try:
            path.mkdir()
            self._cgroup_procs_fd = os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError as error:
            with contextlib.suppress(OSError):
                path.rmdir()
            self.support = replace(self.support, cgroup=Feature(False, f"creating run cgroup {path}: {error}"))
            return
        self.cgroup = path

    def _make_pids_cgroup(self) -> None:
        parent = self.support.pids_parent
        if not self.support.pids.available or parent is None:
            return
        path = fresh_run_cgroup(parent, f"{PREFIX}pids-{_run_slug(self.name)}", next(_run_serial))
        try:
            path.mkdir()
        except OSError as error:
            self.support = replace(self.support, pids=Feature(False, f"creating {path}: {error}"))
            return
        self.pids_cgroup = path

    def _start_zygote(self) -> None:
        """Exec the zygote, in its own child cgroup of the run's; it imports while the caller goes on."""
        if not self.preload:
            return
        missing = [f.reason for f in (self.support.pidfd, self.support.subreaper) if not f.available]
        if missing:  # without both, a fork re-parented to us could not be waited for or held
            self.zygote_reason = "not used: " + "; ".join(missing)
            return
        platform_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        procs_fd = None
        try:
            if self.cgroup is not None:
                procs_fd = os.open(self.cgroup / _mkdir(self.cgroup / ZYGOTE_CGROUP) / "cgroup.procs", os.O_WRONLY)
            argv = [sys.executable, "-m", "peerguard.live.zygote", "--platform-pid", str(os.getpid()),
                    "--socket-fd", str(zygote_end.fileno()), *self.preload]  # fmt: skip
            popen = subprocess.Popen(
                argv, pass_fds=(zygote_end.fileno(),), cwd=self.run_dir, stdin=subprocess.DEVNULL, process_group=0,
                preexec_fn=None if procs_fd is None else (lambda: os.write(procs_fd, b"0")),  # type: ignore[misc]
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as error:
            platform_end.close()
            self.zygote_reason = f"could not start: {error}"
            return
        finally:
            zygote_end.close()
            if procs_fd is not None:
                os.close(procs_fd)
        self._zygote_child = self._adopt(popen, time.monotonic(), argv)
        self._zygote = ForkServer(platform_end, popen.pid, self.preload)
        self.zygote_reason = f"pid {popen.pid} forks python -m {', '.join(self.preload)}"

    # -- bounds on the processes of parts of the run (pids.max) -------------------------------------------------

    def bound_processes(self, name: str, pid: int, max_tasks: int) -> bool:
        """Move `pid` into the part's pids cgroup, whose pids.max is `max_tasks`; False without one.

        Done from here after spawn rather than in the pre-exec hook: forks made in the moment between are still
        the part's by descent (the census), only not bounded by the kernel.
        """
        if self.pids_cgroup is None:
            return False
        if pid in self._bounded_at_spawn:  # it joined before it ran (spawn's max_tasks): moving it again costs a wait
            self._bounded_at_spawn.discard(pid)
            return True
        path = self.pids_cgroup / part_name(name)
        try:
            if not path.is_dir():
                path.mkdir()
                (path / "pids.max").write_text(str(max_tasks))
            (path / "cgroup.procs").write_text(str(pid))
        except ProcessLookupError:
            return True  # already gone: nothing to bound
        except OSError as error:
            raise RuntimeError(f"could not bound the processes of {name!r} in {path}: {error}") from error
        return True

    def close_to_new_processes(self, names: Sequence[str]) -> list[str]:
        """pids.max 0 on the named parts: the kernel refuses their members every fork. The parts it closed."""
        closed = []
        for name in names:
            path = self.pids_cgroup / part_name(name) if self.pids_cgroup is not None else None
            if path is not None and path.is_dir():
                (path / "pids.max").write_text("0")
                closed.append(name)
        return closed

    def task_count(self) -> int | None:
        """The run's tasks (threads included) as its pids cgroup counts them (`pids.current`, which counts the cgroups
        below too), one pread through a descriptor kept open; None without a pids cgroup. Every fork in the run's pids
        cgroup raises it, every task's end lowers it: while it stays put, only a fork matched by a thread's end (or a
        process that left the cgroup) can have been born."""
        if self.pids_cgroup is None or self._state != "open":
            return None
        try:
            if self._tasks_count_fd is None:
                self._tasks_count_fd = os.open(self.pids_cgroup / "pids.current", os.O_RDONLY | os.O_CLOEXEC)
            return int(os.pread(self._tasks_count_fd, 32, 0))
        except (OSError, ValueError):
            return None

    def cgroup_dirs(self) -> list[Path]:
        """Every cgroup directory of the run (v2 and pids), for checks that read the kernel's lists themselves."""
        return [top for top in (self.cgroup, self.pids_cgroup) if top is not None]

    def part_of_cgroup(self, pid: int) -> str | None:
        """The safe name of the part (`part-...`) whose cgroup `pid` is in now, in either hierarchy, or None."""
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return None
        tops = [str(top) for top in self.cgroup_dirs()]
        for line in lines:
            relative = line.split(":", 2)[-1]
            for top, mount in zip(tops, self._mounts_of_tops(), strict=True):
                inside = mount + relative.rstrip("/")
                if inside.startswith(top + "/"):
                    return inside[len(top) + 1 :].split("/")[0]
        return None

    def _mounts_of_tops(self) -> list[str]:
        mounts = []
        if self.cgroup is not None and self.support.cgroup_parent is not None:
            mounts.append(_mount_root(self.support.cgroup_parent, "0::"))
        if self.pids_cgroup is not None and self.support.pids_parent is not None:
            mounts.append(_mount_root(self.support.pids_parent, "pids"))
        return mounts

    # -- cgroups of parts of the run (one per agent), for kill switches ------------------------------------------

    def _sub_cgroup_fd(self, name: str) -> int | None:
        """The open cgroup.procs of the run's child cgroup `name`, made on first use (None without cgroups)."""
        if self.cgroup is None:
            return None
        if name not in self._sub_fds:
            path = self.cgroup / part_name(name)
            path.mkdir(exist_ok=True)
            self._sub_fds[name] = os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
            self._switch_fd(name, "cgroup.kill")  # opened now, so a kill switch's kill is one write per part
        return self._sub_fds[name]

    def _switch_fd(self, name: str, switch: str) -> int | None:
        """The part's `switch` (cgroup.kill, cgroup.freeze) open for writing, kept from first use; None when the part
        has no cgroup (it never had a process)."""
        key = (name, switch)
        if key not in self._switch_fds:
            assert self.cgroup is not None
            try:
                self._switch_fds[key] = os.open(self.cgroup / part_name(name) / switch, os.O_WRONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return None
        return self._switch_fds[key]

    def _cgroup_dir_fd(self, name: str | None) -> int | None:
        """The open directory of the part's cgroup (None: the run's), for a fork born in it (clone3)."""
        if self.cgroup is None:
            return None
        if name not in self._dir_fds:
            path = self.cgroup if name is None else self.cgroup / part_name(name)
            path.mkdir(exist_ok=True)
            self._dir_fds[name] = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self._dir_fds[name]

    def _pids_tasks_fd(self, name: str, max_tasks: int) -> int | None:
        """The open `tasks` of the part's v1 pids cgroup (made with pids.max `max_tasks` on first use); None where
        the pids cgroup is a v2 one (no `tasks`: bound_processes moves the process after spawn) or there is none.

        A process that writes "0" there moves its own thread, without the global lock a move of a whole process
        takes (an RCU grace period, 6 to 14 ms here); a new process has one thread, so that is all of it."""
        if self.pids_cgroup is None:
            return None
        if name not in self._tasks_fds:
            path = self.pids_cgroup / part_name(name)
            try:
                if not path.is_dir():
                    path.mkdir()
                    (path / "pids.max").write_text(str(max_tasks))
                if not (path / "tasks").exists():
                    return None
                self._tasks_fds[name] = os.open(path / "tasks", os.O_WRONLY | os.O_CLOEXEC)
            except OSError as error:
                raise RuntimeError(f"could not bound the processes of {name!r} in {path}: {error}") from error
        return self._tasks_fds[name]

    def cgroup_pids(self, names: Sequence[str]) -> set[int]:
        """Pids in the named parts' cgroups (and any cgroup a member made inside them)."""
        if self.cgroup is None:
            return set()
        pids: set[int] = set()
        for name in names:
            pids |= cgroup_tree_pids(self.cgroup / part_name(name))
        return pids

    def freeze_cgroups(self, names: Sequence[str], frozen: bool = True) -> None:
        """cgroup.freeze on the named parts: every member stops (or resumes) at once, fresh forks included."""
        self._switch(names, "cgroup.freeze", b"1" if frozen else b"0")

    def kill_cgroups(self, names: Sequence[str]) -> None:
        """cgroup.kill on the named parts: the kernel SIGKILLs every member, fresh forks included. One write per part
        through a descriptor opened when the part was made, nothing else first: the kill is the race."""
        self._switch(names, "cgroup.kill", b"1")

    def _switch(self, names: Sequence[str], switch: str, value: bytes) -> None:
        if self.cgroup is None:
            raise RuntimeError(f"process owner {self.name!r} has no cgroup: {self.support.cgroup.reason}")
        for name in names:
            fd = self._switch_fd(name, switch)
            if fd is not None:  # else a part that never had a process
                os.write(fd, value)

    def _turn_fatal_signals_into_exit(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; __exit__ still runs for exceptions there
        for sig in _FATAL_BY_DEFAULT:
            if signal.getsignal(sig) is signal.SIG_DFL:
                self._replaced_handlers[sig] = signal.signal(sig, _raise_system_exit)

    def _pre_exec_hook(
        self, name: str | None = None, credentials: Credentials | None = None, tasks_fd: int | None = None
    ) -> Callable[[], None] | None:
        procs_fd = self._cgroup_procs_fd if name is None else self._sub_cgroup_fd(name)
        if procs_fd is None and credentials is None and tasks_fd is None:
            return None

        def join_run_cgroup_then_drop_privileges() -> None:
            # Runs in the forked child before exec. The parent opened the fd, so joining is one write(2) and
            # nothing that could wait on a lock another thread of the parent held at fork time. It joins while
            # still privileged: a dropped user may not write cgroup.procs, which is the point of dropping it.
            if procs_fd is not None:
                os.write(procs_fd, b"0")  # "0" means the writing process itself
            if tasks_fd is not None:
                os.write(tasks_fd, b"0")  # v1 `tasks`: this thread, the forked child's only one
            if credentials is not None:
                become(credentials)  # plain system calls: setrlimit, umask, setgroups, setgid, setuid

        return join_run_cgroup_then_drop_privileges

    # -- waiting -----------------------------------------------------------------------------------------------------

    def _own(self, child: Child) -> _Owned:
        owned = self._owned.get(child)
        if owned is None:
            pid = getattr(child, "pid", child)
            raise ForeignProcessError(
                f"process {pid} was not started by process owner {self.name!r}: it only signals and waits for the "
                "Child objects its own spawn() returned"
            )
        return owned

    def _reap(self, owned: _Owned) -> ExitStatus | None:
        if owned.status is None:
            returncode = owned.popen.poll()
            if returncode is None:
                return None
            owned.status = ExitStatus.from_returncode(owned.child.pid, returncode)
            self._stop_watch(owned)
            if owned.pidfd is not None and owned.pidfd not in self._owned_by_fd:
                os.close(owned.pidfd)
            owned.pidfd = None  # one in `_exits` stays open (readable) until reap_exited reports the exit
        return owned.status

    def _exit_watch(self, owned: _Owned) -> asyncio.Future[None]:
        """A future that resolves once `owned` has exited (without reaping it), shared by all its waiters."""
        loop = asyncio.get_running_loop()
        if owned.watch is not None and owned.watch.get_loop() is loop and not owned.watch.done():
            return owned.watch
        watch = loop.create_future()
        owned.watch = watch
        if owned.pidfd is not None:
            loop.add_reader(owned.pidfd, self._stop_watch, owned)  # a pidfd turns readable when the process exits
        else:
            waiter = threading.Thread(
                target=_block_until_exited, args=(owned.popen, loop, watch), name="peerguard-exit-watch", daemon=True
            )
            waiter.start()
        return watch

    def _stop_watch(self, owned: _Owned) -> None:
        watch, owned.watch = owned.watch, None
        if watch is None or watch.get_loop().is_closed():
            return
        if owned.pidfd is not None:
            watch.get_loop().remove_reader(owned.pidfd)
        if not watch.done():
            watch.set_result(None)

    # -- stopping ------------------------------------------------------------------------------------------------

    def _stop_everything(self) -> set[int]:
        """Kill and reap every process of the run; return the pids still not gone at the deadline."""
        if self.grace_s > 0:
            for owned in list(self._owned.values()):
                self.signal(owned.child, signal.SIGTERM)
            for _ in _pauses_until(time.monotonic() + self.grace_s):
                if all(self._reap(owned) is not None for owned in self._owned.values()):
                    break
        if self.cgroup is not None:
            with contextlib.suppress(OSError):  # if this fails, the rounds below still kill every member they find
                (self.cgroup / "cgroup.kill").write_text("1")
        killed: set[tuple[int, int]] = set()
        pending: set[int] = set()
        for _ in _pauses_until(time.monotonic() + self.kill_timeout_s):
            pending = self._kill_and_reap_once(killed)
            if not pending:
                break
        return pending

    def _kill_and_reap_once(self, killed: set[tuple[int, int]]) -> set[int]:
        """One round: SIGKILL what is alive, reap what we can; return the pids still to wait for."""
        for owned in self._owned.values():  # our own children first: this part needs no /proc
            if self._reap(owned) is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(owned.child.pid, signal.SIGKILL)  # unreaped, so its group id cannot be recycled
                self.signal(owned.child, signal.SIGKILL)
        for pid, info in self._members().items():
            if self._owned_by_pid(pid) is not None:
                continue
            if info.state != "Z" and _identity(pid, info) not in killed:
                self._kill_found(pid, info)
                killed.add(_identity(pid, info))
            elif info.state == "Z" and info.parent == os.getpid():
                with contextlib.suppress(ChildProcessError):  # someone else reaped it first
                    os.waitpid(pid, os.WNOHANG)
        unreaped = {owned.child.pid for owned in self._owned.values() if self._reap(owned) is None}
        # Left: the living, and zombies only we can reap. A zombie of another run process is re-parented to us
        # when that parent dies, so it shows up here again in a later round.
        return unreaped | {
            pid for pid, info in self._members().items() if info.state != "Z" or info.parent == os.getpid()
        }

    def _kill_found(self, pid: int, info: ProcInfo) -> None:
        """SIGKILL a run process found in /proc or the cgroup, but only if `pid` still names that same process."""
        if not self.support.pidfd.available:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            now = proc_info(pid)
            if now is not None and now.start_ticks == info.start_ticks:  # the pidfd holds the process we found
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        finally:
            os.close(pidfd)

    def _owned_by_pid(self, pid: int) -> _Owned | None:
        """The unreaped child of ours with this pid (a reaped one's pid may belong to anyone now)."""
        for owned in self._owned.values():
            if owned.child.pid == pid and owned.status is None:
                return owned
        return None

    def _members(self, infrastructure: bool = True) -> dict[int, ProcInfo]:
        """Every process of this run, zombies included: children, adopted orphans, cgroup members, descendants
        (without the zygote and its forks in progress unless `infrastructure`)."""
        roots = {owned.child.pid for owned in self._owned.values() if owned.status is None}
        if self._state == "open":
            roots |= self._adopted_orphans() | self._cgroup_pids(infrastructure)
        if not infrastructure and self._zygote_child is not None:
            roots.discard(self._zygote_child.pid)
        return _stats(roots | _descendants(roots))

    def _adopted_orphans(self) -> set[int]:
        others = {owned.child.pid for owner in _open_owners if owner is not self for owned in owner._owned.values()}
        children = _stats(_children_of(os.getpid()))
        return {
            pid
            for pid, info in children.items()
            if pid not in others and _identity(pid, info) not in self._present_at_entry
        }

    def _cgroup_pids(self, infrastructure: bool = True) -> set[int]:
        # The v2 tree through the listing's open descriptors (one pread per cgroup; it leaves the zygote's out),
        # not a walk of every cgroup's directory: 20 ms a call at 32 agents under load, most of a census walk.
        listed = self.listed_pids()
        pids: set[int] = set() if listed is None else listed
        for top in self.cgroup_dirs():
            if listed is None or top != self.cgroup:
                pids |= cgroup_tree_pids(top)
        zygote = cgroup_tree_pids(self.cgroup / ZYGOTE_CGROUP) if self.cgroup is not None else set()
        return pids | zygote if infrastructure else pids - zygote

    def _release_host(self, keep_cgroup: bool) -> None:
        if self._tasks_count_fd is not None:
            os.close(self._tasks_count_fd)
            self._tasks_count_fd = None
        if self._exits is not None:
            self._exits.close()
            self._exits = None
            for fd, owned in self._owned_by_fd.items():
                if owned.status is not None:  # reaped, its exit not reported: its pidfd is only ours now
                    os.close(fd)
            self._owned_by_fd.clear()
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        self._close_listing()
        for fd in [*self._sub_fds.values(), *self._dir_fds.values(), *self._tasks_fds.values(),
                   *self._switch_fds.values()]:  # fmt: skip
            os.close(fd)
        self._sub_fds.clear()
        self._switch_fds.clear()
        self._dir_fds.clear()
        self._tasks_fds.clear()
        if self.cgroup is not None and not keep_cgroup and _remove_cgroup_tree(self.cgroup):
            self.cgroup = None
        if self.pids_cgroup is not None and not keep_cgroup and _remove_cgroup_tree(self.pids_cgroup, wait_s=2.0):
            self.pids_cgroup = None
        if self._cgroup_procs_fd is not None:
            os.close(self._cgroup_procs_fd)
            self._cgroup_procs_fd = None
        if self._holds_subreaper:
            _shared_subreaper.release()
            self._holds_subreaper = False
        _open_owners.discard(self)


class _SharedSubreaper:
    """PR_SET_CHILD_SUBREAPER is per process: set it while any owner is open, restore it when the last one closes.

    No lock: close() may run in a signal handler that interrupted acquire(), and a lock would deadlock there.
    """

    def __init__(self) -> None:
        self._holders = 0
        self._was_set = False

    def acquire(self) -> None:
        if self._holders == 0:
            self._was_set = is_child_subreaper()
            if not self._was_set:
                set_child_subreaper(True)
        self._holders += 1

    def release(self) -> None:
        self._holders -= 1
        if self._holders == 0 and not self._was_set:
            set_child_subreaper(False)


_shared_subreaper = _SharedSubreaper()
_open_owners: weakref.WeakSet[ProcessOwner] = weakref.WeakSet()


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _hold_stop_signals(held: list[int]) -> dict[int, Any]:
    """Replace the handlers of SIGINT/SIGTERM/SIGHUP by one that records them in `held`; return the replaced ones."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # Python runs signal handlers in the main thread only, so nothing can interrupt us here
    replaced: dict[int, Any] = {}
    for sig in _DEFERRED_WHILE_CLOSING:
        if signal.getsignal(sig) not in (signal.SIG_IGN, None):  # None: set outside Python, cannot be restored
            replaced[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
    return replaced


def _block_until_exited(popen: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop, watch: Any) -> None:
    """Fallback exit watch without pidfds: block in a daemon thread, then wake the loop."""
    if hasattr(os, "waitid"):
        with contextlib.suppress(ChildProcessError):  # reaped meanwhile: it has exited all the same
            os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOWAIT)  # WNOWAIT: reaping stays with the owner
    else:
        popen.wait()
    with contextlib.suppress(RuntimeError):  # the loop closed while we blocked
        loop.call_soon_threadsafe(_resolve, watch)


def _resolve(watch: asyncio.Future[None]) -> None:
    if not watch.done():
        watch.set_result(None)


def _pauses_until(deadline: float) -> Iterator[None]:
    """Yield now, then after growing pauses (1 ms up to 50 ms) until the monotonic-clock deadline passes."""
    pause_s = 0.001
    while True:
        yield
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            return
        time.sleep(min(pause_s, remaining_s))
        pause_s = min(pause_s * 2, 0.05)


def cgroup_tree_pids(top: Path) -> set[int]:
    """The pids listed in `top`'s cgroup.procs and in every cgroup below it (agents may make cgroups inside).
    Directories only are followed (the entry's type, no stat), so the control files cost nothing."""
    pids: set[int] = set()
    folders = [os.fspath(top)]
    while folders:
        folder = folders.pop()
        with contextlib.suppress(OSError, ValueError), open(folder + "/cgroup.procs", "rb") as procs:
            pids.update(int(pid) for pid in procs.read().split())
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            folders.extend(entry.path for entry in entries if entry.is_dir(follow_symlinks=False))
    return pids


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def _run_slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:48] or "run"


def _mount_root(parent: Path, hierarchy: str) -> str:
    """The mount point of the hierarchy `parent` lives in: `parent` minus our own path in it."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and (line.startswith(hierarchy) or hierarchy in parts[1].split(",")):
            own = parts[2].rstrip("/")
            text = str(parent)
            return text[: len(text) - len(own)] if own and text.endswith(own) else text
    return str(parent)


def part_name(name: str) -> str:
    """The directory name of a part's cgroup (one per agent) under the run's."""
    return "part-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:48] or "x")


def _remove_cgroup_tree(top: Path, wait_s: float = 0.0) -> bool:
    """Remove an emptied cgroup tree; a v1 `pids` cgroup stays busy a moment after its last task is reaped, so
    `wait_s` keeps trying that long."""
    for _ in _pauses_until(time.monotonic() + wait_s):
        try:
            for directory, _, _ in os.walk(top, topdown=False):
                os.rmdir(directory)
        except OSError:
            continue
        return not top.exists()
    return False


def _identity(pid: int, info: ProcInfo) -> tuple[int, int]:
    return pid, info.start_ticks


def _stats(pids: set[int]) -> dict[int, ProcInfo]:
    found = {pid: proc_info(pid) for pid in pids}
    return {pid: info for pid, info in found.items() if info is not None}


def _children_of(pid: int) -> set[int]:
    found: set[int] = set()
    folder = f"/proc/{pid}/task/"
    try:
        tasks = os.listdir(folder)
    except OSError:
        return found
    for task in tasks:  # a child belongs to the thread that forked it
        with contextlib.suppress(OSError), open(folder + task + "/children", "rb") as children:
            found.update(int(child) for child in children.read().split())
    return found


def _descendants(roots: set[int]) -> set[int]:
    found: set[int] = set()
    frontier = list(roots)
    while frontier:
        for child in _children_of(frontier.pop()):
            if child not in found and child not in roots:
                found.add(child)
                frontier.append(child)
    return found
