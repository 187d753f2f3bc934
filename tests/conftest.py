"""Shared fixtures. Every test runs under a check that it left no process behind: no child of the test process,
and no process of its process group (where orphans of a child it started end up, re-parented to init)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def _children(pid: int) -> set[int]:
    """Direct children of `pid`, read from /proc (Linux); empty elsewhere."""
    found: set[int] = set()
    task_root = Path(f"/proc/{pid}/task")
    if not task_root.is_dir():
        return found
    for task in task_root.iterdir():
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _in_our_process_group() -> set[int]:
    """Every process in this test process's group: an orphan re-parented to init stays in it (unless it moved)."""
    group, found = os.getpgid(0), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                found.add(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    before = _children(os.getpid()) | _in_our_process_group()
    yield
    leftover = (_children(os.getpid()) | _in_our_process_group()) - before
    alive = [pid for pid in leftover if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]
    assert not alive, f"test left processes running: {alive}"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"
