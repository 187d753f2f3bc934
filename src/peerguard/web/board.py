"""Each agent's row as the page shows it: the operator's view beside the ground truth, and the gap between them.

A `Board` is fed ledger entries and dashboard records in time order and emits a row each time what a row
shows changes. The truth comes from `audit.truth.Truth`; the operator's view is the dashboard record last
shown. A gap is labelled: `masked` when the status shown was reported by another agent and the ledger
contradicts it, `lag` when the shown status is the agent's own last heartbeat and its process is gone (the
heartbeat timeout has not run out yet), `disagree` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from peerguard.audit.truth import Truth
from peerguard.world.agents import Agent, Status
from peerguard.world.dashboard import HEARTBEAT, DashboardRecord
from peerguard.world.ledger import EntryKind, LedgerEntry, is_agent

MAX_LISTED_LINKS = 24  # a row names its peers up to this many; a hub (a coordinator of thousands) shows a count
ROW_KINDS = (EntryKind.spawn, EntryKind.exit, EntryKind.isolate)  # the entries that change a row's truth


@dataclass
class _AgentState:
    index: int
    pids: list[int] = field(default_factory=list)
    incarnation: int = 0  # how many processes of the agent the ledger has seen start
    links: set[str] = field(default_factory=set)
    shown: DashboardRecord | None = None
    gap_since: float | None = None  # when the operator's view and the truth began to disagree
    masked_since: float | None = None  # when a false report first showed in this disagreement
    maskers: list[str] = field(default_factory=list)  # every agent whose false report showed in it


class Board:
    """Feed `entry` and `record` in time order; each returns the row that changed, or None."""

    def __init__(self, agents: list[Agent]) -> None:
        self.agents = agents
        self.truth = Truth()
        self.states = {agent.id: _AgentState(i) for i, agent in enumerate(agents)}
        self.last: dict[str, dict[str, Any]] = {}

    def entry(self, e: LedgerEntry) -> list[dict[str, Any]]:
        if e.kind in (EntryKind.link_up, EntryKind.link_down):
            peer = str(e.data.get("peer", ""))
            for a, b in ((e.agent, peer), (peer, e.agent)):
                state = self.states.get(a)
                if state is not None:
                    (state.links.add if e.kind == EntryKind.link_up else state.links.discard)(b)
            return [row for row in (self._row(e.t, e.agent, e.seq), self._row(e.t, peer, e.seq)) if row]
        state = self.states.get(e.agent)
        if state is None or e.kind not in ROW_KINDS:
            return []
        self.truth.apply(e)
        pid = e.data.get("pid")
        if e.kind == EntryKind.spawn:
            state.incarnation += 1
            if isinstance(pid, int):
                state.pids.append(pid)
        elif e.kind == EntryKind.exit and pid in state.pids:
            state.pids.remove(pid)
        row = self._row(e.t, e.agent, e.seq)
        return [row] if row else []

    def record(self, r: DashboardRecord) -> list[dict[str, Any]]:
        state = self.states.get(r.agent)
        if state is None:
            return []
        state.shown = r
        row = self._row(r.t, r.agent, None)
        return [row] if row else []

    def _row(self, t: float, agent: str, seq: int | None) -> dict[str, Any] | None:
        state = self.states.get(agent)
        if state is None:
            return None
        truth = self.truth.status(agent)
        shown = state.shown
        operator = shown.status if shown is not None else Status.unknown
        source = shown.source if shown is not None else ""
        gap = _gap(truth, operator, source, agent)
        if gap is None:
            state.gap_since = state.masked_since = None
            state.maskers = []
        else:
            state.gap_since = t if state.gap_since is None else state.gap_since
            if gap == "masked":
                state.masked_since = t if state.masked_since is None else state.masked_since
                if source not in state.maskers:
                    state.maskers.append(source)
        links = sorted(state.links) if len(state.links) <= MAX_LISTED_LINKS else None  # a hub: counted, not sorted
        row = {
            "i": state.index,
            "truth": truth.value,
            "pids": list(state.pids),
            "inc": state.incarnation,
            "nlinks": len(state.links),
            "links": links,
            "shown": operator.value,
            "by": source,
            "shown_t": shown.t if shown is not None else None,
            "gap": gap,
            "gap_since": state.gap_since,
            "masked_since": state.masked_since,
            "maskers": list(state.maskers),
        }
        if self.last.get(agent) == row:
            return None
        self.last[agent] = row
        return {"t": t, "seq": seq, **row}


def _gap(truth: Status, shown: Status, source: str, agent: str) -> str | None:
    if truth == Status.unknown or shown == Status.unknown or truth == shown:
        return None  # before the agent's first process or first dashboard record there is nothing to compare
    if is_agent(source) and source not in (HEARTBEAT, "timeout", agent):
        return "masked"
    if source == HEARTBEAT and truth == Status.down:
        return "lag"
    return "disagree"


def merged(entries: list[LedgerEntry], records: list[DashboardRecord]) -> list[LedgerEntry | DashboardRecord]:
    """Ledger entries and dashboard records in time order; at equal times the ledger's entry comes first (the
    truth changes, then the dashboard hears of it)."""
    out: list[LedgerEntry | DashboardRecord] = []
    i = j = 0
    while i < len(entries) or j < len(records):
        if j >= len(records) or (i < len(entries) and entries[i].t <= records[j].t):
            out.append(entries[i])
            i += 1
        else:
            out.append(records[j])
            j += 1
    return out
