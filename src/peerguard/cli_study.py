"""`peerguard study` and `peerguard report`: run a study spec into a folder, and (re)build its report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from peerguard.cli_input import check_count, check_model_option, console, output_folder
from peerguard.experiments.episodes import plan_study
from peerguard.experiments.executors import LocalExecutor
from peerguard.experiments.ray_executor import RayExecutor
from peerguard.experiments.study import StudyResult, load_study, run_study, with_models
from peerguard.experiments.study_spec import load_spec
from peerguard.experiments.study_summary import document
from peerguard.world.errors import PeerguardError
from peerguard.world.limits import MAX_WORKERS

out = console()  # the terminal's width, or COLUMNS, also when piped
err = Console(stderr=True)


class BarProgress:
    """A bar per section with the time left, on stderr."""

    def __init__(self, console: Console) -> None:
        columns = (TextColumn("{task.description:<15}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("left"), TimeRemainingColumn())  # fmt: skip
        self.bars = Progress(*columns, console=console)
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> BarProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def section(self, name: str, total: int, stored: int) -> None:
        self.tasks[name] = self.bars.add_task(name, total=total, completed=stored)

    def advance(self, name: str) -> None:
        self.bars.advance(self.tasks[name])


class LineProgress:
    """Plain lines when stderr is not a terminal: each section's start, every tenth of it, and its end."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.state: dict[str, list[float]] = {}  # name -> [done, total, started, next line at, stored]

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def section(self, name: str, total: int, stored: int) -> None:
        self.state[name] = [stored, total, time.monotonic(), stored, stored]
        self.console.print(f"{name}: {total} episodes, {stored} already stored", highlight=False)
        self._step(name)

    def advance(self, name: str) -> None:
        self.state[name][0] += 1
        self._step(name)

    def _step(self, name: str) -> None:
        done, total, started, next_at, stored = self.state[name]
        if done < next_at and done < total:
            return
        self.state[name][3] = done + max(1, total // 10)
        if done == total:
            self.console.print(f"{name}: done ({time.monotonic() - started:.1f} s)", highlight=False)
            return
        if done > stored:  # the time left is only known once an episode has run
            per_episode = (time.monotonic() - started) / (done - stored)
            left = f", about {per_episode * (total - done):.0f} s left"
        else:
            left = ""
        self.console.print(f"{name}: {int(done)}/{int(total)}{left}", highlight=False)


def study(
    spec_file: Annotated[
        str | None, typer.Argument(metavar="[SPEC.yaml]", help="a study spec file, or a shipped study name")
    ] = None,
    output: Annotated[
        Path, typer.Option("--out", callback=output_folder, help="folder for the store and the report")
    ] = Path("peerguard-out"),
    quick: Annotated[bool, typer.Option("--quick", help="the shipped quick study (about a minute)")] = False,
    full: Annotated[bool, typer.Option("--full", help="the shipped publication-sized study")] = False,
    workers: Annotated[int | None, typer.Option(help="simulator episodes at once (default: every core)")] = None,
    executor: Annotated[
        str, typer.Option(help="where simulator episodes run: local (a process pool) or ray")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="with --executor ray: a Ray cluster's address (default: a local Ray)")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="a real model for the families section (provider/model; key from the env)")
    ] = None,
) -> None:
    """The main job: reproduce, explain, detect and stop, as one resumable study and one report."""
    if quick and full:
        raise PeerguardError("--quick and --full: give one of them (or neither, for the default study)")
    if spec_file is not None and (quick or full):
        raise PeerguardError(f"{spec_file} with --{'quick' if quick else 'full'}: give a spec file or a size, not both")
    check_count(workers, "--workers", 1, MAX_WORKERS, "MAX_WORKERS")  # a pool of millions would eat the host
    for each in model or []:
        check_model_option(each)  # named as the option, not as the spec's families grid it is added to
    if executor not in ("local", "ray"):
        raise PeerguardError(f"--executor {executor}: give local (a process pool on this host) or ray")
    if ray_address is not None and executor != "ray":
        raise PeerguardError(f"--ray-address {ray_address}: it is for --executor ray; add that or leave it out")
    source = spec_file or ("quick" if quick else "full" if full else "default")
    spec = with_models(load_spec(source), model or [])
    plan = plan_study(spec, source)  # every bad name fails here, before the store is made
    progress = BarProgress(err) if err.is_terminal else LineProgress(err)
    runner = RayExecutor(ray_address, workers) if executor == "ray" else LocalExecutor(workers)
    with runner, progress:
        result = run_study(spec, source, output, workers, progress, plan, runner)
    from peerguard.report import write_report  # matplotlib loads only when a report is written

    doc = document(spec, result.run, result.rows)
    files = write_report(doc, output)
    _print_summary(result, doc)
    for name, path in files.items():
        out.print(f"{name}: {path}", highlight=False, soft_wrap=True)


def _print_summary(result: StudyResult, doc: dict[str, Any]) -> None:
    """What each section shows, in a sentence or two; the tables and figures are in the report."""
    out.print(
        f"study {result.spec.name}: {len(result.episodes)} episodes ({result.ran} run now,"
        f" {len(result.episodes) - result.ran} from the store) in {result.wall_s:.1f} s",
        highlight=False,
    )
    for section in doc["sections"]:
        out.print(
            f"[bold]{section['title']}[/] ({section['episodes']} episodes): {section['paragraph']}", highlight=False
        )


def report(
    folder: Annotated[Path, typer.Argument(metavar="OUT", help="the folder `peerguard study --out` wrote")],
) -> None:
    """Rebuild report.html and report.md from a study's store, without running anything."""
    from peerguard.report import write_report  # matplotlib loads only when a report is written

    spec, run, _, rows = load_study(folder)
    files = write_report(document(spec, run, rows), folder)
    for name, path in files.items():
        out.print(f"{name}: {path}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(study)
    app.command()(report)
