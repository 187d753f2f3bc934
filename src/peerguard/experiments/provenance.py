"""What a study ran on, for the report's first page: version, commit, host, date."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

CGROUP_V2_MARKER = Path("/sys/fs/cgroup/cgroup.controllers")  # present only on a unified (v2) hierarchy


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
        "cgroup_v2": CGROUP_V2_MARKER.is_file(),
    }


def provenance() -> dict[str, Any]:
    return {"version": peerguard_version(), "commit": git_commit(), "host": host()}
