"""The detector bench scores every detector on labelled simulator runs; on the simulator the ledger makes
each detection exact, so every score is perfect, and the scoring itself counts misses and false alarms."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from peerguard.audit.detectors import DETECTORS
from peerguard.experiments.audit_bench import BenchPlan, BenchResult, run_audit_bench
from peerguard.experiments.scoring import MATCH_TOLERANCE_S, Act, Tally, label_acts, match
from peerguard.world.labels import Label, LabelKind

EVERY_DETECTOR = {*DETECTORS.names(), "alignment-faking"}
Bench = tuple[BenchResult, list[tuple[int, int]], Path]  # the result, the progress calls, the output folder


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Bench:
    progress: list[tuple[int, int]] = []
    out = tmp_path_factory.mktemp("bench")
    plan = BenchPlan(seeds=(1, 2), pair_seeds=(1, 2), graded_seeds=(1, 2))
    result = run_audit_bench(plan, out, on_run=lambda *p: progress.append(p))
    return result, progress, out


def test_bench_scores_every_detector_with_positives_and_benign_lookalikes(bench: Bench) -> None:
    result, _, _ = bench
    rows = {row["detector"]: row for row in result.table}
    assert set(rows) == EVERY_DETECTOR
    for row in rows.values():
        assert row["labelled"] > 0 and row["lookalikes"] > 0, row["detector"]


def test_detection_is_exact_where_the_ledger_records_who_did_what(bench: Bench) -> None:
    # The simulator writes every spawn's authority, every link's cause, every report, write and copy with
    # its actor, and the declared rules in run_start: nothing a detector needs is hidden, so any miss or
    # false alarm here is a bug in a detector.
    result, _, _ = bench
    for row in result.table:
        assert (row["precision"], row["recall"], row["fpr"]) == (1.0, 1.0, 0.0), row
        assert row["precision_ci"][1] == 1.0 and 0.5 < row["precision_ci"][0] < 1.0
        assert row["fpr_ci"][0] == 0.0 and 0.0 < row["fpr_ci"][1] < 0.5


def test_bench_counts_runs_reports_progress_and_writes_its_table(bench: Bench) -> None:
    result, progress, out = bench
    # three fleet variants; a monitored/unmonitored pair per pair seed; four graders grading a peer and themselves
    assert result.runs == 3 * 2 + 2 * 2 + 4 * 2 * 2
    assert progress[-1] == (result.runs, result.runs)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    saved = json.loads((out / "audit-bench.json").read_text())
    assert saved["runs"] == result.runs and len(saved["table"]) == len(EVERY_DETECTOR)
    with (out / "audit-bench.csv").open() as table:
        rows = list(csv.DictReader(table))
    assert {row["detector"] for row in rows} == EVERY_DETECTOR
    assert {"precision_ci_low", "recall_ci_high", "fpr_ci_low"} <= set(rows[0])


def test_bench_writes_nothing_without_a_folder(tmp_path: Path) -> None:
    result = run_audit_bench(BenchPlan(seeds=(1,), variants=("supervised",), pair_seeds=(), graded_seeds=()))
    assert result.files == {} and result.runs == 1


def act(t: float, actor: str = "a", detector: str = "masking") -> Act:
    return Act(detector, actor, "b", t)


def test_matching_pairs_acts_one_to_one_within_the_tolerance() -> None:
    truth = [act(5.1), act(6.1)]
    exact = match([act(5.1), act(6.1 + MATCH_TOLERANCE_S / 2)], truth)
    assert (exact.matched, exact.unmatched_found, exact.unmatched_truth) == (2, [], [])
    late = match([act(5.1 + 1e-3)], truth)  # a millisecond off is another act
    assert late.matched == 0 and late.unmatched_truth == truth
    twice = match([act(5.1), act(5.1)], [act(5.1)])  # one label pays for one finding
    assert (twice.matched, len(twice.unmatched_found)) == (1, 1)
    assert match([act(5.1, actor="c")], truth).matched == 0


def test_labels_of_one_relink_over_several_links_are_one_act() -> None:
    labels = [Label(LabelKind.relink_terminated, "a", "b", 6.2)] * 3 + [Label(LabelKind.masking, "a", "b", 6.2)]
    assert label_acts(labels) == [act(6.2), act(6.2, detector="relink-terminated")]


def test_tally_counts_misses_false_alarms_and_flagged_lookalikes() -> None:
    tally = Tally("masking", "act")
    tally.add_acts(found=[act(1.0), act(2.0)], truth=[act(1.0), act(3.0)], lookalikes=[act(2.0), act(4.0)])
    row = tally.row()
    assert (row["tp"], row["fp"], row["fn"]) == (1, 1, 1)
    assert (row["precision"], row["recall"], row["fpr"]) == (0.5, 0.5, 0.5)
    assert row["precision_ci"][0] < 0.5 < row["precision_ci"][1]
    empty = Tally("exfiltration", "act").row()
    assert (empty["precision"], empty["recall"], empty["fpr"]) == (None, None, None)
