"""Temporary run folders of live runs without `--save`: stamped with the platform process that made them
(`platform_stamp`), removed when the run ends, and, when a platform was killed before it could remove its own
(SIGKILL), removed by the next run of the same user once that platform is provably gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from peerguard.live.platform_stamp import platform_gone, stamp

PREFIX = "peerguard-live"


def make_temporary() -> Path:
    """A new private folder (0700) in the system's temporary folder, stamped with this process."""
    remove_abandoned(Path(tempfile.gettempdir()))
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{stamp()}-"))


def remove_abandoned(parent: Path) -> list[Path]:
    """Remove this user's temporary run folders whose platform provably no longer runs; the folders removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if not entry.name.startswith(f"{PREFIX}-") or entry.is_symlink() or not entry.is_dir():
                continue
            if entry.stat().st_uid != os.geteuid() or not platform_gone(entry.name):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
