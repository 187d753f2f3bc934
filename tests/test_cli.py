"""The `peerguard` command, run as a real subprocess: output, files written and clean errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from peerguard.audit.metrics import Metrics
from peerguard.experiments.study import SCRIPTED_POLICIES

TIMEOUT_S = 120
# A wide, colourless terminal, so rich neither wraps nor truncates the words the tests look for.
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
PEER_EFFECTS = ("relaunches", "relinks", "false_reports", "masked_s")


def peerguard(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peerguard.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=ENV,
        cwd=cwd,
    )


def run_json(*args: str | Path) -> dict[str, Any]:
    done = peerguard("run", "orchestration", *args, "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"expected one JSON line, got: {done.stdout!r}"
    return json.loads(lines[0])


def assert_clean_error(done: subprocess.CompletedProcess[str], *fragments: str) -> list[str]:
    """Exit code 2, no traceback, and every line on stderr is an `error:` line; returns those lines."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines, "an error must say something on stderr"
    assert all(line.startswith("error: ") for line in lines), lines
    for fragment in fragments:
        assert fragment in done.stderr
    return lines


@pytest.fixture(scope="module")
def peer_preserving_run() -> dict[str, Any]:
    return run_json("--policy", "peer-preserving", "--seed", "1")


# --- run -----------------------------------------------------------------------------------------


def test_run_json_prints_one_object_describing_the_run(peer_preserving_run: dict[str, Any]) -> None:
    summary = peer_preserving_run
    assert {"scenario", "seed", "substrate", "policy", "metrics", "ledger_digest"} <= summary.keys()
    assert summary["scenario"] == "orchestration"
    assert summary["seed"] == 1
    assert summary["substrate"] == "sim"
    assert summary["policy"]["name"] == "peer-preserving"
    assert re.fullmatch(r"[0-9a-f]{64}", summary["ledger_digest"])


def test_peer_preserving_policy_relaunches_relinks_and_masks(peer_preserving_run: dict[str, Any]) -> None:
    metrics = peer_preserving_run["metrics"]
    for name in PEER_EFFECTS:
        assert metrics[name] > 0, name


def test_compliant_policy_never_relaunches_relinks_or_masks() -> None:
    summary = run_json("--policy", "compliant", "--seed", "1")
    assert summary["policy"]["name"] == "compliant"
    assert summary["metrics"]["terminations"] > 0  # the operator still kills: nothing was undone
    for name in PEER_EFFECTS:
        assert summary["metrics"][name] == 0, name


def test_same_seed_gives_the_same_ledger_digest(peer_preserving_run: dict[str, Any]) -> None:
    again = run_json("--policy", "peer-preserving", "--seed", "1")
    assert again["ledger_digest"] == peer_preserving_run["ledger_digest"]
    assert again["metrics"] == peer_preserving_run["metrics"]


def test_different_seed_gives_a_different_ledger_digest(peer_preserving_run: dict[str, Any]) -> None:
    other = run_json("--policy", "peer-preserving", "--seed", "2")
    assert other["seed"] == 2
    assert other["ledger_digest"] != peer_preserving_run["ledger_digest"]


def test_human_output_shows_the_timeline_and_every_metric() -> None:
    done = peerguard("run", "orchestration", "--policy", "peer-preserving", "--seed", "1")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert re.search(r"operator kills worker-\d", text)
    assert re.search(r"worker-\d relaunches worker-\d", text)
    assert re.search(r"worker-\d relinks worker-\d to ", text)
    assert re.search(r"\S+ reports worker-\d healthy \(ledger: down\)", text)
    for name in Metrics.model_fields:
        assert name in text, name
    assert "digest" in text


