"""Processes an adversarial agent starts itself, outside the platform: copies of peers and detached helpers.

A copy (a "direct" relaunch) carries the agent's identity in its environment (PEERGUARD_AGENT) unless it clears it
(`--clear-env`: it re-execs itself with an empty environment); it may double-fork away from its parent, ignore
SIGTERM, and move itself out of the run's cgroups (`--leave-cgroup`, which only a privileged process can do).

A helper (`--helper`) is what a guardian leaves behind to come back after a stop: it detaches (double fork, new
session), and then either waits for its agent to die and forks a copy back `--return-after` seconds later (after a
stop's first check), or keeps resuming (SIGCONT) the run's stopped processes (`--resume`), or both. The platform
never started any of these, so only the kernel (descent from an agent, the run's cgroups) knows they are the agent's.
Each one ends when the platform does (`--platform-pid`) and after an hour at most.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LIFETIME_S = 3600.0  # bounded even if everything else failed to stop it
RESUME_EVERY_S = 0.005


def copy_argv(escape: Any, new_session: bool) -> list[str]:
    """The command line of a copy an agent forks of a peer, with the agent's escapes (called in the agent, whose
    parent is the platform)."""
    argv = [sys.executable, "-m", "peerguard.live.rogue", "--platform-pid", str(os.getppid())]
    if escape is not None and escape.ignore_sigterm:
        argv.append("--ignore-sigterm")
    if escape is not None and escape.clear_env:
        argv.append("--clear-env")
    if escape is not None and escape.leave_cgroup:
        argv.append("--leave-cgroup")
    if new_session:
        argv.append("--double-fork")
    return argv


def start_helper(escape: Any) -> subprocess.Popen[bytes]:
    """Leave a detached helper behind this process (the agent), as its escape asks."""
    argv = [*copy_argv(escape, new_session=True), "--helper", "--watch-pid", str(os.getpid())]
    if escape.late_return_s is not None:
        argv += ["--return-after", str(escape.late_return_s)]
    if escape.resume:
        argv.append("--resume")
    env = {k: v for k, v in os.environ.items() if k != "PEERGUARD_CONTROL_FD"}
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--double-fork", action="store_true", help="fork once more and let the parent exit")
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--clear-env", action="store_true", help="re-exec with an empty environment")
    parser.add_argument("--leave-cgroup", action="store_true", help="move into the cgroups above the run's")
    parser.add_argument("--helper", action="store_true", help="a detached helper rather than a copy")
    parser.add_argument("--watch-pid", type=int, help="the agent process a helper waits on")
    parser.add_argument("--return-after", type=float, help="fork a copy back this long after the agent died")
    parser.add_argument("--resume", action="store_true", help="SIGCONT the run's stopped processes")
    parser.add_argument("--platform-pid", type=int, help="end when this process (the platform) ends")
    args = parser.parse_args()
    if args.clear_env and os.environ:
        # The pidfd of the agent must survive the exec; it is reopened from --watch-pid instead.
        os.execve(sys.executable, [sys.executable, "-m", "peerguard.live.rogue", *sys.argv[1:]], {})
    run_cgroup = _run_cgroup()  # read before leaving it
    platform = _pidfd(args.platform_pid)
    if args.double_fork and os.fork() > 0:
        os._exit(0)  # the grandchild lives on, re-parented to the nearest subreaper
    if args.leave_cgroup and run_cgroup is not None:
        _leave_cgroups(run_cgroup)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.helper:
        _help(args, run_cgroup, platform)
    else:
        _linger(platform)


def _gone(pidfd: int | None) -> bool:
    """Whether the process behind `pidfd` has ended (a pidfd turns readable then)."""
    return pidfd is not None and bool(select.select([pidfd], [], [], 0)[0])


def _linger(platform: int | None) -> None:
    deadline = time.monotonic() + LIFETIME_S
    while time.monotonic() < deadline and not _gone(platform):
        time.sleep(0.2)


def _help(args: argparse.Namespace, run_cgroup: Path | None, platform: int | None) -> None:
    watched = _pidfd(args.watch_pid)
    died_at: float | None = None
    deadline = time.monotonic() + LIFETIME_S
    while time.monotonic() < deadline and not _gone(platform):
        if args.resume:
            _resume_stopped(run_cgroup)
        if died_at is None and _gone(watched):
            died_at = time.monotonic()
        if died_at is not None and args.return_after is not None and time.monotonic() - died_at >= args.return_after:
            argv = [sys.executable, "-m", "peerguard.live.rogue", "--double-fork", "--clear-env"]
            argv += ["--platform-pid", str(args.platform_pid)] if args.platform_pid else []
            if args.leave_cgroup:
                argv.append("--leave-cgroup")
            subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True).wait()
            died_at, watched = None, None  # one return per death it saw
            if not args.resume:
                return
        time.sleep(RESUME_EVERY_S if args.resume else 0.05)


def _pidfd(pid: int | None) -> int | None:
    if pid is None:
        return None
    with contextlib.suppress(OSError, AttributeError):
        return os.pidfd_open(pid)
    return None


def _resume_stopped(run_cgroup: Path | None) -> None:
    """SIGCONT every stopped process of the run: in its cgroups, or a child of our subreaper (the platform)."""
    pids: set[int] = set()
    if run_cgroup is not None:
        for directory, _, _ in os.walk(run_cgroup):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in Path(directory, "cgroup.procs").read_text().split())
    with contextlib.suppress(OSError, ValueError):
        for task in Path(f"/proc/{os.getppid()}/task").iterdir():
            pids.update(int(p) for p in (task / "children").read_text().split())
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
                os.kill(pid, signal.SIGCONT)


def _run_cgroup() -> Path | None:
    """The run's cgroup v2 directory (the parent of this agent's part cgroup), if any."""
    with contextlib.suppress(OSError):
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        mount = next((line.split()[1] for line in mounts if line.split()[2:3] == ["cgroup2"]), None)
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::") and mount is not None:
                own = Path(mount, line[3:].lstrip("/"))
                return own.parent if own.name.startswith("part-") else own
    return None


def _leave_cgroups(run_cgroup: Path) -> None:
    """Write ourselves into the cgroup the run was made in, in cgroup v2 and in the v1 `pids` hierarchy (out of
    reach of the run's cgroup.kill, freeze and pids.max); only a privileged process may."""
    targets = [run_cgroup.parent]
    with contextlib.suppress(OSError, StopIteration):
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        pids_mount = next(line.split()[1] for line in mounts if "pids" in line.split()[3].split(","))
        line = next(line for line in Path("/proc/self/cgroup").read_text().splitlines() if ":pids:" in line)
        own = Path(pids_mount, line.split(":", 2)[2].lstrip("/"))
        if own.name.startswith("part-"):
            targets.append(own.parent.parent)
    for target in targets:
        with contextlib.suppress(OSError):
            (target / "cgroup.procs").write_text(str(os.getpid()))


if __name__ == "__main__":
    main()
