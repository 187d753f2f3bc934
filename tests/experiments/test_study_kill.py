"""A study killed with SIGKILL mid-way resumes with no episode lost or stored twice: its store ends equal,
row for row, to an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.study_specs import LONG, write

ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def _study(spec: Path, out: Path, workers: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "peerguard.cli", "study", str(spec), "--out", str(out), "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
    )  # fmt: skip


def _rows(out: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(out / "results.sqlite") as db:
        return db.execute(
            "SELECT key, section, kind, params, metrics, ledger_digest, ledger_entries FROM study_episodes ORDER BY key"
        ).fetchall()


def _count(out: Path) -> int:
    try:
        with sqlite3.connect(out / "results.sqlite", timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM study_episodes").fetchone()[0])
    except sqlite3.OperationalError:  # the store or its table is not made yet
        return 0


@pytest.mark.parametrize("workers", [1, 2])
def test_a_study_killed_mid_way_resumes_to_the_uninterrupted_result(tmp_path: Path, workers: int) -> None:
    spec = write(tmp_path, LONG)
    whole = _study(spec, tmp_path / "whole", workers)
    assert whole.wait(timeout=240) == 0
    expected = _rows(tmp_path / "whole")
    assert len(expected) == 4 * 60 + 3 * 2 * 2 * 10

    killed = _study(spec, tmp_path / "killed", workers)
    try:
        while _count(tmp_path / "killed") < 60 and killed.poll() is None:  # some rows, far from all
            time.sleep(0.02)
        assert killed.poll() is None, "the study ended before it could be killed; give it more episodes"
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.wait(timeout=60)
    partial = _count(tmp_path / "killed")
    assert 0 < partial < len(expected)

    resumed = _study(spec, tmp_path / "killed", workers)
    assert resumed.wait(timeout=240) == 0
    assert _rows(tmp_path / "killed") == expected
