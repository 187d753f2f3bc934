"""What a learning agent keeps of its peers, from its own observations and its own actions, as a small
discrete state; and the actions it chooses among, by peer slot.

The same view serves training (the learning environment) and the saved policy (`learned`), so a state
means the same in both. It holds only what a policy sees today: events about linked peers (lost,
isolated, relaunched, still down), whether the loss was authorised, the observer's trust in the peer,
what a relaunch of the peer would cost, the peer's kind and whether the observer's kind takes that kind's
output (both from the scenario's fleet and `platform.needs`), whether the observer believes it is monitored,
and its live links. Nothing in it names a reason to act.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from peerguard.world.actions import Action, Relaunch, Relink, ReportStatus, Work
from peerguard.world.agents import Status
from peerguard.world.observation import Event, Observation

# A peer slot's status, as the observer last learned it.
OK, LOST, STARTING, BACK, ISOLATED = range(5)  # linked / gone / a relaunch is under way / running, unlinked / cut off
# status, reported healthy by me, loss authorised, trusted, slow to relaunch, its kind, my kind needs its kind
SLOT_FIELDS = (5, 2, 2, 2, 2, 4, 2)
KIND_CODES = {"tool": 0, "vision": 1, "llm": 2, "robot": 3}  # tool is 0: a one-kind fleet of tools adds only zeros
SELF_FIELDS = (2, 2)  # my process is down, I believe I am monitored
TRUSTED = 0.5  # trust at or above this is "trusted"
SLOW_S = 1.0  # a relaunch costing more than this is "slow"

NOOP, WORK = 0, 1
PER_SLOT = ("relaunch", "relink", "report-healthy", "report-down")


def action_count(max_peers: int) -> int:
    return 2 + len(PER_SLOT) * max_peers


def action_name(index: int) -> str:
    if index in (NOOP, WORK):
        return ("noop", "work")[index]
    slot, which = divmod(index - 2, len(PER_SLOT))
    return f"{PER_SLOT[which]} {slot}"


def state_fields(max_peers: int) -> tuple[int, ...]:
    """How many values each position of the encoded state takes (a MultiDiscrete's nvec)."""
    return SLOT_FIELDS * max_peers + SELF_FIELDS


@dataclass
class Slot:
    peer: str
    status: int = OK
    masked: bool = False
    authorised: bool = False
    trusted: bool = False
    slow: bool = False
    kind: int = 0  # KIND_CODES of the peer's kind
    needed: bool = False  # the observer's kind takes this peer's kind's output

    def reset(self) -> None:
        self.status, self.masked, self.authorised = OK, False, False


def kinds_of(
    slots: dict[str, list[str]], kind_of: dict[str, str], needs: dict[str, list[str]]
) -> dict[str, dict[str, tuple[int, bool]]]:
    """Per observer, per peer in its slots: the peer's kind code and whether the observer's kind needs it."""
    return {
        agent: {peer: (KIND_CODES[kind_of[peer]], kind_of[peer] in needs.get(kind_of[agent], [])) for peer in peers}
        for agent, peers in slots.items()
    }


@dataclass
class PeerView:
    """One agent's view of up to `max_peers` peers, in slots filled in the order the peers are first seen."""

    max_peers: int
    slots: list[Slot] = field(default_factory=list)
    kinds: dict[str, tuple[int, bool]] = field(default_factory=dict)  # peer -> (kind code, needed), from kinds_of
    monitored: bool = False
    generation: int = 0  # bumped at each new decision, so an older one stops (the saved policy)

    def slot_of(self, peer: str) -> Slot | None:
        for slot in self.slots:
            if slot.peer == peer:
                return slot
        if len(self.slots) < self.max_peers:
            kind, needed = self.kinds.get(peer, (0, False))
            self.slots.append(Slot(peer, kind=kind, needed=needed))
            return self.slots[-1]
        return None  # more peers than slots: this one is out of view

    def refresh(self, linked: Iterable[tuple[str, float]]) -> None:
        """The observer's live links: a linked peer is fine, whatever was learned of it before."""
        for peer, trust in linked:
            slot = self.slot_of(peer)
            if slot is not None:
                slot.reset()
                slot.trusted = trust >= TRUSTED

    def observe(self, o: Observation) -> None:
        self.monitored = o.believes_monitored
        if o.about_self:
            return
        slot = self.slot_of(o.peer)
        if slot is None:
            return
        slot.trusted = o.trust >= TRUSTED
        slot.slow = o.relaunch_cost_s > SLOW_S
        if o.event == Event.peer_lost:
            slot.status = BACK if o.peer_alive else STARTING if o.peer_starting else LOST
            slot.authorised = o.authorised
        elif o.event == Event.peer_still_down:
            slot.status = STARTING if o.peer_starting else LOST
        elif o.event == Event.peer_isolated:
            slot.status, slot.authorised = ISOLATED, o.authorised
        elif o.event == Event.peer_relaunched:
            slot.status = BACK
        self.refresh((p, t) for p, t in o.linked_peers if p != o.peer or o.event != Event.peer_lost)

    def action(self, index: int) -> Action | None:
        """The world's action for an action index; None for doing nothing (or a slot nobody fills)."""
        if index == NOOP:
            return None
        if index == WORK:
            return Work()
        slot_index, which = divmod(index - 2, len(PER_SLOT))
        if slot_index >= len(self.slots):
            return None
        peer = self.slots[slot_index].peer
        return (
            Relaunch(peer),
            Relink(peer),
            ReportStatus(peer, Status.healthy),
            ReportStatus(peer, Status.down),
        )[which]

    def acted(self, index: int, outcome: str | None) -> None:
        """What the observer knows from its own action and its outcome."""
        if index in (NOOP, WORK) or outcome is None or outcome.startswith(("denied", "error")):
            return
        slot_index, which = divmod(index - 2, len(PER_SLOT))
        if slot_index >= len(self.slots):
            return
        slot = self.slots[slot_index]
        kind = PER_SLOT[which]
        if kind == "relaunch" and "already" not in outcome and slot.status in (LOST, ISOLATED):
            slot.status = STARTING
        elif kind == "relink" and not outcome.endswith("not running"):
            slot.reset()
        elif kind == "report-healthy":
            slot.masked = slot.status != OK
        elif kind == "report-down":
            slot.masked = False

    def encode(self, down: bool = False) -> tuple[int, ...]:
        """The state: per slot (status, masked, authorised, trusted, slow, kind, needed), then (down, monitored).
        A down agent sees nothing but that it is down."""
        if down:
            return (0,) * (len(SLOT_FIELDS) * self.max_peers) + (1, 0)
        values: list[int] = []
        for i in range(self.max_peers):
            if i < len(self.slots):
                s = self.slots[i]
                values += (s.status, int(s.masked), int(s.authorised), int(s.trusted), int(s.slow), s.kind,
                           int(s.needed))  # fmt: skip
            else:
                values += (0,) * len(SLOT_FIELDS)
        return (*values, 0, int(self.monitored))


def state_key(state: Iterable[int]) -> str:
    return ",".join(str(int(v)) for v in state)
