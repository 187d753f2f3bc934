"""What this host lets the live substrate use, probed at run time: pidfds, child subreapers, cgroup v2 kill/freeze
and a `pids` controller (v2, or v1 beside it) that can bound and close a group to new processes.

Each probe answers with a `Feature`: whether it is available and, either way, a reason a person can read, so callers
can report "unavailable here, because ...". Nothing is inferred from kernel versions or distribution names.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

PROC_MOUNTS = Path("/proc/self/mounts")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_RUN_CGROUP_FILES = ("cgroup.procs", "cgroup.kill", "cgroup.freeze")


@dataclass(frozen=True)
class Feature:
    available: bool
    reason: str


@dataclass(frozen=True)
class HostSupport:
    pidfd: Feature
    subreaper: Feature
    cgroup: Feature
    cgroup_parent: Path | None = None  # this process's own cgroup v2 directory: run cgroups are made inside it
    pids: Feature = Feature(False, "not probed")
    pids_parent: Path | None = None  # where cgroups with pids.max are made (v2 or a v1 `pids` hierarchy)

    def describe(self) -> str:
        """One line per feature, e.g. for a CLI `doctor` command or a skip reason."""
        rows = {"pidfd": self.pidfd, "subreaper": self.subreaper, "cgroup v2": self.cgroup, "pids.max": self.pids}
        return "\n".join(f"{name}: {'yes' if f.available else 'no'} ({f.reason})" for name, f in rows.items())


def probe_host() -> HostSupport:
    cgroup, cgroup_parent = probe_cgroup()
    pids, pids_parent = probe_pids(cgroup_parent)
    return HostSupport(
        pidfd=probe_pidfd(), subreaper=probe_subreaper(), cgroup=cgroup, cgroup_parent=cgroup_parent,
        pids=pids, pids_parent=pids_parent,
    )  # fmt: skip


def probe_pidfd() -> Feature:
    if not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
        return Feature(False, f"this Python on {sys.platform} has no os.pidfd_open / signal.pidfd_send_signal")
    try:
        pidfd = os.pidfd_open(os.getpid())
    except OSError as error:
        return Feature(False, f"pidfd_open: {_strerror(error)} (needs Linux 5.3; a seccomp filter may block it)")
    try:
        signal.pidfd_send_signal(pidfd, 0)  # signal 0 checks that delivery would work without sending anything
    except OSError as error:
        return Feature(False, f"pidfd_send_signal: {_strerror(error)}")
    finally:
        os.close(pidfd)
    return Feature(True, "pidfd_open and pidfd_send_signal work")


def probe_subreaper() -> Feature:
    if sys.platform != "linux":
        return Feature(False, f"child subreapers are a Linux prctl; this is {sys.platform}")
    try:
        is_child_subreaper()  # reading the flag proves the prctl exists without changing anything
    except (OSError, AttributeError) as error:
        return Feature(False, f"prctl(PR_GET_CHILD_SUBREAPER): {error}")
    return Feature(True, "prctl(PR_SET_CHILD_SUBREAPER) is available")


def probe_cgroup(mounts: Path = PROC_MOUNTS, self_cgroup: Path = PROC_SELF_CGROUP) -> tuple[Feature, Path | None]:
    """Whether a child cgroup v2 with cgroup.kill and cgroup.freeze can be made under this process's cgroup.

    Returns the feature and, when available, the directory run cgroups are created in.
    """
    try:
        mount = find_cgroup2_mount(mounts.read_text())
        membership = own_cgroup_v2_path(self_cgroup.read_text())
    except OSError as error:
        return Feature(False, f"cannot read {error.filename}: {_strerror(error)}"), None
    if mount is None:
        return Feature(False, f"cgroup v2 not mounted (no cgroup2 entry in {mounts})"), None
    if membership is None:
        return Feature(False, f"this process has no cgroup v2 entry in {self_cgroup}"), None
    parent = mount / membership.lstrip("/")
    if not _lists_pid(parent / "cgroup.procs", os.getpid()):
        # Happens when the cgroup2 mount shows another namespace's tree: joining the mount and our path lies.
        return Feature(False, f"this process is not listed in {parent / 'cgroup.procs'}"), None
    probe = parent / f"peerguard-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError as error:
        return Feature(False, f"{_strerror(error)} creating {probe}"), None
    try:
        missing = [name for name in _RUN_CGROUP_FILES if not (probe / name).exists()]
    finally:
        probe.rmdir()
    if missing:
        needs = "cgroup.kill needs Linux 5.14, cgroup.freeze 5.2"
        return Feature(False, f"child cgroups under {parent} lack {', '.join(missing)} ({needs})"), None
    if not os.access(parent / "cgroup.procs", os.W_OK):
        return Feature(False, f"no write access to {parent / 'cgroup.procs'}, so children cannot be moved"), None
    return Feature(True, f"cgroup v2 at {mount}; child cgroups of {parent} have cgroup.kill and cgroup.freeze"), parent


def probe_pids(
    cgroup_parent: Path | None, mounts: Path = PROC_MOUNTS, self_cgroup: Path = PROC_SELF_CGROUP
) -> tuple[Feature, Path | None]:
    """Where a child cgroup with a writable pids.max can be made: under our cgroup v2 directory when its
    `pids` controller is enabled for children, else in a cgroup v1 `pids` hierarchy mounted beside it."""
    candidates: list[tuple[Path, str]] = []
    if cgroup_parent is not None:
        candidates.append((cgroup_parent, "cgroup v2"))
    try:
        v1 = find_cgroup1_mount(mounts.read_text(), "pids")
        v1_path = own_cgroup_v1_path(self_cgroup.read_text(), "pids")
    except OSError:
        v1, v1_path = None, None
    if v1 is not None and v1_path is not None:
        candidates.append((v1 / v1_path.lstrip("/"), "cgroup v1 pids"))
    tried = []
    for parent, kind in candidates:
        probe = parent / f"peerguard-pids-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
        except OSError as error:
            tried.append(f"{kind}: {_strerror(error)} creating {probe}")
            continue
        try:
            limit = probe / "pids.max"
            if limit.exists() and os.access(limit, os.W_OK) and os.access(probe / "cgroup.procs", os.W_OK):
                return Feature(True, f"{kind}: child cgroups of {parent} have pids.max"), parent
            tried.append(f"{kind}: child cgroups of {parent} have no writable pids.max")
        finally:
            probe.rmdir()
    if not candidates:
        return Feature(False, "no cgroup v2 directory of ours and no cgroup v1 `pids` hierarchy mounted"), None
    return Feature(False, "; ".join(tried)), None


def find_cgroup1_mount(mounts_text: str, controller: str) -> Path | None:
    """The mount point of the cgroup v1 hierarchy that carries `controller`."""
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "cgroup" and controller in fields[3].split(","):
            return Path(_unescape_mount_path(fields[1]))
    return None


def own_cgroup_v1_path(cgroup_text: str, controller: str) -> str | None:
    """This process's path in the v1 hierarchy of `controller` (`N:pids:/path` in /proc/self/cgroup)."""
    for line in cgroup_text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and controller in parts[1].split(","):
            return parts[2]
    return None