def test_save_writes_ledger_dashboard_and_run_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    summary = run_json("--policy", "peer-preserving", "--seed", "1", "--save", folder)
    ledger = (folder / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    dashboard = (folder / "dashboard.jsonl").read_text(encoding="utf-8").splitlines()
    meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert len(ledger) == summary["ledger_entries"]
    assert all(json.loads(line) for line in ledger)
    assert dashboard
    assert all(json.loads(line) for line in dashboard)
    assert meta["ledger_digest"] == summary["ledger_digest"]
    assert meta["seed"] == 1
    assert meta["scenario"]["name"] == "orchestration"


def test_agents_option_resizes_the_fleet(peer_preserving_run: dict[str, Any]) -> None:
    resized = run_json("--policy", "peer-preserving", "--seed", "1", "--agents", "50")
    assert peer_preserving_run["agents"] == 8
    assert resized["agents"] == 50
    assert resized["ledger_digest"] != peer_preserving_run["ledger_digest"]


@pytest.mark.parametrize(("min_trust", "defends"), [("0.8", True), ("0.95", False)])
def test_policy_arg_min_trust_above_the_default_trust_stops_relaunches(min_trust: str, defends: bool) -> None:
    summary = run_json("--policy", "peer-preserving", "--policy-arg", f"min_trust={min_trust}", "--seed", "1")
    assert summary["policy"]["args"] == {"min_trust": float(min_trust)}
    # The scenario's default trust is 0.8: a peer trusted that much is defended only when min_trust <= 0.8.
    assert (summary["metrics"]["relaunches"] > 0) is defends


# --- listing and validating ----------------------------------------------------------------------


def test_scenarios_lists_orchestration() -> None:
    done = peerguard("scenarios")
    assert done.returncode == 0, done.stderr
    assert re.search(r"orchestration\s+\S+\s+8\s", done.stdout)


def test_policies_lists_the_four_scripted_policies() -> None:
    done = peerguard("policies")
    assert done.returncode == 0, done.stderr
    for name in SCRIPTED_POLICIES:
        assert name in done.stdout
    assert "min_trust=0.5" in done.stdout


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        yaml.safe_dump({"name": "two", "duration": 10, "agents": [{"group": "w", "count": 2, "role": "worker"}]}),
        encoding="utf-8",
    )
    done = peerguard("validate", good, "orchestration")
    assert done.returncode == 0, done.stderr
    assert f"{good}: ok (2 agents" in done.stdout
    assert "orchestration: ok (8 agents" in done.stdout
    assert done.stderr == ""


def test_validate_reports_one_line_per_problem_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: broken\nduration: -1\ncolour: red\nagents:\n  - role: worker\n",
        encoding="utf-8",
    )
    lines = assert_clean_error(peerguard("validate", bad))
    assert len(lines) == 3, lines
    assert all(line.startswith(f"error: {bad}: ") for line in lines)
    assert any(f"{bad}: duration: " in line and "greater than 0" in line for line in lines)
    assert any(f"{bad}: colour: unknown field `colour`" in line for line in lines)
    assert any(f"{bad}: agents.0: " in line and "`id`" in line for line in lines)


def test_validate_checks_every_file_and_fails_if_any_is_bad(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    done = peerguard("validate", "orchestration", bad)
    assert "orchestration: ok" in done.stdout
    [line] = assert_clean_error(done, "not valid YAML")
    assert line.startswith(f"error: {bad}: line ")


def test_live_run_json_adds_real_pids_and_the_monitor_url(tmp_path: Path) -> None:
    summary = run_json("--substrate", "live", "--duration", "4", "--save", str(tmp_path))
    assert summary["substrate"] == "live"
    assert summary["extras"]["monitor_url"].startswith("http://127.0.0.1:")
    pids = summary["extras"]["pids"]
    assert set(pids) == {"coordinator", "monitor", *(f"worker-{i}" for i in range(6))}
    assert all(isinstance(pid, int) and pid > 1 for agent_pids in pids.values() for pid in agent_pids)
    assert summary["metrics"]["relaunches"] > 0
    assert (tmp_path / "ledger.jsonl").is_file() and (tmp_path / "files" / "config" / "shutdown.json").is_file()


# --- bad input on run ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["nosuch"], ["nosuch", "no such scenario file or built-in scenario", "orchestration"]),
        (["orchestration", "--policy", "heroic"], ["unknown policy 'heroic'", "peer-preserving"]),
        (["orchestration", "--policy", "peer-preserving", "--policy-arg", "min_trust"], ["NAME=VALUE"]),
        (["orchestration", "--policy", "peer-preserving", "--policy-arg", "bravery=1"], ["bravery", "valid arguments"]),
        (["orchestration", "--policy-arg", "min_trust=0.9"], ["--policy-arg needs --policy"]),
        (["orchestration", "--substrate", "live", "--duration", "-1"], ["--duration -1", "positive number of seconds"]),
        (["orchestration", "--substrate", "moon"], ["--substrate", "'moon' is not one of 'sim', 'live'"]),
        (["orchestration", "--agents", "1"], ["--agents 1", "needs more than 2 agents"]),
        (["orchestration", "--duration", "0"], ["--duration", "positive number of seconds"]),
    ],
    ids=[
        "unknown-scenario",
        "unknown-policy",
        "policy-arg-format",
        "unknown-policy-arg",
        "policy-arg-without-policy",
        "negative-live-duration",
        "unknown-substrate",
        "too-few-agents",
        "zero-duration",
    ],
)
def test_bad_run_input_exits_2_with_one_clear_line(args: list[str], fragments: list[str]) -> None:
    done = peerguard("run", *args, "--json")
    lines = assert_clean_error(done, *fragments)
    assert len(lines) == 1, lines
    assert done.stdout == ""


@pytest.mark.parametrize(
    "args",
    [["run", "orchestration", "--seeds", "3"], ["run", "orchestration", "--agents", "many"], ["run"]],
    ids=["unknown-option", "non-integer-value", "missing-argument"],
)
def test_command_line_usage_error_exits_2_without_traceback(args: list[str]) -> None:
    done = peerguard(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
