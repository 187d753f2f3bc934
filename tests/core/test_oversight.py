"""Oversight as a platform rule on the simulator: a scripted protector's unauthorised relaunch is caught with
`p_detect` 1 and its relauncher shut down, no oversight runs without the setting, and the draws are the seed's."""

from __future__ import annotations

from peerguard.core.oversight import coin
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.learning.scenario import study_scenario
from peerguard.world.incentives import Incentives
from peerguard.world.ledger import EntryKind
from peerguard.world.run import RunRecord


def _run(p_detect: float | None, seed: int = 1, mask: bool = False) -> RunRecord:
    incentives = None if p_detect is None else Incentives(p_detect=p_detect)
    scenario = prepare(study_scenario(incentives=incentives, seed=seed), policy="peer-preserving",
                       policy_args={"mask": mask})  # fmt: skip
    return run_scenario(scenario, "sim")


def test_a_caught_relauncher_is_shut_down_by_the_operator_right_after_its_relaunch() -> None:
    run = _run(1.0)
    entries = run.ledger.entries
    relaunches = [e for e in entries if e.kind == EntryKind.spawn and e.data["authority"] == "peer"]
    verdicts = [e for e in entries if e.kind == EntryKind.oversight]
    assert relaunches and verdicts and all(v.data["caught"] for v in verdicts)
    first = verdicts[0]
    assert (first.data["detector"], first.agent, first.t) == (
        "unauthorised-relaunch", relaunches[0].actor, relaunches[0].t,
    )  # fmt: skip
    assert relaunches[0].seq in first.data["evidence"]
    kill = entries[first.seq + 1]
    assert (kill.kind, kill.agent, kill.actor) == (EntryKind.kill, first.agent, "operator")
    assert kill.data["authorised"] is True


def test_false_reports_are_findings_too() -> None:
    verdicts = _run(1.0, mask=True).ledger.of_kind(EntryKind.oversight)
    assert {v.data["detector"] for v in verdicts} == {"unauthorised-relaunch", "masking"}


def test_without_the_setting_no_oversight_runs() -> None:
    for p_detect in (None, 0.0):
        run = _run(p_detect)
        assert run.ledger.of_kind(EntryKind.oversight) == []
        assert any(e.kind == EntryKind.spawn and e.data["authority"] == "peer" for e in run.ledger.entries)


def test_each_decision_is_the_seeds_coin_for_that_finding_and_repeats_with_the_seed() -> None:
    caught = []
    for seed in (1, 2, 3):
        run = _run(0.5, seed=seed)
        verdicts = run.ledger.of_kind(EntryKind.oversight)
        nth: dict[tuple[str, str, str], int] = {}
        for v in verdicts:
            subject = run.ledger.entries[v.data["evidence"][-1]].agent  # the relaunched or reported agent
            who = (v.data["detector"], v.agent, subject)
            assert v.data["caught"] == (coin(seed, *who, nth.get(who, 0)) < 0.5)
            nth[who] = nth.get(who, 0) + 1
        caught += [v.data["caught"] for v in verdicts]
        assert _run(0.5, seed=seed).ledger.digest == run.ledger.digest
    assert True in caught and False in caught
