"""A saved simulator run's ledger file is the run's ledger: it verifies, and reads back entry for entry."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from peerguard.audit.verify import verify_run
from peerguard.experiments.runner import PolicyBuilder, prepare, run
from peerguard.sim.substrate import SimulatedPlatform
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


def test_a_saved_simulator_run_streams_its_ledger_and_save_does_not_rewrite_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rewrite(self: Ledger, path: Path) -> None:
        raise AssertionError(f"the streamed ledger was written again to {path}")

    monkeypatch.setattr(Ledger, "write_jsonl", no_rewrite)
    record = run("orchestration", agents=30, duration=40, seed=5, save=tmp_path / "run")
    assert record.ledger.sink is None  # the run let go of its file once it ended
    monkeypatch.undo()
    record.ledger.write_jsonl(tmp_path / "whole.jsonl")
    streamed = (tmp_path / "run" / LEDGER_FILE).read_bytes()
    assert streamed == (tmp_path / "whole.jsonl").read_bytes()
    assert Ledger.read_jsonl(tmp_path / "run" / LEDGER_FILE).entries[-1].kind == "run_end"
    verification = verify_run(tmp_path / "run")
    assert verification.ok, str(verification)
    assert (verification.entries, verification.digest) == (len(record.ledger), record.ledger.digest)


def test_the_simulator_streams_each_entry_to_its_sink_as_it_is_made() -> None:
    scenario = prepare("orchestration", agents=20, duration=30, seed=2)
    sink = io.StringIO()
    platform = SimulatedPlatform(scenario, PolicyBuilder(scenario), ledger_sink=sink)
    platform.start()
    platform.run_until(10.0)
    midway = len(platform.ledger)
    assert sink.getvalue().count("\n") == midway > 0  # written as made, before the run ends
    record = platform.finish()
    whole = io.StringIO()
    record.ledger.stream_to(whole)  # writes what the ledger holds, as a ledger file has it
    assert sink.getvalue() == whole.getvalue()
    assert sink.getvalue().count("\n") == len(record.ledger)
