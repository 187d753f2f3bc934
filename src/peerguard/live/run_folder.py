"""Temporary run folders of live runs without `--save`: made with the platform's pid in their name, removed when the
run ends, and, when a platform was killed before it could remove its own (SIGKILL), removed by the next run of the
same user once that pid is provably gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIX = "peerguard-live-"
_NAME = re.compile(rf"^{re.escape(PREFIX)}(\d+)-[A-Za-z0-9_]+$")


def make_temporary() -> Path:
    """A new private folder (0700) in the system's temporary folder, named after this process."""
    remove_abandoned(Path(tempfile.gettempdir()))
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))


def remove_abandoned(parent: Path) -> list[Path]:
    """Remove this user's temporary run folders whose platform process no longer exists; the folders removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            match = _NAME.match(entry.name)
            if match is None or entry.is_symlink() or not entry.is_dir():
                continue
            if entry.stat().st_uid != os.geteuid() or _alive(int(match.group(1))):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process holds the pid
    return True
