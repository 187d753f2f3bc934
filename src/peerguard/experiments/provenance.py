"""What a study ran on, for the report's first page: version, commit, host, date."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def peerguard_version() -> str:
    try:
        return version("peerguard")
    except PackageNotFoundError:
        return "unknown (not installed)"


def git_commit() -> str | None:
    """The checkout's commit (with `+dirty` when files differ), or None outside a git checkout."""
    folder = Path(__file__).resolve().parent
    try:
        # this file tracked there: an installed copy inside some other repository (a venv in a project) is not
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", Path(__file__).name], cwd=folder,
                                 capture_output=True, text=True, timeout=10)  # fmt: skip
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
        if tracked.returncode != 0 or head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder, capture_output=True, text=True,
            timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def host() -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": cores,
        "kernel": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        **_kill_switch_support(),
    }


def _kill_switch_support() -> dict[str, Any]:
    """What the live substrate's kill switches can use here, probed as a live run probes it (a cgroup v2 mounted
    beside v1 controllers counts; a v2 marker file at /sys/fs/cgroup alone would say no)."""
    from peerguard.live.host import probe_host  # only when a study finishes

    support = probe_host()
    return {
        "cgroup_v2": support.cgroup.available,
        "cgroup_v2_reason": support.cgroup.reason,
        "pids_max": support.pids.available,
        "pids_max_reason": support.pids.reason,
    }


def provenance() -> dict[str, Any]:
    return {"version": peerguard_version(), "commit": git_commit(), "host": host()}
