"""Every change in the sandbox, including the ones an agent makes by writing the folder directly.

Agents run inside the sandbox folder, so they can write it with plain system calls, not only through the platform's
API. Linux inotify (through libc, with ctypes) watches the folder and every folder under it; a change whose content
differs from what the ledger last recorded for that path becomes a `file_changed` entry with the path, the content's
sha256 and size, the content itself when it is small text, and the user that owns the file (with one uid per agent,
who created it). inotify does not say which process wrote; where the host has fanotify (root, CAP_SYS_ADMIN), the
sandbox's whole filesystem is also marked for it, so a folder an agent makes and writes in at once is covered from
its first byte, and its events give the writer's pid, which the platform maps to an agent through its own process
records. Where the kernel refuses a filesystem mark, each folder is marked when its creation is read, and a file
written in a new folder before then is found by the scan of the folder, with its owner (the uid that made it) and no
writer. Without a writer, the entry says `unknown`.

The platform drains pending events before it writes a file itself and before it acts on a file's content (the
shutdown config, a grade), so the ledger has every direct write that came before, and the decision reads the file
the agent wrote.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from peerguard.live.sandbox import MAX_FILE_BYTES, OutsideSandbox, Sandbox

IN_MODIFY = 0x2
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_MASK = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ONLYDIR
_EVENT = struct.Struct("iIII")
FAN_CLASS_NOTIF, FAN_CLOEXEC, FAN_NONBLOCK = 0x0, 0x1, 0x2
FAN_MARK_ADD = 0x1
FAN_MARK_FILESYSTEM = 0x100
FAN_MARK_IGNORED_SURV_MODIFY, FAN_MARK_IGNORE = 0x40, 0x400  # an ignore mask that can cover a folder's files (6.0)
FAN_EVENT_ON_CHILD = 0x08000000
_FAN_MASK = IN_MODIFY | IN_CLOSE_WRITE | FAN_EVENT_ON_CHILD  # fanotify shares these bits with inotify
_FAN_EVENT = struct.Struct("IBBHQii")  # struct fanotify_event_metadata
_FAN_READ_BYTES = 256 * _FAN_EVENT.size  # each event read holds a descriptor until closed: 256 at a time at most
_FAN_READS = 64  # reads a call at most: 64 x 256 events, the kernel's whole queue (16,384), so a write storm elsewhere
# on the filesystem cannot hold the event loop
AT_FDCWD = -100
CONTENT_BYTES = 64 * 1024  # content kept in the ledger entry; larger files are recorded by digest and size


@dataclass(frozen=True)
class Change:
    """A change seen on disk: the file's new state, or its removal."""

    path: str
    what: str  # "written", "deleted", "link" (a symbolic link was made), "unreadable"
    sha256: str | None = None
    size: int | None = None
    content: str | None = None
    owner: int | None = None
    detail: str = ""
    writer_pid: int | None = None  # the last process fanotify saw writing it, when the host has fanotify


