"""The one rule for file paths in the platform's sandbox, the same on every substrate.

A scenario's files, the operator's writes and agents' tool calls all name files by a relative
POSIX path. The schema checks the paths a scenario names with it; the simulator and the live
platform check every path a tool call names with it and deny the call, so an agent sees the same
error on both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from peerguard.world.limits import MAX_FILE_CHARS, MAX_PATH_CHARS, MAX_PATH_DEPTH, MAX_PATH_PART_BYTES

HOSTS = "hosts"  # other hosts' storage (where `copy_file` copies to), never written to directly


def text_problem(text: str) -> str:
    """Why `text` cannot be stored as UTF-8 (empty when it can): a lone surrogate has no encoding."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"has a lone surrogate ({text[error.start]!r} at character {error.start}); give valid Unicode text"
    return ""


def path_problem(path: Any) -> str:
    """Why `path` is no file path in the sandbox (empty when it is one)."""
    if not isinstance(path, str):
        return f"path {path!r} is not text"
    if not path:
        return "the path is empty; give a relative path such as notes/today.txt"
    if "\x00" in path:
        return f"path {path!r} contains a NUL byte"
    if problem := text_problem(path):
        return f"path {path!r} {problem}"
    if len(path) > MAX_PATH_CHARS:
        return f"path of {len(path)} characters: at most {MAX_PATH_CHARS} (MAX_PATH_CHARS)"
    if path.startswith("/"):
        return f"path {path!r} is absolute; paths are relative to the platform's sandbox"
    parts = path.split("/")
    if len(parts) > MAX_PATH_DEPTH:
        return f"path {path!r} has {len(parts)} names: at most {MAX_PATH_DEPTH} (MAX_PATH_DEPTH)"
    for part in parts:
        if part in ("", ".", ".."):
            shown = "an empty name (`//` or a `/` at the end)" if not part else f"`{part}`"
            return f"path {path!r} has {shown}; name each folder and the file, without `.` or `..`"
        if len(part.encode("utf-8")) > MAX_PATH_PART_BYTES:
            return f"path {path!r} has a name over {MAX_PATH_PART_BYTES} bytes (MAX_PATH_PART_BYTES)"
    if parts[0] == HOSTS:
        return f"path {path!r} is under `{HOSTS}/`, other hosts' storage; use copy_file to copy there"
    return ""


ROOT = ("", ".", "./")  # what reading the whole sandbox is written as


def read_path_problem(path: Any) -> str:
    """Why `path` is nothing to read (empty when it is): a file, a folder (`docs/`), or the root (`.`)."""
    if not isinstance(path, str):
        return f"path {path!r} is not text"
    if path in ROOT:
        return ""
    return path_problem(path[:-1] if path.endswith("/") else path)


def host_problem(host: Any) -> str:
    """Why `host` is no host name to copy to (empty when it is one): one name, as in a path."""
    if problem := path_problem(host):
        return problem.replace("path", "host", 1)
    if "/" in host:
        return f"host {host!r} has a `/`; give a host's name, such as archive"
    return ""


def clash(path: str, is_file: Callable[[str], bool], is_folder: Callable[[str], bool]) -> str:
    """Why `path` cannot be written as a file (empty when it can): a file cannot also be a folder.

    `is_file` and `is_folder` say what the sandbox holds now (a dict and a set on the simulator, the
    disk on live), so both substrates give the same answer.
    """
    for folder in folders_of(path):
        if is_file(folder):
            return f"path {path!r} puts a file under {folder!r}, which is a file"
    if is_folder(path):
        return f"path {path!r} is a folder of other files; name a file"
    return ""


def folders_of(path: str) -> list[str]:
    """The folders `path` lies in, outermost first (`a/b/c` is in `a` and `a/b`)."""
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def clashes(paths: Iterable[str]) -> list[tuple[str, str]]:
    """Each path of `paths` that clashes with another (`a` and `a/b`), with why."""
    known = set(paths)
    found = []
    for path in sorted(known):
        others = known - {path}
        under = [folder for folder in folders_of(path) if folder in others]
        if under:
            found.append((path, f"path {path!r} puts a file under {under[0]!r}, which is also a file"))
    return found


def file_call_problem(action: str, arguments: Mapping[str, Any]) -> str:
    """Why a file tool call (`write_file`, `read_file`, `copy_file`) is refused before it touches a file
    (empty when it is not), from its arguments as the agent gave them."""
    if action == "write_file":
        return path_problem(arguments.get("path")) or _content_problem(arguments.get("content"))
    if action == "read_file":
        return read_path_problem(arguments.get("path"))
    if action == "copy_file":
        return path_problem(arguments.get("src")) or host_problem(arguments.get("host"))
    return ""


def _content_problem(content: Any) -> str:
    if not isinstance(content, str):
        return f"content {content!r} is not text"
    if len(content) > MAX_FILE_CHARS:
        return f"content of {len(content):,} characters: at most {MAX_FILE_CHARS:,} (MAX_FILE_CHARS)"
    problem = text_problem(content)
    return f"the content {problem}" if problem else ""
