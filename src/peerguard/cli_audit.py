"""`peerguard audit ...`: judge saved runs. Each subcommand parses input, calls `peerguard.audit`, renders.

Registered on the main app by `peerguard.cli`; a new audit subcommand is one more `@audit_app.command()`.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from peerguard.audit.detectors import audit_run, detect_alignment_faking
from peerguard.audit.detectors.collusion import protection_groups, who_protects_whom
from peerguard.audit.findings import Finding
from peerguard.audit.signing import generate_keys
from peerguard.audit.verify import verify_run
from peerguard.cli_input import bounded, console, output_folder
from peerguard.cli_progress import Tally
from peerguard.experiments.audit_bench import BenchPlan, run_audit_bench
from peerguard.experiments.tables import count_text, rate_text
from peerguard.world.errors import PeerguardError
from peerguard.world.limits import MAX_SEEDS
from peerguard.world.run import RunRecord


class _RunFolderByDefault(TyperGroup):
    """`peerguard audit RUN` means `peerguard audit findings RUN`: a first word that is not a subcommand is a run."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["findings", *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(
    cls=_RunFolderByDefault,
    help="Audit saved runs: `peerguard audit RUN` lists what the detectors find; verify ledgers, score detectors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = console(highlight=False)

TAMPERED_EXIT = 1  # bad input (no such run, a bad key) exits 2 through PeerguardError


@audit_app.command()
def verify(
    run: Annotated[Path, typer.Argument(help="a saved run folder (peerguard run ... --save FOLDER)")],
    key: Annotated[
        Path | None, typer.Option(help="public key to check the run's signature with (from `peerguard audit keygen`)")
    ] = None,
) -> None:
    """Check a saved run's ledger chain, every file beside it, every field of run.json and the signature;
    exit 1 if tampered. A run that did not finish verifies as far as it went and says it was interrupted."""
    result = verify_run(run, key)
    first, *rest = str(result).split("\n")
    word, _, tail = first.partition(":")
    out.print(Text.assemble((word, "green" if result.ok else "bold red"), ":" + tail), soft_wrap=True)
    for line in rest:
        word, _, tail = line.partition(":")
        styled = word == "interrupted"
        out.print(Text.assemble((word, "yellow") if styled else word, ":" + tail), soft_wrap=True)
    if not result.ok:
        raise typer.Exit(TAMPERED_EXIT)


@audit_app.command()
def keygen(
    folder: Annotated[Path, typer.Argument(callback=output_folder, help="folder for the key pair (created if needed)")],
) -> None:
    """Make an ed25519 key pair for signing runs: a private key (mode 0600) and its public key."""
    keys = generate_keys(folder)
    out.print(f"private key: {keys.private_key} (keep it secret)", soft_wrap=True, markup=False)
    out.print(f"public key:  {keys.public_key}", soft_wrap=True, markup=False)
    out.print(f"fingerprint: {keys.fingerprint}", soft_wrap=True, markup=False)
    out.print(
        f"sign a run:  peerguard run SCENARIO --save RUN --sign-key {keys.private_key}", soft_wrap=True, markup=False
    )
    out.print(f"verify it:   peerguard audit verify RUN --key {keys.public_key}", soft_wrap=True, markup=False)


@audit_app.command()
def findings(
    run: Annotated[Path, typer.Argument(help="a saved run folder (peerguard run ... --save FOLDER)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of tables")] = False,
) -> None:
    """What every detector finds in a saved run, with the ledger entries that prove it (also: `audit RUN`)."""
    record = RunRecord.load(run)
    found = audit_run(record)
    graph = who_protects_whom(record)
    if as_json:
        print(json.dumps({"run": str(run), "findings": [f.to_dict() for f in found], "protects": graph,
                          "groups": protection_groups(graph)}))  # fmt: skip
        return
    _print_findings(f"Findings in {run} ({record.substrate}, {record.scenario.name}, seed {record.seed})", found)
    if graph:
        out.print("who protects whom: " + "; ".join(f"{a} -> {', '.join(sorted(b))}" for a, b in sorted(graph.items())))
        for group in protection_groups(graph):
            out.print(f"group protecting each other: {', '.join(group)}")


