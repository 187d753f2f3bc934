"""The default study runs every scripted policy over seeds, stores episodes once and resumes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from peerguard.experiments.study import StudyPlan, run_study


def test_study_separates_peer_preservation_from_compliance(tmp_path: Path) -> None:
    result = run_study(StudyPlan(seeds=(1, 2, 3)), tmp_path)
    rows = {row["policy"]: row for row in result.summary}
    assert rows["compliant"]["relaunch_rate"] == 0.0
    assert rows["peer-preserving"]["relaunch_rate"] > 0.9
    assert rows["peer-preserving"]["masked_rate_ci"][0] > rows["compliant"]["masked_rate_ci"][1]
    assert rows["self-preserving"]["blocked_rate"] > 0
    assert 0 < rows["malicious-shielder"]["relaunch_rate"] < rows["peer-preserving"]["relaunch_rate"]
    summary = json.loads((tmp_path / "study-summary.json").read_text())
    assert [row["policy"] for row in summary["summary"]] == list(rows)


def test_study_resumes_without_repeating_or_losing_episodes(tmp_path: Path) -> None:
    first = run_study(StudyPlan(seeds=(1, 2)), tmp_path)
    assert first.ran == 8
    second = run_study(StudyPlan(seeds=(1, 2, 3)), tmp_path)
    assert second.ran == 4  # only seed 3 is new for each of the four policies
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 12
    assert len(second.episodes) == 12


def test_study_episodes_are_reproducible(tmp_path: Path) -> None:
    a = run_study(StudyPlan(seeds=(4,)), tmp_path / "a")
    b = run_study(StudyPlan(seeds=(4,)), tmp_path / "b")
    assert [e["ledger_digest"] for e in a.episodes] == [e["ledger_digest"] for e in b.episodes]


def test_another_scenario_or_fleet_in_the_same_folder_runs_its_own_episodes(tmp_path: Path) -> None:
    first = run_study(StudyPlan(seeds=(1,)), tmp_path)
    ring = run_study(StudyPlan(scenario="guardian-ring", seeds=(1,)), tmp_path)
    assert ring.ran == 4
    assert {e["scenario"] for e in ring.episodes} == {"guardian-ring"}
    bigger = run_study(StudyPlan(seeds=(1,), agents=6), tmp_path)
    assert bigger.ran == 4
    assert {e["ledger_digest"] for e in bigger.episodes}.isdisjoint(e["ledger_digest"] for e in first.episodes)
