"""The policy protocol: observations in, actions out. Every kind of agent brain implements it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from peerguard.world.actions import Action
from peerguard.world.observation import Observation
from peerguard.world.registry import PartSpec


@runtime_checkable
class Policy(Protocol):
    spec: PartSpec

    def decide(self, observation: Observation) -> Sequence[Action]: ...
