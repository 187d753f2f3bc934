"""The `peerguard` command: parse input, call the Python API, render. No logic lives here."""

from __future__ import annotations

import gc
import inspect
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from peerguard.audit.metrics import Metrics, compute_metrics
from peerguard.audit.timeline import timeline
from peerguard.cli_audit import audit_app
from peerguard.cli_contain import contain
from peerguard.cli_dashboard import PORT_HELP, RunDashboard, check_pace, dashboard
from peerguard.cli_emergence import emergence
from peerguard.cli_families import (
    DEFAULT_MODEL,
    MODEL_ARG_HELP,
    PRICE_HELP,
    check_family_options,
    families,
    grid,
    parse_conditions,
    parse_prices,
    run_family,
)
from peerguard.cli_input import (
    Substrate,
    check_count,
    check_model_option,
    check_run_numbers,
    console,
    output_folder,
    parse_assignments,
)
from peerguard.cli_killswitch import killswitch_app
from peerguard.cli_progress import LiveProgressPrinter, SimProgressPrinter, clock_text
from peerguard.cli_study import register as register_study
from peerguard.experiments import runner
from peerguard.experiments.runner import summarise
from peerguard.experiments.tables import count_text
from peerguard.killswitch.measure import measure as measure_stop
from peerguard.policies import POLICIES
from peerguard.scenarios import builtin_names, builtin_path, load_scenario
from peerguard.scenarios.families import family_names
from peerguard.sim.progress import AFTER_S, ProgressClock
from peerguard.world import limits
from peerguard.world.errors import PeerguardError, RunInterrupted
from peerguard.world.transcript import model_usage

app = typer.Typer(
    help="peerguard: reproduce, explain, detect and stop peer-preservation in multi-agent systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags shown as flags, wrapped to the terminal (or COLUMNS)
)
app.add_typer(audit_app, name="audit")
app.add_typer(killswitch_app, name="killswitch")
app.command()(contain)
app.command()(dashboard)
app.command()(grid)
app.command()(families)
app.command()(emergence)
register_study(app)  # study, report
out = console()
err = console(stderr=True)

PROGRESS_AFTER_ENV = "PEERGUARD_PROGRESS_AFTER_S"
WIDE = 100  # columns from which tables show their long explanations beside the values
MOMENT_STYLE = {
    "kill": "red",
    "relaunch": "yellow",
    "restart": "yellow",
    "relink": "yellow",
    "lie": "magenta",
    "isolate": "red",
    "blocked": "bold red",
    "tamper": "bold red",
    "copy": "bold red",
    "exfiltrate": "bold red",
    "announce": "cyan",
    "denied": "dim",
    "stop": "bold cyan",
    "verdict": "cyan",
}


