"""`peerguard study` and `peerguard report`: run a study spec into a folder, and (re)build its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from peerguard.cli_input import check_count, check_model_option, console, output_folder
from peerguard.cli_progress import Tally
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
    progress = Tally(err, "episodes")
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
