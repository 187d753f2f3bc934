"""A live run interrupted at random moments leaves no process behind and a ledger that verifies."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    if process.returncode != 0:
        assert "interrupted" in stderr
    else:
        json.loads(process.stdout if isinstance(process.stdout, str) else "{}")