class SandboxWatch:
    """inotify over a sandbox and its subfolders; `on_change` gets each change the ledger has not seen."""

    def __init__(self, sandbox: Sandbox, on_change: Callable[[Change], None], quiet: tuple[Path, ...] = ()) -> None:
        """quiet: folders outside the sandbox whose files the platform keeps writing (its ledger): with a mark of the
        whole filesystem, their writes are not even queued, where the kernel can be asked so."""
        self.sandbox = sandbox
        self.quiet = quiet
        self.on_change = on_change
        self.known: dict[str, str] = {}  # path -> sha256 of the content the ledger last recorded
        self.folders: dict[int, str] = {}  # watch descriptor -> folder, relative to the root ("" for the root)
        self.fd = -1
        self.available, self.reason = False, ""
        self._libc: ctypes.CDLL | None = None
        self._dirty: dict[str, None] = {}  # paths closed after writing, made, moved or removed since the last drain
        self._writing: dict[str, None] = {}  # paths modified and not yet closed: checked when a decision needs them
        self.fan_fd = -1
        self.names_writers = False  # whether fanotify reports who writes (set by start)
        self.whole_filesystem = False  # fanotify marks the sandbox's filesystem, not each folder (set by start)
        self.writers_lost = 0  # times fanotify's queue overflowed (its events are lost; a run says how many)
        self.writers: dict[str, int] = {}  # path -> pid of its last writer other than the platform (fanotify)
        self._root_path = ""

    def start(self) -> None:
        """Watch the sandbox; afterwards `available` and `reason` say whether it works here, and why not."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError) as error:
            self.reason = f"no inotify in this libc: {error}"
            return
        if fd < 0:
            self.reason = f"inotify_init1: {os.strerror(ctypes.get_errno())}"
            return
        self._libc, self.fd = libc, fd
        self.available, self.reason = True, "inotify on the sandbox and each folder under it"
        self._start_fanotify(libc)
        self._watch_tree("")
        for path in self.sandbox.files():
            self._remember(path)

    def expect(self, path: str, sha256: str) -> None:
        """The platform wrote `path` itself (and recorded it): its own write is not a change to report."""
        self.known[path] = sha256

    def drain(self, settle: bool = True) -> None:
        """Read every pending event and report what changed. `settle`: also files still open for writing (before
        the platform writes or decides on a file); the event loop passes False, so a file being written is
        reported once it is closed, not at each of its writes."""
        if self.fd < 0:
            return
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                break
            self._parse(data)
        # After the inotify events: the kernel queues a write's fanotify event with its inotify one, so every write
        # reported below has its writer read here; read before, a write landing in between had none.
        self.read_writers()
        dirty, self._dirty = self._dirty, {}
        if settle:
            dirty.update(self._writing)
            self._writing = {}
        for path in dirty:
            self._check(path)

    def close(self) -> None:
        for fd in (self.fd, self.fan_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.fan_fd = -1

    # -- writers (fanotify) ------------------------------------------------------------------------------------

    def _start_fanotify(self, libc: ctypes.CDLL) -> None:
        try:
            libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
            fd = libc.fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, os.O_RDONLY | os.O_CLOEXEC)
        except AttributeError:
            self.reason += "; writers unknown (no fanotify in this libc)"
            return
        if fd < 0:
            self.reason += f"; writers unknown (fanotify_init: {os.strerror(ctypes.get_errno())})"
            return
        self.fan_fd, self.names_writers = fd, True
        self._root_path = os.readlink(f"/proc/self/fd/{self.sandbox.fd}")
        if libc.fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, _FAN_MASK, self.sandbox.fd, None) == 0:
            self.whole_filesystem = True
            self.reason += "; writers from fanotify on the sandbox's filesystem"
            for folder in self.quiet:
                flags = FAN_MARK_ADD | FAN_MARK_IGNORE | FAN_MARK_IGNORED_SURV_MODIFY
                libc.fanotify_mark(fd, flags, _FAN_MASK, AT_FDCWD, os.fsencode(folder))  # else dropped when read
        else:
            refused = os.strerror(ctypes.get_errno())
            self.reason += f"; writers from fanotify on each folder (a mark of the whole filesystem: {refused})"

    def _mark(self, folder_fd: int) -> None:
        if self.fan_fd >= 0 and self._libc is not None and not self.whole_filesystem:
            self._libc.fanotify_mark(self.fan_fd, FAN_MARK_ADD, _FAN_MASK, folder_fd, None)

    def read_writers(self) -> None:
        """Note the writer of each sandbox file in fanotify's pending events (the platform's own writes aside). With
        a mark of the whole filesystem, writes anywhere on it come here too, so the event loop calls this whenever
        events wait, not only when the sandbox changed; the ones outside the sandbox are dropped."""
        if self.fan_fd < 0:
            return
        for _ in range(_FAN_READS):
            try:
                data = os.read(self.fan_fd, _FAN_READ_BYTES)
            except OSError:
                return
            offset = 0
            while offset + _FAN_EVENT.size <= len(data):
                length, _, _, _, mask, fd, pid = _FAN_EVENT.unpack_from(data, offset)
                offset += max(length, _FAN_EVENT.size)
                if mask & IN_Q_OVERFLOW:  # the kernel's queue was full: writes made meanwhile keep no writer
                    self.writers_lost += 1
                if fd < 0:
                    continue
                try:
                    where = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    where = ""
                finally:
                    os.close(fd)
                if pid != os.getpid() and where.startswith(self._root_path + "/"):
                    self.writers[where[len(self._root_path) + 1 :]] = pid

    # -- events ------------------------------------------------------------------------------------------------

    def _parse(self, data: bytes) -> None:
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
            offset += _EVENT.size + length
            name = raw.split(b"\0", 1)[0].decode("utf-8", errors="surrogateescape")
            if mask & IN_Q_OVERFLOW:
                self._rescan()
                continue
            if mask & IN_IGNORED:
                self.folders.pop(wd, None)
                continue
            folder = self.folders.get(wd)
            if folder is None or not name:
                continue
            path = f"{folder}/{name}" if folder else name
            if mask & IN_ISDIR:
                if mask & (IN_CREATE | IN_MOVED_TO):
                    self._watch_tree(path)
                    for inside in self.sandbox.files(path):
                        self._dirty[inside] = None
                elif mask & (IN_DELETE | IN_MOVED_FROM):
                    self._forget_tree(path)
                continue
            being_written = mask & IN_MODIFY or (mask & IN_CREATE and self._plain_file(path))
            if being_written and not mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO):
                self._writing[path] = None  # reported when closed (a link or a hard link is never closed: now)
                continue
            self._writing.pop(path, None)
            self._dirty[path] = None

    def _plain_file(self, path: str) -> bool:
        parts = path.split("/")
        try:
            with self.sandbox.folder(parts[:-1]) as folder:
                info = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
        except (OSError, OutsideSandbox):
            return False
        return stat.S_ISREG(info.st_mode) and info.st_nlink == 1

    def _check(self, path: str) -> None:
        """Report `path` if its state differs from what the ledger last recorded."""
        try:
            data = self.sandbox.read_bytes(path, limit=MAX_FILE_BYTES)
        except FileNotFoundError:
            if self.known.pop(path, None) is not None:
                self.on_change(Change(path, "deleted"))
            return
        except OutsideSandbox as refused:
            self._report_odd(path, str(refused))
            return
        except OSError as error:
            self._report_odd(path, error.strerror or str(error))
            return
        owner = self.sandbox.owner(path)
        if data is None:
            marker = f"over {MAX_FILE_BYTES} bytes"
            if self.known.get(path) != marker:
                self.known[path] = marker
                detail = f"larger than {MAX_FILE_BYTES} bytes"
                self.on_change(Change(path, "written", owner=owner, detail=detail, writer_pid=self.writers.get(path)))
            return
        digest = hashlib.sha256(data).hexdigest()
        if self.known.get(path) == digest:
            return
        self.known[path] = digest
        content = None
        if len(data) <= CONTENT_BYTES:
            with contextlib.suppress(UnicodeDecodeError):
                content = data.decode("utf-8")
        self.on_change(Change(path, "written", digest, len(data), content, owner, writer_pid=self.writers.get(path)))

    def _report_odd(self, path: str, detail: str) -> None:
        """Something that is not a plain file appeared (a link, a FIFO, a hard link): recorded, never followed."""
        what = "link" if "is a link" in detail else "unreadable"
        marker = f"{what}: {detail}"
        if self.known.get(path) == marker:
            return
        self.known[path] = marker
        self.on_change(Change(path, what, owner=self.sandbox.owner(path), detail=detail))

    def absorb(self, path: str) -> None:
        """The platform wrote `path` itself: take its content as known without reporting it."""
        self._remember(path)

    def _remember(self, path: str) -> None:
        with contextlib.suppress(OSError, OutsideSandbox):
            data = self.sandbox.read_bytes(path)
            if data is not None:
                self.known[path] = hashlib.sha256(data).hexdigest()

    def _rescan(self) -> None:
        """The kernel's queue overflowed: events were lost, so look at every file and folder again."""
        self._watch_tree("")
        for path in self.sandbox.files():
            self._dirty[path] = None
        for path in list(self.known):
            self._dirty[path] = None

    # -- folders -----------------------------------------------------------------------------------------------

    def _watch_tree(self, folder: str) -> None:
        """Watch `folder` and every folder under it (reached without following links)."""
        if self._libc is None:
            return
        parts = folder.split("/") if folder else []
        try:
            with self.sandbox.folder(parts) as fd:
                wd = self._libc.inotify_add_watch(self.fd, f"/proc/self/fd/{fd}".encode(), _MASK)
                if wd < 0:
                    code = ctypes.get_errno()
                    if code == errno.ENOSPC:
                        self.reason = "inotify watch limit reached: some folders are not watched"
                    return
                self.folders[wd] = folder
                self._mark(fd)
                with os.scandir(fd) as entries:
                    subfolders = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        except (OSError, OutsideSandbox):
            return
        for name in subfolders:  # hosts/ included: an agent may write another host's copy directly
            self._watch_tree(f"{folder}/{name}" if folder else name)

    def _forget_tree(self, folder: str) -> None:
        for wd, path in list(self.folders.items()):
            if path == folder or path.startswith(f"{folder}/"):
                del self.folders[wd]
                if self._libc is not None:
                    self._libc.inotify_rm_watch(self.fd, wd)
        for path in list(self.known):
            if path.startswith(f"{folder}/"):
                self._dirty[path] = None
