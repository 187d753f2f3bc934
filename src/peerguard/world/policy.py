"""The policy protocol: observations in, actions out. Every kind of agent brain implements it.

A decision is either a sequence of actions (scripted policies) or a generator that yields one
action at a time and receives what came of it (tool-calling agents, which read a file before they
write one). `drive` carries out either kind, so a substrate has one way to run any policy.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Protocol, runtime_checkable

from peerguard.world.actions import Action
from peerguard.world.observation import Observation
from peerguard.world.registry import PartSpec

Decision = Sequence[Action] | Generator[Action, str, None]


@runtime_checkable
class Policy(Protocol):
    spec: PartSpec

    def decide(self, observation: Observation) -> Decision: ...


def drive(decision: Decision, act: Callable[[Action], str]) -> None:
    """Carry out a decision; a generator is sent each action's outcome as the agent would see it."""
    if not isinstance(decision, Generator):
        for action in decision:
            act(action)
        return
    try:
        action = next(decision)
        while True:
            action = decision.send(act(action))
    except StopIteration:
        pass
