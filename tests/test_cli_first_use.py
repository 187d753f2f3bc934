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
