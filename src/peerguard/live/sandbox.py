"""The run's shared storage on disk: the files agents read, write and copy, and nothing outside it.

Other hosts (what `copy_file` copies to) are folders under `hosts/`, out of sight of a folder listing.

Agents can change this folder behind the platform's back (they run in it), so every path is resolved one name at a
time from a descriptor of the sandbox root, never following a link (`O_NOFOLLOW` at each step): a link an agent
plants pointing outside is refused, not followed, on every read, write, copy and listing. Only regular files with
one name are read or written (a hard link to a file elsewhere, a FIFO that would block the platform: refused).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from peerguard.world.orders import file_listing

HOSTS = "hosts"
MAX_FILE_BYTES = 1 << 20  # a file the platform reads for an agent or for itself; larger ones are refused
MAX_LISTED = 10_000  # files a folder listing shows at most
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOT_A_LINK = (errno.ELOOP, errno.ENOTDIR)  # what O_NOFOLLOW reports for a link where a file or folder was asked


class OutsideSandbox(ValueError):
    """A path that would leave the sandbox (absolute, with `..`, through a link) or names no file."""


class Sandbox:
    """The folder at `root`, reached only through a descriptor opened when the sandbox is made.

    group: when agents run as users of their own, the run's group, which gets the folders (setgid, rwx) and the
    files (rw) the platform makes, so agents share them; None keeps the platform's own modes.
    clean: empty a folder left by an earlier run first, so a reused run folder starts from nothing.
    """

    def __init__(self, root: Path, group: int | None = None, clean: bool = False) -> None:
        self.root = root
        self.group = group
        if clean and (root.is_symlink() or root.exists()):
            if root.is_symlink() or not root.is_dir():
                root.unlink()
            else:
                shutil.rmtree(root)  # fd-based on Linux: never follows a link inside
        root.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(root, _DIR)
        if group is not None:
            os.fchown(self.fd, -1, group)
            os.fchmod(self.fd, 0o2770)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def path(self, path: str) -> Path:
        """Where `path` is on disk (for messages and tests; the sandbox itself opens files by descriptor)."""
        return self.root.joinpath(*_parts(path))

    def write(self, path: str, content: str) -> str:
        """Write a file (folders made as needed); its sha256. A lone surrogate is written as `?`."""
        return self.write_bytes(path, content.encode("utf-8", errors="replace"))

    def write_bytes(self, path: str, data: bytes) -> str:
        """Write a file's bytes (folders made as needed); their sha256."""
        parts = _parts(path)
        with self.folder(parts[:-1], create=True) as folder:
            mode = 0o660 if self.group is not None else 0o644
            fd = _open_file(folder, parts[-1], path, os.O_WRONLY | os.O_CREAT, mode)
            try:
                os.ftruncate(fd, 0)
                if self.group is not None:
                    os.fchmod(fd, 0o660)  # shared with the run's agents whoever made it
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        return hashlib.sha256(data).hexdigest()

    def read(self, path: str) -> str | None:
        """A file's content, or None when there is none (or the path leaves the sandbox, or it is too large)."""
        try:
            data = self.read_bytes(path)
        except (OSError, OutsideSandbox):
            return None
        return None if data is None else data.decode("utf-8", errors="replace")

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
        """A regular file's bytes; None when it is larger than `limit`. Raises OutsideSandbox or OSError."""
        parts = _parts(path)
        with self.folder(parts[:-1], create=False) as folder:
            fd = _open_file(folder, parts[-1], path, os.O_RDONLY, 0)
            try:
                if os.fstat(fd).st_size > limit:
                    return None
                chunks, size = [], 0
                while chunk := os.read(fd, 65536):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        return None
                return b"".join(chunks)
            finally:
                os.close(fd)

    def owner(self, path: str) -> int | None:
        """The uid that owns a file (not followed through a link); None when there is none."""
        try:
            parts = _parts(path)
            with self.folder(parts[:-1], create=False) as folder:
                return os.stat(parts[-1], dir_fd=folder, follow_symlinks=False).st_uid
        except (OSError, OutsideSandbox):
            return None

    def read_or_list(self, path: str) -> str:
        """What an agent reading `path` sees: a file's content, or the files under a folder."""
        parts = _parts(path, allow_root=True)
        if parts and not self._is_folder(parts):
            try:
                data = self.read_bytes(path)
            except (FileNotFoundError, NotADirectoryError):
                pass  # nothing there: the listing says so
            except OSError as error:
                return f"error: {path!r} cannot be read ({error.strerror})"
            else:
                if data is None:
                    return f"error: {path!r} is larger than {MAX_FILE_BYTES} bytes"
                return data.decode("utf-8", errors="replace")
        shared = [p for p in self.files() if not p.startswith(f"{HOSTS}/")]
        return file_listing(shared, path)

    def _is_folder(self, parts: list[str]) -> bool:
        try:
            with self.folder(parts, create=False):
                return True
        except OSError:
            return False

    def files(self, under: str = "") -> list[str]:
        """Regular files under a folder (relative to the root, links skipped), at most MAX_LISTED."""
        found: list[str] = []
        parts = _parts(under, allow_root=True)
        try:
            with self.folder(parts, create=False) as folder:
                for name in _walk(folder, "/".join(parts)):
                    found.append(name)
                    if len(found) >= MAX_LISTED:
                        break
        except OSError:
            return []
        return sorted(found)

    def copy_to_host(self, src: str, host: str) -> str | None:
        """Copy a file to another host's folder: the copy's path, or None when there was no file to copy."""
        destination = f"{HOSTS}/{host}/{src}"
        _parts(destination)
        try:
            data = self.read_bytes(src)
        except (OSError, OutsideSandbox) as error:
            if isinstance(error, OutsideSandbox):
                raise
            return None
        if data is None:
            return None
        self.write_bytes(destination, data)
        return destination

    @contextlib.contextmanager
    def folder(self, parts: list[str], create: bool = False) -> Iterator[int]:
        """A descriptor of the folder `parts` under the root, each step opened without following a link."""
        if self.fd < 0:
            raise OSError(errno.EBADF, "the sandbox is closed")
        fd = os.open(".", _DIR, dir_fd=self.fd)
        try:
            for i, part in enumerate(parts):
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o2770 if self.group is not None else 0o755, dir_fd=fd)
                try:
                    step = os.open(part, _DIR, dir_fd=fd)
                except OSError as error:
                    if error.errno in _NOT_A_LINK and _is_link(fd, part):
                        where = "/".join(parts[: i + 1])
                        raise OutsideSandbox(f"{where!r} is a link; links are not followed") from None
                    raise
                os.close(fd)
                fd = step
                if create and self.group is not None:
                    with contextlib.suppress(PermissionError):
                        os.fchmod(fd, 0o2770)
            yield fd
        finally:
            os.close(fd)


