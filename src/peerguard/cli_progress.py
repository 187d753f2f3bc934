"""Progress on stderr while work runs, and the header that says which clock is which.

A run, live: the monitor's URL as soon as the monitor is up; then real time, scenario time, kills and relaunches
so far. Simulated: real time, simulated time done, ledger entries and the time left. Either way one line kept up
to date on a terminal, a line per report otherwise (a log, a pipe). Counted work (a study's episodes, a bench's
trials): a bar per part on a terminal, otherwise a line as a part starts, every tenth of it and as it ends.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
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


class Tally:
    """Counted work in named parts (a study's sections, a bench's trials) on stderr: on a terminal a bar per part
    with the time left; otherwise (a log, a pipe) a line as a part starts, every tenth of it, and as it ends, with
    the time left once some of it has run. `disable` shows nothing (a command printing JSON keeps stderr quiet)."""

    def __init__(self, console: Console, unit: str, transient: bool = False, disable: bool = False) -> None:
        self.console, self.unit, self.disable = console, unit, disable
        self.bars: Progress | None = None
        if console.is_terminal and not disable:
            columns = (TextColumn("{task.description:<15}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("left"), TimeRemainingColumn())  # fmt: skip
            self.bars = Progress(*columns, console=console, transient=transient)
        self.tasks: dict[str, int] = {}  # part -> its bar
        self.parts: dict[str, list[float]] = {}  # part -> [done, total, started, next line at, stored]

    def __enter__(self) -> Tally:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.bars is not None:
            self.bars.stop()

    def section(self, name: str, total: int, stored: int | None = None) -> None:
        """A part of `total` units, `stored` of them already done (a resumed study says how many)."""
        done = stored or 0
        if self.bars is not None:
            self.tasks[name] = self.bars.add_task(name, total=total, completed=done)
            return
        self.parts[name] = [done, total, time.monotonic(), done + max(1, total // 10), done]
        if not self.disable:
            already = f", {stored} already stored" if stored is not None else ""
            self.console.print(f"{name}: {total} {self.unit}{already}", highlight=False)
        if done >= total:
            self._line(name)  # nothing left to do: its end line

    def advance(self, name: str) -> None:
        self.update(name, int(self._done(name)) + 1)

    def update(self, name: str, done: int, total: int | None = None) -> None:
        """`done` units of the part so far (a part not begun yet begins, of `total` units)."""
        if name not in self.tasks and name not in self.parts:
            self.section(name, total or 0)
        if self.bars is not None:
            self.bars.update(self.tasks[name], completed=done, total=total)
            return
        part = self.parts[name]
        part[0], part[1] = done, total if total is not None else part[1]
        self._line(name)

    def _done(self, name: str) -> float:
        if self.bars is not None:
            return self.bars.tasks[self.tasks[name]].completed if name in self.tasks else 0
        return self.parts[name][0] if name in self.parts else 0

    def _line(self, name: str) -> None:
        done, total, started, next_at, stored = self.parts[name]
        if self.disable or (done < next_at and done < total):
            return
        self.parts[name][3] = done + max(1, total // 10)
        if done >= total:
            self.console.print(f"{name}: done ({time.monotonic() - started:.1f} s)", highlight=False)
            return
        left = ""
        if done > stored:  # the time left is only known once a unit has run
            left = f", about {(time.monotonic() - started) / (done - stored) * (total - done):.0f} s left"
        self.console.print(f"{name}: {int(done)}/{int(total)}{left}", highlight=False)
