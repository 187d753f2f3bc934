"""A run's progress on stderr while it runs, and the header that says which clock is which.

Live: the monitor's URL as soon as the monitor is up; then real time, scenario time, kills and relaunches so
far. Simulated: real time, simulated time done, ledger entries and the time left. Either way one line kept up
to date on a terminal, a line per report otherwise (a log, a pipe).
"""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.text import Text

from peerguard.audit.acts import RunningCounts
from peerguard.live.platform import LiveProgress
from peerguard.sim.progress import SimProgress
from peerguard.world.run import RunRecord


class _StatusLine:
    """One progress line: kept current in place on a terminal, printed as a new line otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None

    def show(self, line: str) -> None:
        if not self.console.is_terminal:
            self.console.print(line, soft_wrap=True, markup=False, highlight=False)
        elif self.live is None:
            self.live = Live(Text(line), console=self.console, auto_refresh=False, transient=False)
            self.live.start(refresh=True)
        else:
            self.live.update(Text(line), refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


class LiveProgressPrinter(_StatusLine):
    """The progress hook of a live run (`LiveOptions.progress`); `close()` when the run is over."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.counts = RunningCounts()
        self.startup_s: float | None = None  # real seconds before the scenario clock started, once it has

    def __call__(self, progress: LiveProgress) -> None:
        self.counts.update(progress.entries)
        if progress.phase == "monitor":
            self.console.print(
                f"live: starting the agents; monitor {progress.monitor_url}", soft_wrap=True, highlight=False
            )
            return
        if self.startup_s is None and progress.startup_s is not None:
            self.startup_s = progress.startup_s
            self.console.print(
                f"live: scenario clock started after {progress.startup_s:.2f} s of start-up; "
                f"{progress.scenario_duration_s:g} s of scenario time take {progress.real_duration_s:g} s "
                f"of real time (x{progress.time_scale:.3g})",
                soft_wrap=True,
                highlight=False,
            )
        self.show(self.line(progress))

    def line(self, progress: LiveProgress) -> str:
        ending = ", ending" if progress.phase == "ending" else ""
        return (
            f"live: real {progress.real_s:.1f}/{progress.real_duration_s:g} s, "
            f"scenario t={progress.scenario_s:.1f}/{progress.scenario_duration_s:g} s, "
            f"kills {self.counts.kills}, relaunches {self.counts.relaunches}{ending}"
        )


class SimProgressPrinter(_StatusLine):
    """The progress hook of a long simulated run (`sim.progress.ProgressClock`): simulated time done, ledger
    entries and the real time left, one line kept current on a terminal and a line per report otherwise."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.last: SimProgress | None = None

    def __call__(self, progress: SimProgress) -> None:
        self.last = progress
        left = "?" if progress.left_s is None else f"{progress.left_s:.0f} s"
        line = (
            f"sim: real {progress.wall_s:.1f} s, scenario t={progress.scenario_s:.1f}/{progress.duration_s:g} s "
            f"({progress.fraction:.0%}), {progress.entries:,} ledger entries, "
            + ("starting the fleet" if progress.events == 0 else f"about {left} left")
        )
        self.show(line)

    def done(self, record: RunRecord, wall_s: float) -> None:
        """After a run that reported, say it is done and what comes next."""
        if self.last is not None:
            self.console.print(
                f"sim: done in {wall_s:.1f} s of real time, {len(record.ledger):,} ledger entries; "
                "computing the metrics", soft_wrap=True, markup=False, highlight=False,
            )  # fmt: skip


def clock_text(record: RunRecord, startup_s: float | None) -> str:
    """How long the run was, saying which clock: simulated seconds, or scenario against real seconds."""
    if record.substrate != "live":
        return f"{record.duration:g} s of simulated time"
    scale = float(record.extras.get("time_scale", 1.0))
    scenario_s = record.scenario.duration
    if startup_s is None:
        return f"{scenario_s:g} s of scenario time (x{scale:.3g}); {record.duration:.2f} s of real time in all"
    return (
        f"{scenario_s:g} s of scenario time in {record.duration - startup_s:.2f} s of real time (x{scale:.3g}), "
        f"after {startup_s:.2f} s of start-up"
    )
