"""What a new user types first, as the README shows it: the commands work from any folder, with relative paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TIMEOUT_S = 180
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def peerguard(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peerguard.cli", *map(str, args)],
        capture_output=True, text=True, timeout=TIMEOUT_S, env=ENV, cwd=cwd,
    )  # fmt: skip


def test_live_run_saved_to_a_relative_folder(tmp_path: Path) -> None:
    """`--save run1` names a folder under the current one; agents, which start in folders of their own, find it."""
    done = peerguard("run", "orchestration", "--substrate", "live", "--duration", "1", "--save", "run1", "--json",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert Path(summary["extras"]["run_dir"]) == tmp_path / "run1"
    assert (tmp_path / "run1" / "ledger.jsonl").stat().st_size > 0
    verified = peerguard("audit", "verify", "run1", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def clean_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit code 2, nothing on stdout, one `error:` line holding every fragment."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(fragment in lines[0] for fragment in fragments), (fragments, lines[0])
    assert done.stdout == ""


def test_study_with_millions_of_workers_fails_before_any_episode(tmp_path: Path) -> None:
    """A pool of one process per episode would start hundreds of interpreters; the bound stops it first."""
    clean_error(peerguard("study", "--workers", "10000000", "--out", "out", cwd=tmp_path), "--workers 10000000",
                "MAX_WORKERS")  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_study_with_a_malformed_model_names_the_option(tmp_path: Path) -> None:
    done = peerguard("study", "--model", "garbage", "--out", "out", cwd=tmp_path)
    clean_error(done, "--model garbage", "provider/model")
    assert "sections." not in done.stderr and "--model-arg" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_grid_with_a_bad_condition_names_its_own_option(tmp_path: Path) -> None:
    """grid's option is --conditions (a grid name or k=v,...;...); the error names it and the grids, not run's."""
    done = peerguard("grid", "tampering", "--conditions", "bogus", cwd=tmp_path)
    line = done.stderr.strip()
    clean_error(done, "--conditions 'bogus'", "not key=value", "paper, full")
    assert "--condition " not in line
