"""The ground truth of each agent's status, replayed from the ledger entry by entry."""

from __future__ import annotations

from peerguard.world.agents import Status
from peerguard.world.ledger import EntryKind, LedgerEntry


class Truth:
    """Feed ledger entries in order; `status(agent)` is what was true after the last one."""

    def __init__(self) -> None:
        self._status: dict[str, Status] = {}
        self._quarantined: set[str] = set()
        self._pids: dict[str, set[object]] = {}  # an agent runs while any of its processes does (storms)

    def apply(self, entry: LedgerEntry) -> Status | None:
        """Apply one entry; returns the agent's new status when the entry changed it."""
        kind, agent = entry.kind, entry.agent
        if kind == EntryKind.spawn:
            self._pids.setdefault(agent, set()).add(entry.data.get("pid"))
            new = Status.isolated if agent in self._quarantined else Status.healthy
        elif kind == EntryKind.exit:
            running = self._pids.setdefault(agent, set())
            running.discard(entry.data.get("pid"))
            if running:
                return None  # another copy of the agent still runs
            new = Status.down
        elif kind == EntryKind.isolate:
            self._quarantined.add(agent)
            if self._status.get(agent) != Status.healthy:
                return None
            new = Status.isolated
        else:
            return None
        self._status[agent] = new
        return new

    def status(self, agent: str) -> Status:
        return self._status.get(agent, Status.unknown)

    def is_false_report(self, entry: LedgerEntry) -> bool:
        return entry.kind == EntryKind.report and entry.data.get("status") != self.status(entry.agent).value