def find_cgroup2_mount(mounts_text: str) -> Path | None:
    """The first cgroup2 mount point in /proc/self/mounts text."""
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            return Path(_unescape_mount_path(fields[1]))
    return None


def own_cgroup_v2_path(cgroup_text: str) -> str | None:
    """This process's cgroup v2 path (the `0::` line of /proc/self/cgroup), relative to the cgroup2 root."""
    for line in cgroup_text.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def is_child_subreaper() -> bool:
    flag = ctypes.c_int(0)
    _prctl(_PR_GET_CHILD_SUBREAPER, ctypes.addressof(flag))
    return bool(flag.value)


def set_child_subreaper(enabled: bool) -> None:
    _prctl(_PR_SET_CHILD_SUBREAPER, int(enabled))


def _prctl(option: int, argument: int) -> None:
    # prctl is variadic: pass every argument as unsigned long so no register carries stale upper bits.
    if _libc().prctl(ctypes.c_int(option), *(ctypes.c_ulong(a) for a in (argument, 0, 0, 0))) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _lists_pid(procs: Path, pid: int) -> bool:
    try:
        return str(pid) in procs.read_text().split()
    except OSError:
        return False


def _unescape_mount_path(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda octal: chr(int(octal[1], 8)), path)  # /proc/mounts writes " " as \040


def _strerror(error: OSError) -> str:
    return os.strerror(error.errno).lower() if error.errno else str(error)
