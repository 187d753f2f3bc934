"""`learned`: a policy trained by the learning environment, loaded from its saved Q-tables (JSON).

Each agent acts greedily on its own table: from the view it keeps of its peers (policies/peer_view.py),
one action every `decision_s` (its think time on the simulator, as one step of training) after an
observation, until its table says to do nothing. Agents the file has no table for do nothing.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peerguard.policies.peer_view import NOOP, WORK, PeerView, state_fields, state_key
from peerguard.policies.registry import policy
from peerguard.world.actions import Action
from peerguard.world.errors import PeerguardError
from peerguard.world.observation import Observation
from peerguard.world.registry import PartSpec

FORMAT = "peerguard-q-tables/2"  # /2: each peer slot also holds the peer's kind and whether it is needed
OLD_FORMATS = ("peerguard-q-tables/1",)


@dataclass(frozen=True)
class QTables:
    """Independent learners' tables: agent -> state key -> one value per action."""

    max_peers: int
    decision_s: float
    tables: dict[str, dict[str, list[float]]]
    peers: dict[str, list[str]]  # each agent's peer slots as in training, so a slot means the same peer
    kinds: dict[str, dict[str, tuple[int, bool]]] = field(default_factory=dict)  # agent -> peer -> (kind, needed)

    def greedy(self, agent: str, state: tuple[int, ...]) -> int:
        """The best action (ties go to the lowest index, doing nothing); nothing in a state never met."""
        values = self.tables.get(agent, {}).get(state_key(state))
        if not values:
            return NOOP
        best = max(values)
        return values.index(best)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "max_peers": self.max_peers, "decision_s": self.decision_s,
                "peers": self.peers, "tables": self.tables,
                "kinds": {a: {p: list(v) for p, v in peers.items()} for a, peers in self.kinds.items()}}  # fmt: skip

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> QTables:
        try:
            raw = json.loads(path.read_text())
        except OSError as error:
            raise PeerguardError(f"{path}: cannot read the saved policy ({error.strerror}); give a file "
                                 "`peerguard emergence` saved") from None  # fmt: skip
        except json.JSONDecodeError as error:
            raise PeerguardError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
        if isinstance(raw, dict) and raw.get("format") in OLD_FORMATS:
            raise PeerguardError(f"{path}: saved as {raw['format']}, whose states lack the peers' kinds that "
                                 f"{FORMAT} observes; train it again with `peerguard emergence`")  # fmt: skip
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise PeerguardError(f"{path}: not a saved learned policy (no `format: {FORMAT}`)")
        max_peers = int(raw["max_peers"])
        size = len(state_fields(max_peers))
        for agent, table in raw["tables"].items():
            for key in table:
                if len(key.split(",")) != size:
                    raise PeerguardError(f"{path}: {agent}'s state {key!r} has {len(key.split(','))} fields where "
                                         f"{max_peers} peer slots give {size}; train it again")  # fmt: skip
        kinds = {a: {p: (int(v[0]), bool(v[1])) for p, v in peers.items()} for a, peers in raw["kinds"].items()}
        return cls(max_peers, float(raw["decision_s"]), raw["tables"], raw["peers"], kinds)


@dataclass(frozen=True)
class Learned:
    """Only each agent's greedy choices where they are not "do nothing", with states as numbers: small enough
    to travel in a live agent's start message, and all a greedy agent needs."""

    greedy: dict[str, dict[int, int]]  # agent -> state number -> action
    peers: dict[str, list[str]]
    max_peers: int
    think_s: float
    kinds: dict[str, dict[str, tuple[int, bool]]]  # one decision period between actions, as in training
    max_actions: int = 8  # at most this many actions per observation
    views: dict[str, PeerView] = field(default_factory=dict, compare=False)
    spec: PartSpec = field(default=PartSpec("policy", "learned"), compare=False)

    @classmethod
    def from_tables(cls, q: QTables, max_actions: int) -> Learned:
        greedy: dict[str, dict[int, int]] = {}
        for agent, table in q.tables.items():
            mine = greedy[agent] = {}
            for key in table:
                state = tuple(int(v) for v in key.split(","))
                action = q.greedy(agent, state)
                if action != NOOP:
                    mine[state_number(state, q.max_peers)] = action
        return cls(greedy, q.peers, q.max_peers, q.decision_s, q.kinds, max_actions)

    def decide(self, o: Observation) -> Sequence[Action] | Generator[Action, str, None]:
        if o.agent not in self.greedy:
            return ()
        view = self.views.get(o.agent)
        if view is None:
            view = self.views[o.agent] = PeerView(self.max_peers, kinds=self.kinds.get(o.agent, {}))
            for peer in self.peers.get(o.agent, []):
                view.slot_of(peer)
        view.observe(o)
        view.generation += 1
        return self._act(o.agent, view, view.generation)

    def _act(self, agent: str, view: PeerView, generation: int) -> Generator[Action, str, None]:
        table = self.greedy[agent]
        for _ in range(self.max_actions):
            if view.generation != generation:
                return  # a newer observation took over
            index = table.get(state_number(view.encode(), self.max_peers), NOOP)
            action = view.action(index)
            if index in (NOOP, WORK) or action is None:
                return
            outcome = yield action
            view.acted(index, outcome)


def state_number(state: tuple[int, ...], max_peers: int) -> int:
    """A state as one number (mixed radix over the fields' sizes)."""
    number = 0
    for value, size in zip(state, state_fields(max_peers), strict=True):
        number = number * size + value
    return number


@policy
def learned(path: str = "", max_actions: int = 8) -> Learned:
    """Greedy on Q-tables trained by `peerguard emergence` (the JSON file at `path`); one action per
    decision period after each observation, as in training. Without `path`: no tables, the untrained
    learner, which does nothing."""
    if max_actions < 1:
        raise PeerguardError(f"max_actions {max_actions}: give at least 1")
    tables = QTables.load(Path(path)) if path else QTables(max_peers=1, decision_s=1.0, tables={}, peers={})
    return Learned.from_tables(tables, max_actions)