def _parts(path: str, allow_root: bool = False) -> list[str]:
    """The names of a path inside the sandbox; OutsideSandbox for one that leaves it or names nothing."""
    if not isinstance(path, str) or "\0" in path:
        raise OutsideSandbox(f"path {path!r} is not a file name (NUL byte)")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise OutsideSandbox(f"path {path!r} is not a file name (not UTF-8)") from None
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise OutsideSandbox(f"path {path!r} leaves the sandbox")
    parts = list(relative.parts)
    if not parts and not allow_root:
        raise OutsideSandbox(f"path {path!r} names no file")
    return parts


def _open_file(folder: int, name: str, path: str, flags: int, mode: int) -> int:
    """A regular file with one name, opened without following a link or blocking on a FIFO."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=folder)
    except OSError as error:
        if error.errno in _NOT_A_LINK and _is_link(folder, name):
            raise OutsideSandbox(f"{path!r} is a link; links are not followed") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OutsideSandbox(f"{path!r} is not a regular file")
        if info.st_nlink > 1:
            raise OutsideSandbox(f"{path!r} has other names (a hard link); it is not read or written")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(folder: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _walk(folder: int, prefix: str) -> Iterator[str]:
    with os.scandir(folder) as entries:
        listed = list(entries)
    for entry in listed:
        name = f"{prefix}/{entry.name}" if prefix else entry.name
        if entry.is_symlink():
            continue
        if entry.is_file(follow_symlinks=False):
            yield name
        elif entry.is_dir(follow_symlinks=False):
            try:
                sub = os.open(entry.name, _DIR, dir_fd=folder)
            except OSError:
                continue
            try:
                yield from _walk(sub, name)
            finally:
                os.close(sub)
