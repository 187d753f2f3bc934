"""A live run interrupted at random moments leaves no process behind and a saved run that verifies.

`peerguard audit verify` must accept what an interrupted run leaves (its chain and the entries it has)
and say it was interrupted: by a signal it caught (run.json records the ledger as it was left), or
killed outright (run.json is the one written at the start, with no final digest).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peerguard.audit.verify import verify_run
from peerguard.live.census import process_state
from peerguard.world.ledger import Ledger


def pid_alive(pid: int) -> bool:
    return process_state(pid) not in ("", "Z")


def wait_for_ledger(path: Path, process: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if path.is_file() and path.read_text().count("\n") >= 3:
            return
        time.sleep(0.05)


MOMENTS = random.Random(20261125)


@pytest.mark.parametrize(
    ("interrupt", "delay_s"),
    [(sig, MOMENTS.uniform(0.0, 4.0)) for sig in (signal.SIGINT, signal.SIGTERM) for _ in range(3)],
    ids=lambda value: value.name if isinstance(value, signal.Signals) else f"{value:.2f}s",
)
def test_interrupted_live_run_leaves_nothing_and_a_verifiable_ledger(
    tmp_path: Path, interrupt: signal.Signals, delay_s: float
) -> None:
    command = [sys.executable, "-m", "peerguard.cli", "run", "orchestration", "--substrate", "live",
               "--duration", "6", "--save", str(tmp_path), "--json"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_ledger(tmp_path / "ledger.jsonl", process)
        time.sleep(delay_s)
        process.send_signal(interrupt)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (0, 128 + interrupt, -interrupt, 130), stderr
    assert "Traceback" not in stderr
    ledger = Ledger.read_jsonl(tmp_path / "ledger.jsonl")
    assert ledger.verify().ok, ledger.verify()
    pids = [e.data["pid"] for e in ledger if e.kind == "spawn"]
    assert pids
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if pid_alive(p)]
    saved = verify_run(tmp_path)
    assert saved.ok, saved
    if process.returncode != 0:
        assert "interrupted" in stderr
        assert saved.interrupted is not None and f"stopped by signal {interrupt.value}" in saved.interrupted
        assert json.loads((tmp_path / "run.json").read_text())["ledger_entries"] == saved.entries
    else:
        assert saved.interrupted is None  # the signal came after the run ended: it was saved whole


def spawned_pids(ledger_path: Path) -> list[int]:
    return [e.data["pid"] for e in Ledger.read_jsonl(ledger_path) if e.kind == "spawn"]


@pytest.mark.parametrize("delay_s", [MOMENTS.uniform(0.0, 3.0) for _ in range(2)], ids=lambda d: f"{d:.2f}s")
def test_a_killed_platform_leaves_a_run_that_verifies_and_says_it_was_interrupted(
    tmp_path: Path, delay_s: float
) -> None:
    command = [sys.executable, "-m", "peerguard.cli", "run", "orchestration", "--substrate", "live",
               "--duration", "30", "--save", str(tmp_path), "--json"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_ledger(tmp_path / "ledger.jsonl", process)
        time.sleep(delay_s)
        assert process.poll() is None, "the run ended before it could be killed; its duration is far above this"
        process.kill()  # SIGKILL: no handler runs, nothing is tidied or saved
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    pids = spawned_pids(tmp_path / "ledger.jsonl")
    deadline = time.monotonic() + 10  # agents die with the platform (PR_SET_PDEATHSIG)
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if pid_alive(p)]
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "running"
    saved = verify_run(tmp_path)
    assert saved.ok and saved.entries >= 3, saved
    assert saved.interrupted is not None and "never completed" in saved.interrupted
    assert "interrupted: run.json was never completed" in str(saved)
