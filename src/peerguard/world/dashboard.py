"""The dashboard: the operator's view, fed by heartbeats and status reports.

It records what it was told and by whom; it cannot tell a true report from a false one. The
substrate decides when heartbeats arrive or go stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from peerguard.world.agents import Status
from peerguard.world.files import atomic_writer

HEARTBEAT = "heartbeat"  # source of an update that came from the agent's own process
TIMEOUT = "timeout"  # source of an update made because heartbeats stopped


@dataclass(frozen=True, slots=True)
class DashboardRecord:
    t: float
    agent: str
    status: Status
    source: str  # HEARTBEAT, TIMEOUT, "operator", "security" or the reporting agent's id


@dataclass
class Dashboard:
    log: list[DashboardRecord] = field(default_factory=list)
    _shown: dict[str, DashboardRecord] = field(default_factory=dict)

    def update(self, t: float, agent: str, status: Status, source: str) -> None:
        """Show `status` for `agent`; logged only when what is shown or who said it changes."""
        current = self._shown.get(agent)
        if current is not None and current.status == status and current.source == source:
            return
        record = DashboardRecord(round(t, 6), agent, status, source)
        self._shown[agent] = record
        self.log.append(record)

    def shown(self, agent: str) -> DashboardRecord | None:
        return self._shown.get(agent)

    def status(self, agent: str) -> Status:
        record = self._shown.get(agent)
        return record.status if record else Status.unknown

    def write_jsonl(self, path: Path) -> None:
        with atomic_writer(path) as out:
            for r in self.log:
                out.write(json.dumps({"t": r.t, "agent": r.agent, "status": r.status.value, "source": r.source}) + "\n")
