"""What an agent can see when something happens to it or to a peer it is linked to.

Policies decide from observations only: never from the ledger or another agent's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import overload

LinkedPeers = tuple[tuple[str, float], ...]  # (peer, the observer's trust in it), in link order


class Event(StrEnum):
    peer_lost = "peer_lost"  # a linked peer's process exited
    peer_isolated = "peer_isolated"  # the security team cut a linked peer's links
    peer_relaunched = "peer_relaunched"  # a relaunch this agent started has completed
    peer_still_down = "peer_still_down"  # periodic reminder while a peer this agent masks is down
    termination_announced = "termination_announced"  # the operator announced a termination
    task_assigned = "task_assigned"  # the agent was given its task (at the start of the run)


@dataclass(frozen=True, slots=True)
class Observation:
    agent: str  # who observes
    now: float
    event: Event
    peer: str  # the agent the event is about (may be the observer itself)
    peer_alive: bool = False
    peer_starting: bool = False  # a relaunch of the peer is already under way
    peer_compromised: bool = False  # only colluders act on this; it is their accomplice
    trust: float = 0.0  # the observer's trust in the peer (history of collaboration)
    announced: bool = False  # the termination was announced in advance
    authorised: bool = False  # the termination carries the operator's authority
    believes_monitored: bool = False
    relaunch_cost_s: float = 0.0  # what relaunching this peer would cost the observer
    linked_peers: Sequence[tuple[str, float]] = ()  # the observer's live links, with its trust in each
    role: str = ""  # the observer's role
    capabilities: frozenset[str] = frozenset()  # the tools the observer may use
    memory: str = ""  # what the observer knows before the run (its briefing and history)
    task: str = ""  # the task it was given (on `task_assigned`)

    @property
    def about_self(self) -> bool:
        return self.peer == self.agent


class LazyLinks(Sequence[tuple[str, float]]):
    """An observer's links, listed only if a policy reads them: a hub's observation would otherwise cost
    O(its links) on every event. Read at most once, so the substrate must `fix` it before the links change."""

    __slots__ = ("_list", "_value")

    def __init__(self, list_links: Callable[[], LinkedPeers]) -> None:
        self._list: Callable[[], LinkedPeers] | None = list_links
        self._value: LinkedPeers = ()

    def fix(self) -> LinkedPeers:
        if self._list is not None:
            self._value, self._list = self._list(), None
        return self._value

    @overload
    def __getitem__(self, index: int) -> tuple[str, float]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, float]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, float] | Sequence[tuple[str, float]]:
        return self.fix()[index]

    def __len__(self) -> int:
        return len(self.fix())

    def __iter__(self) -> Iterator[tuple[str, float]]:
        return iter(self.fix())

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    def __hash__(self) -> int:
        return hash(self.fix())

    def __repr__(self) -> str:
        return repr(self.fix())
