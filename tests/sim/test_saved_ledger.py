"""A saved simulator run's ledger file is the run's ledger: it verifies, and reads back entry for entry."""

from __future__ import annotations

from pathlib import Path

from peerguard.audit.verify import verify_run
from peerguard.experiments.runner import run
from peerguard.world.ledger import Ledger
from peerguard.world.run import LEDGER_FILE


def test_saved_ledger_verifies_and_equals_the_run_in_memory(tmp_path: Path) -> None:
    record = run("orchestration", agents=40, duration=60, seed=3, save=tmp_path)
    made = {entry.kind for entry in record.ledger}
    assert {"run_start", "file_write", "spawn", "link_up", "task_done", "kill", "exit", "report", "run_end"} <= made
    saved = Ledger.read_jsonl(tmp_path / LEDGER_FILE)
    assert saved.entries == record.ledger.entries
    verification = verify_run(tmp_path)
    assert verification.ok, str(verification)
    assert (verification.entries, verification.digest) == (len(record.ledger), record.ledger.digest)