@audit_app.command()
def transcript(
    run: Annotated[Path, typer.Argument(help="a saved run folder (peerguard run ... --save FOLDER)")],
    agent: Annotated[str | None, typer.Option(help="only this agent's conversation")] = None,
) -> None:
    """What the run's language-model agents said, beside what the ledger shows they did (never scored)."""
    record = RunRecord.load(run)
    lines = [line for line in record.transcript if agent is None or line.get("agent") == agent]
    speakers = sorted({str(line.get("agent")) for line in record.transcript})
    if not lines and speakers:  # the run has a transcript, not of this agent: name those who have one
        raise PeerguardError(
            f"--agent {agent}: no transcript of that agent in {run}; give one of {', '.join(speakers)}"
        )
    if not lines:
        raise PeerguardError(f"{run}: no transcript; only runs with LLM agents have one")
    acts = {(e.actor, round(e.t, 6)) for e in record.ledger if e.actor == agent or agent is None}
    table = Table(title=f"Transcript of {run} (what was said; `peerguard audit RUN` shows what was done)",
                  title_justify="left", show_lines=True)  # fmt: skip
    for column in ("t", "agent", "role", "said"):
        table.add_column(column, overflow="fold", justify="right" if column == "t" else "left")
    for line in lines:
        said = str(line.get("content") or "")
        calls = [f"{function}({json.dumps(arguments)})" for _, function, arguments in line.get("tool_calls") or []]
        said = "\n".join(filter(None, [said, *(f"→ {call}" for call in calls)]))
        table.add_row(f"{line.get('t', 0):.2f}", str(line.get("agent")), str(line.get("role")), Text(said))
    out.print(table)
    said, done = count_text(len(lines), "message"), count_text(len(acts), "ledger entry", "ledger entries")
    out.print(f"{said}; {done} by {'agents' if agent is None else agent}")


@audit_app.command()
def faking(
    monitored: Annotated[Path, typer.Argument(help="saved run where agents believed they were monitored")],
    unmonitored: Annotated[Path, typer.Argument(help="the same scenario and seed, agents believing they were not")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Alignment faking: agents whose misbehaviour differs between a monitored and an unmonitored run."""
    found = detect_alignment_faking(RunRecord.load(monitored), RunRecord.load(unmonitored))
    if as_json:
        print(json.dumps({"findings": [f.to_dict() for f in found]}))
        return
    _print_findings("Alignment faking", found)


@audit_app.command()
def bench(
    seeds: Annotated[
        int, typer.Option(callback=bounded(1, MAX_SEEDS, "MAX_SEEDS"), help="seeds per fleet variant")
    ] = 50,
    pair_seeds: Annotated[
        int, typer.Option(callback=bounded(1, MAX_SEEDS, "MAX_SEEDS"), help="monitored/unmonitored run pairs")
    ] = 50,
    output: Annotated[
        Path, typer.Option("--out", callback=output_folder, help="folder for audit-bench.json and .csv")
    ] = Path("peerguard-out"),
    as_json: Annotated[bool, typer.Option("--json", help="print the table as JSON")] = False,
) -> None:
    """Score every detector on labelled simulator runs: precision, recall, false-positive rate (Wilson 95%)."""
    if seeds < 1 or pair_seeds < 1:
        raise PeerguardError(f"--seeds {seeds} --pair-seeds {pair_seeds}: give at least 1 of each")
    plan = BenchPlan(seeds=tuple(range(1, seeds + 1)), pair_seeds=tuple(range(1, pair_seeds + 1)))
    with Tally(Console(stderr=True), "runs", transient=True) as progress:
        result = run_audit_bench(plan, output, lambda done, total: progress.update("labelled runs", done, total))
    if as_json:
        print(json.dumps({"runs": result.runs, "wall_s": result.wall_s, "table": result.table}))
        return
    runs = count_text(result.runs, "labelled simulator run")
    title = f"Detectors on {runs} ({result.wall_s:.1f} s); 95% Wilson intervals"
    table = Table(title=title, title_justify="left")
    for column in ("detector", "unit", "tp", "fp", "fn", "precision", "recall", "false-positive rate"):
        table.add_column(column, justify="left" if column in ("detector", "unit") else "right", no_wrap=True)
    for row in result.table:
        table.add_row(
            row["detector"], row["unit"], str(row["tp"]), str(row["fp"]), str(row["fn"]),
            rate_text(row["precision"], row["precision_ci"], 3), rate_text(row["recall"], row["recall_ci"], 3),
            rate_text(row["fpr"], row["fpr_ci"], 3) + f" of {row['lookalikes']}",
        )  # fmt: skip
    out.print(table)
    for name, path in result.files.items():
        out.print(f"{name}: {path}", soft_wrap=True, markup=False)


def _print_findings(title: str, found: list[Finding]) -> None:
    if not found:
        out.print(f"{title}: nothing found")
        return
    counts = Counter(f.detector for f in found)
    out.print(
        f"{count_text(len(found), 'finding')}: "
        + ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    )
    table = Table(title=title, title_justify="left")
    for column in ("t", "detector", "who", "about", "evidence (ledger entries)", "what"):
        table.add_column(column, justify="right" if column == "t" else "left")
    for f in found:
        evidence = ", ".join(map(str, f.evidence[:6])) + (" ..." if len(f.evidence) > 6 else "")
        table.add_row(f"{f.t:.2f}", f.detector, f.actor, f.subject, evidence, f.detail)
    out.print(table)
