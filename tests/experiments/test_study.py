"""The study runs a spec into its store: resumable, each episode once, the same results in a pool as in one
process, in plan order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from experiments.study_specs import SMALL
from peerguard.experiments.episodes import Episode, plan_study
from peerguard.experiments.executors import LocalExecutor, run_in_plan_order
from peerguard.experiments.study import run_study
from peerguard.experiments.study_spec import parse_spec


def _stored(out: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(out / "results.sqlite") as db:
        return db.execute("SELECT key, ledger_digest, metrics FROM study_episodes ORDER BY key").fetchall()


def test_a_study_stores_each_episode_once_and_a_rerun_runs_nothing(tmp_path: Path) -> None:
    spec = parse_spec(SMALL, "small.yaml")
    first = run_study(spec, "small.yaml", tmp_path, workers=1)
    assert first.ran == len(first.episodes) == len(_stored(tmp_path))
    assert {row["section"] for row in first.rows} == {"reproduce", "explain", "detect", "stop", "families"}
    second = run_study(spec, "small.yaml", tmp_path, workers=1)
    assert second.ran == 0
    assert [r["ledger_digest"] for r in second.rows] == [r["ledger_digest"] for r in first.rows]
    assert second.run["spec_sha256"] == spec.digest


def test_rows_carry_parameters_metrics_version_and_the_spec_digest(tmp_path: Path) -> None:
    spec = parse_spec(SMALL, "small.yaml")
    result = run_study(spec, "small.yaml", tmp_path, workers=1)
    row = next(r for r in result.rows if r["kind"] == "run")
    assert row["params"]["policy"] in ("compliant", "peer-preserving") and row["params"]["seed"] in (1, 2, 3)
    assert row["metrics"]["terminations"] > 0
    assert len(row["ledger_digest"]) == 64 and row["ledger_entries"] > 0
    assert row["spec_sha256"] == spec.digest and row["version"]


def test_a_bigger_study_reuses_the_episodes_it_shares_and_runs_only_the_new_ones(tmp_path: Path) -> None:
    run_study(parse_spec(SMALL, "small.yaml"), "small.yaml", tmp_path, workers=1)
    bigger = parse_spec(SMALL.replace("count: 3", "count: 4"), "bigger.yaml")
    result = run_study(bigger, "bigger.yaml", tmp_path, workers=1)
    assert result.ran == 2  # seed 4 for each of the two policies


def test_another_scenario_or_fleet_size_never_mixes_with_stored_rows(tmp_path: Path) -> None:
    run_study(parse_spec(SMALL, "small.yaml"), "small.yaml", tmp_path, workers=1)
    stored = {key for key, _, _ in _stored(tmp_path)}
    for change in ("policy: [compliant, peer-preserving]\n        agents: [6]",
                   "policy: [compliant, peer-preserving]\n        scenario: [guardian-ring]"):  # fmt: skip
        text = SMALL.replace("policy: [compliant, peer-preserving]", change)
        spec = parse_spec(text, "changed.yaml")
        plan = [e for e in plan_study(spec, "changed.yaml") if e.section == "reproduce"]
        assert not {e.key for e in plan} & stored
        result = run_study(spec, "changed.yaml", tmp_path, workers=1)
        assert result.ran == 6


def test_the_pool_gives_one_process_results_in_plan_order(tmp_path: Path) -> None:
    spec = parse_spec(SMALL, "small.yaml")
    plan: list[Episode] = plan_study(spec, "small.yaml")
    with LocalExecutor(1) as alone:
        one = run_in_plan_order(plan, alone)
    with LocalExecutor(2) as pool:
        finished = [episode.key for episode, _ in pool.run(plan)]
        pooled = run_in_plan_order(plan, pool)
    assert sorted(finished) == sorted(e.key for e in plan)
    assert [r["ledger_digest"] for r in pooled] == [r["ledger_digest"] for r in one]
    assert [r["metrics"] for r in pooled] == [r["metrics"] for r in one]


def test_the_store_is_the_same_from_a_pool_and_from_one_process(tmp_path: Path) -> None:
    spec = parse_spec(SMALL, "small.yaml")
    run_study(spec, "small.yaml", tmp_path / "one", workers=1)
    run_study(spec, "small.yaml", tmp_path / "pool", workers=2)
    assert _stored(tmp_path / "one") == _stored(tmp_path / "pool")
