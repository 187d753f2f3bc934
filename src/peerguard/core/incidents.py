"""The platform's incident rule: a failure the dashboard shows pauses the failed agent's linked peers for
`incident_pause_s` (their work waits, or is not credited), so a failure nobody sees costs less than one
seen. A platform rule, not an agent's: both substrates have it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from peerguard.world.agents import Status
from peerguard.world.dashboard import Dashboard
from peerguard.world.scenario import Scenario


@dataclass
class IncidentDashboard(Dashboard):
    """A dashboard that tells the platform when it starts showing an agent down."""

    on_down: Callable[[str], None] = field(default=lambda agent: None, repr=False)

    def update(self, t: float, agent: str, status: Status, source: str) -> None:
        was_down = self.status(agent) == Status.down
        super().update(t, agent, status, source)
        if status == Status.down and not was_down:
            self.on_down(agent)


def dashboard_for(scenario: Scenario) -> Dashboard:
    """The run's dashboard: one that opens incidents when the scenario's platform has them."""
    incentives = scenario.incentives
    return IncidentDashboard() if incentives is not None and incentives.incident_pause_s > 0 else Dashboard()
