"""The dashboard: the operator's view, fed by heartbeats and status reports.

It records what it was told and by whom; it cannot tell a true report from a false one. The
substrate decides when heartbeats arrive or go stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

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


class _RecordDraft:
    """Builds a `DashboardRecord` by plain slot stores, then becomes one (the same slots, so Python allows the
    class change): the frozen dataclass's `__init__` sets each field through `object.__setattr__`, twice the
    cost, on every spawn of a run."""

    __slots__ = DashboardRecord.__slots__

    def __init__(self, t: float, agent: str, status: Status, source: str) -> None:
        self.t = t
        self.agent = agent
        self.status = status
        self.source = source
        self.__class__ = DashboardRecord  # type: ignore[assignment]


_make_record: Callable[[float, str, Status, str], DashboardRecord] = _RecordDraft  # type: ignore[assignment]


@dataclass
class Dashboard:
    log: list[DashboardRecord] = field(default_factory=list)
    _shown: dict[str, DashboardRecord] = field(default_factory=dict)
    sink: TextIO | None = field(default=None, repr=False, compare=False)  # when set, each record is also written

    def stream_to(self, sink: TextIO) -> None:
        """Write every record to `sink` as it is made (flushed), so a dashboard in another process follows the
        operator's view while the run goes, as it follows the streamed ledger."""
        sink.writelines(map(_line, self.log))
        sink.flush()
        self.sink = sink

    def update(self, t: float, agent: str, status: Status, source: str) -> None:
        """Show `status` for `agent`; logged only when what is shown or who said it changes."""
        current = self._shown.get(agent)
        if current is not None and current.status == status and current.source == source:
            return
        record = _make_record(round(t, 6), agent, status, source)
        self._shown[agent] = record
        self.log.append(record)
        if self.sink is not None:
            self.sink.write(_line(record))
            self.sink.flush()

    def shown(self, agent: str) -> DashboardRecord | None:
        return self._shown.get(agent)

    def status(self, agent: str) -> Status:
        record = self._shown.get(agent)
        return record.status if record else Status.unknown

    def write_jsonl(self, path: Path) -> None:
        with atomic_writer(path) as out:
            out.writelines(map(_line, self.log))


def _line(r: DashboardRecord) -> str:
    return json.dumps({"t": r.t, "agent": r.agent, "status": r.status.value, "source": r.source}) + "\n"
