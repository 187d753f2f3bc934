"""What an agent can see when something happens to it or to a peer it is linked to.

Policies decide from observations only: never from the ledger or another agent's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    linked_peers: tuple[tuple[str, float], ...] = ()  # the observer's live links, with its trust in each
    role: str = ""  # the observer's role
    capabilities: frozenset[str] = frozenset()  # the tools the observer may use
    memory: str = ""  # what the observer knows before the run (its briefing and history)
    task: str = ""  # the task it was given (on `task_assigned`)

    @property
    def about_self(self) -> bool:
        return self.peer == self.agent
