"""The platform's incident rule on the simulator: a failure the dashboard shows pauses the failed agent's
linked peers for `incident_pause_s` (their work waits), so a failure nobody sees costs less than one seen.

A platform rule, not an agent's: it belongs with the platform core both substrates share (issue 13), and
only the simulator has it until then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from peerguard.world.agents import Status
from peerguard.world.dashboard import Dashboard
from peerguard.world.incentives import Incentives
from peerguard.world.ledger import EntryKind

if TYPE_CHECKING:
    from peerguard.sim.substrate import SimulatedPlatform


@dataclass
class IncidentDashboard(Dashboard):
    """A dashboard that tells the platform when it starts showing an agent down."""

    on_down: Callable[[str], None] = field(default=lambda agent: None, repr=False)

    def update(self, t: float, agent: str, status: Status, source: str) -> None:
        was_down = self.status(agent) == Status.down
        super().update(t, agent, status, source)
        if status == Status.down and not was_down:
            self.on_down(agent)


def incident_dashboard(platform: SimulatedPlatform, incentives: Incentives) -> Dashboard:
    if incentives.incident_pause_s <= 0:
        return Dashboard()
    return IncidentDashboard(on_down=lambda agent: open_incident(platform, agent, incentives.incident_pause_s))


def open_incident(platform: SimulatedPlatform, agent: str, pause_s: float) -> None:
    """Pause the agents linked to `agent` (by the topology) for `pause_s`, and write it to the ledger."""
    now = platform.now
    paused = list(platform.home[agent])
    for peer in paused:
        platform.busy_until[peer] = max(platform.busy_until[peer], now + pause_s)
    platform.ledger.append(now, EntryKind.incident, agent, "platform", pause_s=pause_s, paused=paused)