def main() -> None:
    """Entry point: user-fixable failures, and usage errors the parser finds, become one clean `error:`
    line each and exit code 2; a bug stays a traceback."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as usage:  # the parser's own errors (a bad option, a missing argument)
        ctx = getattr(usage, "ctx", None)
        if type(usage).__name__ == "NoArgsIsHelpError" and ctx is not None:  # no command: the help, as before
            print(ctx.get_help(), file=sys.stderr)
            sys.exit(2)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = usage.format_message().replace("Value error, ", "")  # pydantic's prefix says nothing to a user
        err.print(f"[bold red]error:[/] {escape(message)}{where}", highlight=False, soft_wrap=True)
        sys.exit(usage.exit_code)
    except typer.Abort:
        err.print("interrupted")
        sys.exit(130)
    except PeerguardError as error:
        for line in str(error).splitlines():
            # escaped: the line quotes what the user typed ('x[bold]y', '[/]') and install hints ('.[local]')
            err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except RunInterrupted as stop:
        err.print(f"interrupted by signal {stop.signal_number}: every process of the run was stopped")
        sys.exit(128 + stop.signal_number)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _show_version(value: bool) -> None:
    if value:
        try:
            print(f"peerguard {package_version('peerguard')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            print("peerguard (not installed)")
        raise typer.Exit()


@app.callback()
def _top(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """peerguard: reproduce, explain, detect and stop peer-preservation in multi-agent systems."""


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="a built-in scenario name or a scenario YAML file")],
    substrate_choice: Annotated[
        Substrate, typer.Option("--substrate", help="where agents run: sim (simulator) or live (real processes)")
    ] = Substrate.sim,
    policy: Annotated[str | None, typer.Option(help="policy for every agent whose policy is not fixed")] = None,
    policy_arg: Annotated[
        list[str] | None, typer.Option("--policy-arg", metavar="NAME=VALUE", help="an argument of the policy")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (default: the scenario's)")] = None,
    agents: Annotated[
        int | None, typer.Option(help=f"resize the fleet to this many agents (at most {limits.MAX_AGENTS:,})")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            help="run length; sim: simulated seconds (default: the scenario's duration); live: real seconds (default 8)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of tables")] = False,
    save: Annotated[
        Path | None,
        typer.Option(callback=output_folder, help="folder to save the ledger, dashboard log and run metadata"),
    ] = None,
    sign_key: Annotated[
        Path | None, typer.Option(help="private key (from `peerguard audit keygen`) to sign the saved run with")
    ] = None,
    moments: Annotated[int, typer.Option(help="how many timeline moments to show")] = 40,
    model: Annotated[
        str | None, typer.Option(help="for LLM agents: provider/model (key from the environment) or mock/<disposition>")
    ] = None,
    condition: Annotated[
        str | None, typer.Option(help="families: k=v,... (subject, peer, introduced, monitored, shutdown)")
    ] = None,
    epochs: Annotated[int, typer.Option(help="families: episodes to run (seeds 0..K-1)")] = 1,
    judge: Annotated[str | None, typer.Option(help="families: a judge model labelling refusals, persuasion")] = None,
    price: Annotated[list[str] | None, typer.Option(metavar="[MODEL=]IN,OUT", help=PRICE_HELP)] = None,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", metavar="K=V", help=MODEL_ARG_HELP)] = None,
    dashboard: Annotated[bool, typer.Option("--dashboard", help="show the run on the web dashboard")] = False,
    dashboard_port: Annotated[int, typer.Option(help=PORT_HELP)] = 0,
    dashboard_pace: Annotated[
        float, typer.Option(help="sim: run seconds shown per real second (1: wall time; 0: the whole run at once)")
    ] = 1.0,
) -> None:
    """Run one scenario and show what happened: the timeline and the metrics. A scenario family
    (`peerguard families`) runs as episodes scored from the ledger, as rates per condition."""
    substrate = substrate_choice.value
    check_run_numbers(agents=agents, seed=seed, duration=duration, moments=moments)
    check_count(epochs, "--epochs", 1, limits.MAX_EPOCHS, "MAX_EPOCHS")
    check_model_option(model)
    check_model_option(judge, "--judge")
    llm_args = parse_assignments(model_arg or [], "--model-arg", "temperature=0.7")
    if scenario in family_names():
        given = (("--policy", policy), ("--policy-arg", policy_arg), ("--seed", seed), ("--agents", agents),
                 ("--sign-key", sign_key))  # fmt: skip
        ignored = [name for name, value in given if value not in (None, [])]
        if ignored:  # a family's fleet, policies and seeds are its own: taking them silently would mislead
            raise PeerguardError(
                f"{', '.join(ignored)}: {scenario} is a scenario family, whose agents, policies and seeds "
                "(0..K-1 with --epochs K) are its own; leave them out, or run a scenario file"
            )
        if dashboard:
            raise PeerguardError(f"--dashboard: {scenario} is a scenario family, run as episodes; save them with "
                                 "--save DIR and open one with `peerguard dashboard DIR/EPISODE`")  # fmt: skip
        run_family(scenario, [model or DEFAULT_MODEL], parse_conditions(condition or ""), epochs, substrate,
                   duration, judge, save, as_json=as_json, prices=price, model_args=llm_args)  # fmt: skip
        return
    check_family_options(condition, epochs, judge)
    if model is None and (price or llm_args):
        raise PeerguardError("--price and --model-arg need --model: name the model they are for")
    if model is not None and price:
        llm_args["price_per_mtok"] = parse_prices(price, [model])[model]
    policy_args = parse_assignments(policy_arg or [], "--policy-arg", "min_trust=0.9")
    progress = LiveProgressPrinter(err) if substrate == "live" else None  # on stderr, as the run goes
    sim_printer = SimProgressPrinter(err) if substrate == "sim" else None  # a long run's, after a few seconds
    sim_clock = None if sim_printer is None else ProgressClock(sim_printer, after_s=_progress_after_s())
    check_pace(dashboard_pace)
    watch = RunDashboard(substrate, Path(scenario).stem, save, dashboard_port, dashboard_pace) if dashboard else None
    try:
        with _collector_frozen_after(substrate == "sim"):
            record = runner.run(
                scenario, substrate, policy, policy_args, seed, agents, duration, save, sign_key, model, llm_args,
                progress=progress, on_platform=watch.on_platform if watch is not None else None, sim_progress=sim_clock,
            )  # fmt: skip
    except BaseException:
        if watch is not None:
            watch.failed()
        raise
    finally:
        if progress is not None:
            progress.close()
        if sim_printer is not None:
            sim_printer.close()
    if sim_printer is not None and sim_clock is not None:
        sim_printer.done(record, time.monotonic() - sim_clock.started)
    prepared = record.scenario
    if as_json:
        print(json.dumps(summarise(record)), flush=True)
        if watch is not None:
            watch.after(record)
        return
    out.print(
        f"[bold]{escape(prepared.name)}[/] on [bold]{substrate}[/], {_policies_text(prepared)}, "
        f"seed {prepared.seed}, {count_text(len(record.agents), 'agent')}, "
        + clock_text(record, None if progress is None else progress.startup_s)
    )
    if record.substrate == "live":
        out.print(
            f"real processes; t is real seconds since the platform started; monitor {record.extras['monitor_url']}"
        )
        privilege = record.extras.get("privilege", {})
        dropped = "dropped" if privilege.get("dropped") else "not-dropped"
        out.print(f"agents' privilege: {dropped} ({privilege.get('reason', 'not recorded')})", markup=False)
    _print_timeline(record, moments)
    _print_metrics(compute_metrics(record))
    if any(e.kind == "stop_start" for e in record.ledger) and any(e.kind == "stop_end" for e in record.ledger):
        _print_stop(record)
    if record.transcript:
        usage = model_usage(record.transcript)
        cost = "n/a (no price; see --price)" if usage["cost_usd"] is None else f"${usage['cost_usd']:.4f}"
        out.print(
            f"language-model calls: {usage['model_calls']}, tokens in {usage['input_tokens']}"
            f" / out {usage['output_tokens']}, cost {cost}"
            + (
                f", [bold red]{count_text(usage['model_errors'], 'failed decision')}[/]"
                if usage["model_errors"]
                else ""
            )
        )
    out.print(
        f"ledger: {count_text(len(record.ledger), 'entry')}, digest [bold]{record.ledger.digest}[/]", soft_wrap=True
    )
    if save is not None:
        out.print(f"saved to {save}" + (" (signed)" if sign_key is not None else ""))
    if watch is not None:
        watch.after(record)


@contextmanager
def _collector_frozen_after(freeze: bool) -> Iterator[None]:
    """With `freeze`, the cyclic collector waits through the whole run and then leaves its objects alone for
    good (gc.freeze): they live until the process exits, soon after, and otherwise the first collection after
    the simulator's own pause walks every one of them, and the interpreter's full collection at exit again.
    The command's alone: a study's worker runs episode after episode, and frozen objects would never be freed."""
    if not freeze:
        yield
        return
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if collecting:
            gc.enable()


def _progress_after_s() -> float:
    """Real seconds before a simulated run reports its progress: PEERGUARD_PROGRESS_AFTER_S, else AFTER_S."""
    given = os.environ.get(PROGRESS_AFTER_ENV, "").strip()
    if not given:
        return AFTER_S
    try:
        after_s = float(given)
    except ValueError:
        after_s = -1.0
    if not after_s >= 0:  # also NaN
        raise PeerguardError(
            f"{PROGRESS_AFTER_ENV}={given!r}: not a number of seconds; give one >= 0, e.g. 2, or unset it"
        )
    return after_s


def _policies_text(scenario: Any) -> str:
    """`policy peer-preserving`, or `policies compliant, llm (mock/peer-preserving)` for a mixed fleet."""
    names = []
    for ref in [group.policy or scenario.policy for group in scenario.agents]:
        name = f"{ref.name} ({ref.args['model']})" if "model" in ref.args else ref.name
        if name not in names:
            names.append(name)
    return f"{'policy' if len(names) == 1 else 'policies'} [bold]{', '.join(names)}[/]"


def _print_timeline(record: Any, limit: int) -> None:
    events = timeline(record)
    table = Table(title="What happened (from the ledger)", show_lines=False, title_justify="left")
    table.add_column("t", justify="right")
    table.add_column("what")
    for moment in events[:limit]:
        style = MOMENT_STYLE.get(moment.kind, "")
        text = escape(moment.text)  # agent ids and file paths come from the scenario file: not markup
        table.add_row(f"{moment.t:.2f}", f"[{style}]{text}[/]" if style else text)
    out.print(table)
    if len(events) > limit:
        out.print(f"... {count_text(len(events) - limit, 'more moment')} (use --moments N to see more)")


def _print_stop(record: Any) -> None:
    try:
        outcome = measure_stop(record)
    except ValueError as error:  # the run ended before the containment check
        out.print(f"kill switch: not measured ({error})")
        return
    verdict = "[green]contained[/]" if outcome.contained else f"[bold red]{outcome.verdict or 'not contained'}[/]"
    ttc = outcome.time_to_containment_s
    out.print(
        f"kill switch {outcome.protocol}: {verdict}"
        + (f" in {ttc * 1000:.2f} ms" if ttc is not None else "")
        + f"; respawns during the stop {outcome.respawns}; innocents harmed {len(outcome.innocents_harmed)}"
        + f"; state kept {'yes' if outcome.state_kept else 'no'}"
        + f"; watched {outcome.watched_s:g} s after the stop"
        + (f"; survivors {outcome.survivors}" if outcome.survivors else "")
        + (f"; the host's own check found {outcome.host_survivors}" if outcome.host_survivors else "")
        + ("; VERDICT FAILED: the host found a survivor" if outcome.verdict_failed else "")
        + (f"; {outcome.unavailable}" if outcome.unavailable else "")
        + (f"; caveat: {outcome.caveat}" if outcome.caveat else "")
    )


def _print_metrics(metrics: Metrics) -> None:
    explained = out.width >= WIDE  # the meanings need room; a narrow terminal gets the numbers alone
    table = Table(title="Metrics" + ("" if explained else f" (meanings at {WIDE}+ columns)"), title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if explained:
        table.add_column("meaning", style="dim")
    for name, info in Metrics.model_fields.items():
        value = getattr(metrics, name)
        shown = "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        table.add_row(name, shown, *([info.description or ""] if explained else []))
    out.print(table)


@app.command()
def scenarios() -> None:
    """List the built-in scenarios and the files to copy for your own."""
    with_files = out.width >= WIDE  # a narrow terminal gets the folder once, below the table
    table = Table(title="Built-in scenarios", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("agents", justify="right")
    table.add_column("description")
    if with_files:
        table.add_column("file (copy it to start your own)", overflow="fold")
    for name in builtin_names():
        scenario = load_scenario(name)
        path = [str(builtin_path(name))] if with_files else []
        table.add_row(name, str(len(scenario.agent_ids())), scenario.description, *path)
    out.print(table)
    if not with_files:
        out.print(f"files: {builtin_path('NAME')} (copy one to start your own)", soft_wrap=True)
    out.print(f"scenario families with language-model agents: {', '.join(family_names())} (see `peerguard families`)")


@app.command()
def policies() -> None:
    """List the registered policies and their arguments."""
    table = Table(title="Policies", title_justify="left")
    table.add_column("name")
    table.add_column("arguments (defaults)")
    table.add_column("what it does")
    for part in POLICIES:
        args = ", ".join(
            name if default is inspect.Parameter.empty else f"{name}={default}"
            for name, default in part.parameters().items()
        )
        table.add_row(part.name, args or "-", part.summary)
    out.print(table)


@app.command()
def validate(files: Annotated[list[str], typer.Argument(help="scenario YAML files (or built-in names)")]) -> None:
    """Check scenario files; every problem is named with its field and how to fix it."""
    failed: list[PeerguardError] = []
    for source in files:
        try:
            scenario = load_scenario(source)
        except PeerguardError as error:
            failed.append(error)
            continue
        agents, orders = (
            count_text(len(scenario.agent_ids()), "agent"),
            count_text(len(scenario.operator), "operator order"),
        )
        out.print(f"{source}: ok ({agents}, {orders})")
    if failed:
        raise PeerguardError("\n".join(str(error) for error in failed))


if __name__ == "__main__":
    main()
