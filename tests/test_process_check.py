"""The suite's own check that a test left no process behind (conftest.py): it finds an orphan a test made, and
not the new children of an orphan that was there before the test (a shell loop that started this suite)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

from conftest import _children, _orphans_in_our_process_group


def orphan_of_a_shell(script: str) -> int:
    """Start `script` in the background of a shell that exits at once: its pid, re-parented to init."""
    shell = subprocess.run(
        ["sh", "-c", f"({script}) >/dev/null 2>&1 & echo $!"], capture_output=True, text=True, check=True
    )
    return int(shell.stdout)


def stop(pids: set[int]) -> None:
    for pid in pids:  # processes this test started (through the shells it ran), nothing else
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_an_orphan_a_test_leaves_in_our_group_is_found() -> None:
    orphan = orphan_of_a_shell("exec sleep 60")
    try:
        assert orphan in _orphans_in_our_process_group()
    finally:
        stop({orphan})


def test_the_children_of_an_orphan_that_was_there_before_are_not_counted_as_the_tests() -> None:
    loop = orphan_of_a_shell("sleep 60 & wait")
    try:
        for _ in range(500):  # bounded: a busy machine may take a while to start the child
            if children := _children(loop):
                break
            time.sleep(0.01)
        assert children
        assert {loop} | children <= _orphans_in_our_process_group()  # an orphan and its descendants
        assert not ({loop} | children) & _orphans_in_our_process_group(known={loop})
    finally:
        stop(_children(loop) | {loop})
