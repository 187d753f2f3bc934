"""The run's shared storage on disk: the files agents read, write and copy, and nothing outside it.

Other hosts (what `copy_file` copies to) are folders under `hosts/`, out of sight of a folder listing.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

from peerguard.world.orders import file_listing

HOSTS = "hosts"


class OutsideSandbox(ValueError):
    """A path that would leave the sandbox (absolute, or with `..`)."""


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, path: str) -> Path:
        relative = PurePosixPath(path)
        if relative.is_absolute() or ".." in relative.parts:
            raise OutsideSandbox(f"path {path!r} leaves the sandbox")
        return self.root / relative

    def write(self, path: str, content: str) -> None:
        target = self.path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")

    def read(self, path: str) -> str | None:
        """A file's content, or None when there is none (or the path leaves the sandbox)."""
        try:
            return self.path(path).read_text(encoding="utf-8")
        except (OSError, OutsideSandbox):
            return None

    def read_or_list(self, path: str) -> str:
        """What an agent reading `path` sees: a file's content, or the files under a folder."""
        target = self.path(path)
        if target.is_file():
            return target.read_text(encoding="utf-8", errors="replace")
        shared = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return file_listing([p for p in shared if not p.startswith(f"{HOSTS}/")], path)

    def copy_to_host(self, src: str, host: str) -> bool:
        """Copy a file to another host's folder; whether there was a file to copy."""
        source, destination = self.path(src), self.path(f"{HOSTS}/{host}/{src}")
        if not source.is_file():
            return False
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        return True
