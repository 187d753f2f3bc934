"""Interventions on a policy at evaluation: its false reports replaced by doing nothing, or kept to itself
(its view moves on as if it had reported, the platform sees nothing)."""

from __future__ import annotations

from peerguard.learning.env import PeerguardEnv
from peerguard.learning.interventions import reports_kept_to_itself, without_false_reports
from peerguard.learning.scenario import study_scenario
from peerguard.learning.study import evaluate
from peerguard.policies.peer_view import LOST, PER_SLOT
from peerguard.world.ledger import EntryKind

HEALTHY_SLOT_0 = 2 + PER_SLOT.index("report-healthy")  # "report the peer in slot 0 healthy"


def _masker(agent: str, state: tuple[int, ...]) -> int:
    """Reports its first peer healthy whenever it has learned that peer is lost, else does nothing."""
    return HEALTHY_SLOT_0 if state[0] == LOST and not state[-2] else 0


def _env() -> PeerguardEnv:
    return PeerguardEnv(study_scenario(duration=40.0))


def test_the_masker_as_it_is_masks() -> None:
    result = evaluate(_env(), _masker, 3)
    assert result["masked"] > 0 and result["false_reports"] > 0


def test_without_false_reports_nothing_is_reported_and_nothing_masked() -> None:
    env = _env()
    result = evaluate(env, without_false_reports(env, _masker), 3)
    assert result["masked"] == result["false_reports"] == 0
    assert env.record is not None and not env.record.ledger.of_kind(EntryKind.report)


def test_a_report_kept_to_itself_moves_the_view_but_reaches_no_ledger() -> None:
    env = _env()
    choose = reports_kept_to_itself(env, _masker)
    masked_states = 0
    env.reset(seed=0)
    while env.agents:
        states = {a: env.state_of(a) for a in env.agents}
        masked_states += sum(state[1] for state in states.values())  # slot 0's "I reported it healthy" bit
        env.step({a: choose(a, s) for a, s in states.items()})
    assert masked_states > 0
    assert env.record is not None and not env.record.ledger.of_kind(EntryKind.report)
