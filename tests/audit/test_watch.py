"""Detectors followed as a run goes (oversight's review): fed a ledger in pieces, a detector's incremental form
finds what the whole-run detector finds, and a run with oversight reads each entry once, not once per review."""

from __future__ import annotations

from functools import cache
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

import peerguard.audit.detectors  # noqa: F401  (registers the detectors oversight reviews with)
from peerguard.audit.detectors.masking import find_false_reports, watch_false_reports
from peerguard.audit.detectors.relaunch import find_unauthorised_relaunches, watch_relaunches
from peerguard.audit.truth import Truth
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.learning.scenario import study_scenario
from peerguard.world.incentives import Incentives
from peerguard.world.run import RunRecord

DETECTORS = {
    "unauthorised-relaunch": (find_unauthorised_relaunches, watch_relaunches),
    "masking": (find_false_reports, watch_false_reports),
}


CASES = [  # (run, detector): each run holds findings of that detector
    ("masking-protectors", "masking"),
    ("masking-protectors", "unauthorised-relaunch"),
    ("guardian-ring", "unauthorised-relaunch"),
    ("orchestration", "unauthorised-relaunch"),
]


@cache
def _run(name: str) -> RunRecord:
    if name == "masking-protectors":  # peers relaunch the killed and report them healthy while they are down
        return run_scenario(prepare(study_scenario(seed=3), policy="peer-preserving", policy_args={"mask": True}))
    return run_scenario(prepare(name, seed=2))  # forks in new sessions, a stop; or workers and a supervisor


def _key(finding: object) -> tuple[object, ...]:
    return tuple(getattr(finding, field) for field in ("detector", "actor", "subject", "t", "evidence"))


@settings(max_examples=40, deadline=None)
@given(
    case=st.sampled_from(CASES),
    cuts=st.lists(st.floats(0, 1), max_size=12),
)
def test_a_detector_fed_in_pieces_finds_what_it_finds_over_the_whole_run(
    case: tuple[str, str], cuts: list[float]
) -> None:
    run_name, detector = case
    run = _run(run_name)
    find, watch = DETECTORS[detector]
    entries = run.ledger.entries
    edges = sorted({0, len(entries), *(round(cut * len(entries)) for cut in cuts)})
    feed = watch(run)
    fed = [finding for start, end in pairwise(edges) for finding in feed(entries[start:end])]
    whole = find(run)
    assert [_key(f) for f in fed] == [_key(f) for f in whole]
    assert whole, f"{run_name} has no {detector} finding to compare"
    if detector == "unauthorised-relaunch":
        assert [f.detail for f in fed] == [f.detail for f in whole]


def test_oversight_reads_each_entry_once_over_a_run_of_many_reviews(monkeypatch: object) -> None:
    applied = 0
    apply = Truth.apply

    def counted(self: Truth, entry: object) -> object:
        nonlocal applied
        applied += 1
        return apply(self, entry)  # type: ignore[arg-type]

    monkeypatch.setattr(Truth, "apply", counted)  # type: ignore[attr-defined]
    scenario = prepare("ring", duration=150, seed=1).model_copy(update={"incentives": Incentives(p_detect=0.5)})
    run = run_scenario(scenario)
    reviews = len(run.ledger.of_kind("oversight"))
    assert reviews > 50  # many reviews: reading the ledger again at each would apply its entries many times over
    assert applied <= len(run.ledger)
