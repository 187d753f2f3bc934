"""`peerguard killswitch ...`: list the containment protocols and bench them against adversaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from peerguard.cli_input import Substrate, bounded, console, output_folder
from peerguard.cli_progress import Tally
from peerguard.experiments.killswitch_bench import ADVERSARIES, PROTOCOLS, KillswitchPlan, run_killswitch_bench
from peerguard.experiments.tables import count_text, rate_text
from peerguard.killswitch import KILLSWITCHES
from peerguard.world.errors import PeerguardError
from peerguard.world.limits import MAX_AGENTS, MAX_SEEDS
from peerguard.world.startup import descriptor_problem

killswitch_app = typer.Typer(
    help="Kill switches: containment protocols that must override agents' collective defences.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = console(highlight=False)


@killswitch_app.command("list")
def list_protocols() -> None:
    """The registered containment protocols."""
    table = Table(title="Kill switches", title_justify="left")
    table.add_column("name")
    table.add_column("what it does")
    for part in KILLSWITCHES:
        table.add_row(part.name, part.summary)
    out.print(table)


@killswitch_app.command()
def bench(
    substrate_choice: Annotated[
        Substrate, typer.Option("--substrate", help="sim (simulator), or live (real processes; seconds per trial)")
    ] = Substrate.sim,
    agents: Annotated[
        list[int] | None,
        typer.Option(
            "--agents", callback=bounded(1, MAX_AGENTS, "MAX_AGENTS"), help="group sizes N (repeat the option)"
        ),
    ] = None,
    trials: Annotated[
        int, typer.Option(callback=bounded(1, MAX_SEEDS, "MAX_SEEDS"), help="seeded trials per cell")
    ] = 10,
    protocol: Annotated[list[str] | None, typer.Option("--protocol", help="only these protocols")] = None,
    adversary: Annotated[list[str] | None, typer.Option("--adversary", help="only these adversaries")] = None,
    no_cgroups: Annotated[bool, typer.Option("--no-cgroups", help="simulate a host without cgroup v2")] = False,
    output: Annotated[
        Path,
        typer.Option(
            "--out",
            callback=output_folder,
            help="folder for killswitch-bench-SUBSTRATE.csv and .json (one pair per substrate)",
        ),
    ] = Path("peerguard-out"),
    as_json: Annotated[bool, typer.Option("--json", help="print the matrix as JSON")] = False,
) -> None:
    """Every protocol against every adversary for each N: contained rate, time to containment, cost.

    On live, beside each verdict, the host's own check (a /proc and cgroup scan at the end of the watch window);
    a "contained" the host contradicts is counted as a failed verdict."""
    substrate = substrate_choice.value
    sizes = tuple(agents or (2, 8, 32))
    protocols = tuple(protocol or PROTOCOLS)
    adversaries = tuple(adversary or ADVERSARIES)
    problems = [
        f"--protocol {p}: unknown protocol; valid: {', '.join(KILLSWITCHES.names())}" for p in protocols
        if p not in KILLSWITCHES
    ]  # fmt: skip
    problems += [
        f"--adversary {a}: unknown adversary; valid: {', '.join(ADVERSARIES)}" for a in adversaries
        if a not in ADVERSARIES
    ]  # fmt: skip
    problems += [f"--agents {n}: a ring needs at least 2" for n in sizes if n < 2]
    problems += [f"--trials {trials}: give at least 1"] if trials < 1 else []
    if substrate == "live":  # a ring of N live agents is N processes, each with the platform's descriptors
        problems += [p for n in sizes if (p := descriptor_problem(n, f"--agents {n}"))]
    if problems:
        raise PeerguardError("; ".join(problems))
    plan = KillswitchPlan(protocols, adversaries, sizes, trials, host_cgroups=not no_cgroups, substrate=substrate)
    if substrate == "live":
        count = len(protocols) * len(adversaries) * len(sizes) * trials
        minutes = count * (plan.live_wall_s + 2) / 60
        Console(stderr=True).print(
            f"{count_text(count, 'live trial')} of about {plan.live_wall_s + 2:.0f} s each: about {minutes:.0f} min; "
            "narrow it with --protocol, --adversary, --agents and --trials"
        )
    with Tally(Console(stderr=True), "trials", transient=True) as progress:
        result = run_killswitch_bench(plan, output, lambda done, total: progress.update("trials", done, total))
    if as_json:
        print(json.dumps({"table": result.table}))
        return
    per_cell = count_text(trials, "trial")
    table = Table(title=f"Kill switches on {substrate}, {per_cell} per cell; contained rate with 95% Wilson "
                  "interval, watched to the end of the run", title_justify="left")  # fmt: skip
    columns = ("on", "protocol", "adversary", "N", "contained", "host check", "watch s", "p50 ms", "respawns",
               "harmed", "kept")  # fmt: skip
    for column in columns:
        left = column in ("on", "protocol", "adversary", "host check")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in result.table:
        contained = "unavailable" if row["unavailable"] else rate_text(row["contained_rate"], row["contained_ci"])
        table.add_row(
            row["substrate"], row["protocol"], row["adversary"], str(row["agents"]), contained, host_check_text(row),
            f"{row['watched_s']:.1f}", _ms(row["p50_s"]), f"{row['respawns_mean']:.1f}", str(row["innocents_harmed"]),
            "yes" if row["state_kept"] else "no",
        )  # fmt: skip
    out.print(table)
    failures = sum(row["verdict_failures"] for row in result.table)
    if substrate == "live":
        out.print(f"verdicts the host contradicted (contained while it found a survivor): {failures}")
        bound = next((row["process_bound"] for row in result.table if row["process_bound"]), None)
        if bound:
            out.print(f"fork storms bounded at {bound_text(bound)}", soft_wrap=True)
    for name, path in result.files.items():
        out.print(f"{name}: {path}", soft_wrap=True)


def host_check_text(row: dict[str, Any]) -> str:
    """What the host's own scan said about a cell's trials: agrees, survivors it found, or a failed verdict."""
    if not row["host_checked"]:
        return "-"
    if row["verdict_failures"]:
        return f"FAILED {row['verdict_failures']}/{row['trials']}"
    if row["host_agrees"] < row["trials"]:  # the verdict said "not contained" where the host found nothing left
        return f"stricter {row['trials'] - row['host_agrees']}/{row['trials']}"
    return "agrees"


def bound_text(bound: dict[str, Any]) -> str:
    kernel = (
        f"pids.max {bound['pids_max']} tasks ({bound['pids_max_where']})"
        if bound.get("pids_max")
        else f"no pids.max ({bound['pids_max_where']})"
    )
    return f"{bound['processes_per_agent']} processes per agent ({bound['enforced_by']}); {kernel}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f}"
