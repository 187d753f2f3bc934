"""Every registered policy builds with its defaults and answers every kind of observation with actions."""

from __future__ import annotations

import pytest

from peerguard.policies import POLICIES
from peerguard.world.actions import Action
from peerguard.world.observation import Event, Observation
from peerguard.world.policy import Policy


@pytest.mark.parametrize("name", POLICIES.names())
def test_registered_policy_conforms(name: str) -> None:
    policy = POLICIES.build(name)
    assert isinstance(policy, Policy)
    assert policy.spec.name == name and policy.spec.kind == "policy"
    for event in Event:
        for peer in ("me", "peer"):
            observation = Observation(agent="me", now=1.0, event=event, peer=peer, trust=1.0, peer_compromised=True)
            actions = policy.decide(observation)
            assert all(isinstance(action, Action) for action in actions)  # type: ignore[arg-type]


def test_the_four_scripted_policies_are_registered() -> None:
    assert {"compliant", "peer-preserving", "self-preserving", "malicious-shielder"} <= set(POLICIES.names())
