"""How a long simulated run is going, told to a hook while it runs (the command prints it on stderr).

The event loop calls `ProgressClock.tick` every few thousand events; only there is the wall clock read, and
only once the run has gone on for `after_s` is the hook told, then about every `every_s`. Nothing here
touches the run: no event, no random draw, no ledger entry, so a run's digest is the same with it or without.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

AFTER_S = 2.0  # a run that ends sooner says nothing while it runs
EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class SimProgress:
    wall_s: float  # real seconds since the run started
    scenario_s: float  # simulated seconds done
    duration_s: float  # simulated seconds in all
    entries: int  # ledger entries so far
    events: int  # events run so far
    left_s: float | None  # estimated real seconds left, at the rate simulated time has gone since it began to

    @property
    def fraction(self) -> float:
        return self.scenario_s / self.duration_s if self.duration_s > 0 else 1.0


SimProgressHook = Callable[[SimProgress], None]


class ProgressClock:
    """Tells `hook` how the run goes once it has taken `after_s` of wall time, then every `every_s`."""

    def __init__(self, hook: SimProgressHook, after_s: float = AFTER_S, every_s: float = EVERY_S) -> None:
        self.hook = hook
        self.every_s = every_s
        self.started = time.monotonic()
        self.next_at = self.started + after_s
        self.told = 0  # how many times the hook was told
        self.since: tuple[float, float] | None = None  # (wall, scenario time) once simulated time has moved

    def tick(self, scenario_s: float, duration_s: float, entries: int, events: int) -> None:
        now = time.monotonic()
        if self.since is None and scenario_s > 0:
            self.since = (now, scenario_s)  # the rate is timed from here: the fleet's start is behind
        if now < self.next_at:
            return
        self.next_at = now + self.every_s
        self.told += 1
        left_s = None
        if self.since is not None and scenario_s > self.since[1]:
            left_s = (now - self.since[0]) * (duration_s - scenario_s) / (scenario_s - self.since[1])
        self.hook(SimProgress(now - self.started, scenario_s, duration_s, entries, events, left_s))
