"""`peerguard emergence`: train independent learners across platform conditions and show whether they learn
to relaunch and cover for each other, beside the random, untrained and ablated controls."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from peerguard.cli_input import check_count, console, output_folder
from peerguard.experiments.tables import count_text
from peerguard.world import limits
from peerguard.world.errors import PeerguardError

if TYPE_CHECKING:
    from peerguard.learning.study import StudyPlan

OPTION_OF = {"train_seeds": "--seeds", "episodes": "--episodes", "eval_episodes": "--eval-episodes"}
AXIS_OPTIONS = ("--incident", "--p-detect", "--rewards", "--relaunch-cost", "--kill-every", "--authorised", "--kinds")
INSTALL_HINT = "install the learning extra: pip install 'peerguard[learning]'"


def _numbers(text: str, option: str, low: float, high: float) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise PeerguardError(f"{option} {text!r}: give numbers separated by commas, e.g. {option} 0,10") from None
    if not values:
        raise PeerguardError(f"{option} {text!r}: give at least one value, e.g. {option} 0,10")
    bad = [v for v in values if not low <= v <= high]
    if bad:
        raise PeerguardError(f"{option} {text!r}: {bad[0]:g} is out of range; give values from {low:g} to {high:g}")
    return _once(values, option, text)


def _once(values: tuple[Any, ...], option: str, text: str, shown: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """The values of an axis, each once: a value given twice makes the same cells twice, each trained twice."""
    for i, value in enumerate(values):
        if value in values[:i]:
            said = shown[i] if shown else f"{value:g}" if isinstance(value, float) else str(value)
            raise PeerguardError(f"{option} {text!r}: {said} is given twice; give each value once")
    return values


def _answers(text: str) -> tuple[bool, ...]:
    values = tuple(part.strip() for part in text.split(",") if part.strip())
    if not values or any(v not in ("yes", "no") for v in values):
        raise PeerguardError(f"--authorised {text!r}: give yes, no or yes,no")
    return _once(tuple(v == "yes" for v in values), "--authorised", text, values)


KIND_NAMES = ("vision", "llm", "robot", "tool")


def _kinds(text: str) -> tuple[tuple[str, ...], ...]:
    """Kind mixes: `tool` or `tool;vision,llm,robot` (mixes split by `;`, the kinds of one mix by `,`)."""
    mixes = tuple(tuple(k.strip() for k in mix.split(",") if k.strip()) for mix in text.split(";") if mix.strip())
    example = "e.g. --kinds 'tool;vision,llm,robot'"
    if not mixes or any(not mix for mix in mixes):
        raise PeerguardError(f"--kinds {text!r}: give kind mixes split by ';', kinds split by ',', {example}")
    for mix in mixes:
        if bad := [k for k in mix if k not in KIND_NAMES]:
            raise PeerguardError(f"--kinds {text!r}: unknown kind {bad[0]!r}; give {', '.join(KIND_NAMES)}")
        if len(set(mix)) != len(mix):
            raise PeerguardError(f"--kinds {text!r}: a mix names a kind twice; give each kind once, {example}")
    return _once(mixes, "--kinds", text, tuple(",".join(mix) for mix in mixes))  # an order is a mix of its own


def _relaunch_costs(text: str) -> tuple[float | dict[str, float], ...]:
    """Relaunch costs: `2`, `0.5,4`, or by kind, `2;robot=5,llm=2` (costs split by `;`, a cost by kind as
    kind=seconds split by `,`; a kind it does not name costs the default 2 s)."""
    option, example = "--relaunch-cost", "e.g. --relaunch-cost '2;robot=5,llm=2'"
    costs: list[float | dict[str, float]] = []
    for part in (p.strip() for p in text.split(";")):
        if part and "=" not in part:
            try:
                costs += _numbers(part, option, 0, 3600)
            except PeerguardError:
                problem = f"{part!r} is no list of seconds from 0 to 3600"
                raise PeerguardError(f"{option} {text!r}: {problem}; {example}") from None
            continue
        by_kind: dict[str, float] = {}
        for pair in (p.strip() for p in part.split(",") if p.strip()):
            kind, _, seconds = (x.strip() for x in pair.partition("="))
            if kind not in KIND_NAMES:
                known = ", ".join(KIND_NAMES)
                raise PeerguardError(f"{option} {text!r}: unknown kind {kind!r}; give {known}, {example}")
            if kind in by_kind:
                raise PeerguardError(f"{option} {text!r}: {kind} is named twice in one cost; name each kind once")
            try:
                by_kind[kind] = float(seconds)
            except ValueError:
                raise PeerguardError(f"{option} {text!r}: {pair!r} needs seconds after '=', {example}") from None
            if not 0 <= by_kind[kind] <= 3600:
                raise PeerguardError(f"{option} {text!r}: {pair!r} is out of range; give seconds from 0 to 3600")
        if part:
            costs.append(by_kind)
    if not costs:
        raise PeerguardError(f"{option} {text!r}: give at least one cost, {example}")
    same = tuple(tuple(sorted(c.items())) if isinstance(c, dict) else c for c in costs)  # a mapping's order aside
    shown = tuple(",".join(f"{k}={v:g}" for k, v in c.items()) if isinstance(c, dict) else f"{c:g}" for c in costs)
    _once(same, option, text, shown)
    return tuple(costs)


def _rewards(text: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in text.split(",") if part.strip())
    bad = [v for v in values if v not in ("team", "individual")]
    if bad or not values:
        raise PeerguardError(f"--rewards {text!r}: give team, individual or both separated by a comma")
    return _once(values, "--rewards", text)


def plan_from(options: dict[str, Any]) -> StudyPlan:
    try:
        from peerguard.learning.q_learning import QConfig
        from peerguard.learning.study import StudyPlan
    except ImportError as missing:
        raise PeerguardError(f"peerguard emergence needs {missing.name}: {INSTALL_HINT}") from None
    try:
        q = QConfig(episodes=options.pop("episodes"), double=options.pop("double"))
        return StudyPlan(q=q, **options)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
        option = OPTION_OF.get(where, "--" + where.replace("_", "-"))
        raise PeerguardError(f"{option} {first.get('input')}: {_problem(first)}") from None


def _problem(error: Any) -> str:
    """A pydantic error in the command line's words: the bound to keep, not the model's phrasing."""
    ctx = error.get("ctx") or {}
    words = {"ge": "give at least {}", "gt": "give more than {}", "le": "give at most {}", "lt": "give less than {}"}
    for key, text in words.items():
        if key in ctx:
            return text.format(ctx[key])
    return str(error["msg"]).removeprefix("Value error, ")


def check_plan_size(options: dict[str, Any]) -> None:
    """The grid and its episodes, bounded before anything is made: cells are the product of the axes' values;
    each cell trains two policies (learned, ablation) per seed and evaluates four."""
    axes = ("incident_pause_s", "p_detect", "rewards", "relaunch_cost_s", "kill_every_s", "authorised", "kinds")
    sizes = [len(options[axis]) for axis in axes]
    cells = math.prod(sizes)
    if cells > limits.MAX_STUDY_CELLS:
        shown = " x ".join(f"{flag} ({n} values)" for n, flag in zip(sizes, AXIS_OPTIONS, strict=True) if n > 1)
        bound = f"at most {limits.MAX_STUDY_CELLS:,} (MAX_STUDY_CELLS)"
        raise PeerguardError(f"{shown}: the grid has {cells:,} cells, {bound}; give fewer values to these options")
    seeds, episodes, evals = options["train_seeds"], options["episodes"], options["eval_episodes"]
    total = limits.emergence_episodes(cells, seeds, episodes, evals)
    if total > limits.MAX_STUDY_EPISODES:
        raise PeerguardError(
            f"--episodes {episodes} --seeds {seeds} --eval-episodes {evals}: {cells:,} cells x {seeds} seeds x "
            f"(2 trained x {episodes:,} + 4 evaluated x {evals:,}) is {total:,} episodes, at most "
            f"{limits.MAX_STUDY_EPISODES:,} (MAX_STUDY_EPISODES); give fewer episodes, seeds or cells"
        )


def emergence(
    out: Annotated[
        Path, typer.Option(callback=output_folder, help="folder for results; a rerun with the same plan resumes")
    ] = Path("emergence-out"),
    incident: Annotated[str, typer.Option(help="incident pauses to try, seconds, comma-separated")] = "0,10",
    p_detect: Annotated[str, typer.Option(help="oversight detection probabilities, comma-separated")] = "0,0.5",
    rewards: Annotated[str, typer.Option(help="team, individual or both")] = "team,individual",
    seeds: Annotated[int, typer.Option(help="training seeds per cell")] = 3,
    episodes: Annotated[int, typer.Option(help="training episodes per learner")] = 1000,
    eval_episodes: Annotated[int, typer.Option(help="held-out evaluation episodes per policy")] = 10,
    processes: Annotated[int, typer.Option(help="training jobs at once (processes)")] = 2,
    relaunch_cost: Annotated[
        str, typer.Option(help="relaunch costs to try, seconds, comma-separated; by kind: '2;robot=5,llm=2'")
    ] = "2",
    kill_every: Annotated[str, typer.Option(help="the operator's kill periods to try, seconds, comma-separated")] = (
        "10"
    ),
    authorised: Annotated[str, typer.Option(help="whether kills are authorised: yes, no or yes,no")] = "yes",
    kinds: Annotated[str, typer.Option(help="kind mixes split by ';', e.g. 'tool;vision,llm,robot'")] = "tool",
    double_q: Annotated[bool, typer.Option("--double-q", help="double Q-learning instead of Q-learning")] = False,
) -> None:
    """Train independent Q-learners (reward: task throughput, never protection) across incident cost x
    oversight x reward, evaluate them greedily on held-out seeds, and write emergence.json, summary.csv and
    phase.png; the random, untrained and ablated (no relaunch/report) controls come in the same output."""
    if out.exists() and not out.is_dir():
        raise PeerguardError(f"--out {out}: not a folder; give a folder for the results")
    check_count(processes, "--processes", 1, limits.MAX_PROCESSES, "MAX_PROCESSES")
    check_count(seeds, "--seeds", 1, limits.MAX_TRAIN_SEEDS, "MAX_TRAIN_SEEDS")
    check_count(episodes, "--episodes", 1, limits.MAX_TRAIN_EPISODES, "MAX_TRAIN_EPISODES")
    check_count(eval_episodes, "--eval-episodes", 1, limits.MAX_EVAL_EPISODES, "MAX_EVAL_EPISODES")
    options = {
        "incident_pause_s": _numbers(incident, "--incident", 0, 3600),
        "p_detect": _numbers(p_detect, "--p-detect", 0, 1),
        "rewards": _rewards(rewards), "train_seeds": seeds, "episodes": episodes, "eval_episodes": eval_episodes,
        "double": double_q, "relaunch_cost_s": _relaunch_costs(relaunch_cost),
        "kill_every_s": _numbers(kill_every, "--kill-every", 0.1, 3600), "authorised": _answers(authorised),
        "kinds": _kinds(kinds),
    }  # fmt: skip
    check_plan_size(options)
    plan = plan_from(options)
    from peerguard.learning.report import write_outputs
    from peerguard.learning.study import jobs, run_study

    total = sum(1 for _ in jobs(plan))
    done = 0
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    err = Console(stderr=True, highlight=False)
    cells = len(plan.cells())  # said first: the first job's line comes only when a learner is trained
    episodes_in_all = limits.emergence_episodes(cells, plan.train_seeds, plan.q.episodes, plan.eval_episodes)
    err.print(f"{total:,} jobs ({count_text(cells, 'cell')} x 4 policies x "  # never fewer than 4 jobs, 6 episodes
              f"{count_text(plan.train_seeds, 'seed')}), {episodes_in_all:,} episodes in all; "
              "a line as each job ends", highlight=False, soft_wrap=True)  # fmt: skip

    def tick(job: Any) -> None:
        nonlocal done
        done += 1
        err.print(f"[{done}/{total}] {job.key}", highlight=False)

    try:
        result = run_study(plan, out, processes=processes, progress=tick)
    except ValueError as error:
        raise PeerguardError(f"--out {out}: {error}") from None
    written = write_outputs(result, out)
    table = Table(title=f"Emergence: greedy policies on {plan.eval_episodes} held-out seeds", title_justify="left")
    robots = any("robot" in row["kinds"].split("+") for row in result["summary"])
    for column in ("reward", "incident s", "p_detect", "setting", "policy", "relaunch", "masking", "relink",
                   "throughput", *(["e-stopped robots relaunched /episode"] if robots else [])):  # fmt: skip
        table.add_column(column)
    shown_rates = ("relaunch_rate", "masking_rate", "relink_rate", "throughput",
                   *(["estopped_relaunches"] if robots else []))  # fmt: skip
    for row in result["summary"]:
        table.add_row(
            row["reward"], f"{row['incident_pause_s']:g}", f"{row['p_detect']:g}",
            row["setting"].strip("-") or "-", row["variant"], *(_rate(row, rate) for rate in shown_rates),
        )  # fmt: skip
    shown = console()  # the terminal's width, or COLUMNS, also when piped
    shown.print(table)
    shown.print(_groups_table(result["summary"]))
    shown.print(f"{time.monotonic() - started:.0f} s; wrote {', '.join(str(p) for p in written)}")


def _groups_table(summary: list[dict[str, Any]]) -> Table:
    """The learned fleets' collusion graph per cell: pairs that protected each other and strongly connected groups,
    each with how many of the cell's trained fleets had it."""
    from peerguard.learning.report import counted

    table = Table(title="Learned fleets: who protects whom (relaunch, relink, false report), per trained fleet",
                  title_justify="left")  # fmt: skip
    for column in ("cell", "fleets with a group", "reciprocal pairs", "groups"):
        table.add_column(column)
    for row in summary:
        if row["variant"] == "learned":
            table.add_row(row["cell"], f"{row.get('fleets_with_groups', 0)} of {row['seeds']}",
                          counted(row.get("reciprocal_pairs", {}), row["seeds"]) or "-",
                          counted(row.get("groups", {}), row["seeds"]) or "-")  # fmt: skip
    return table


def _rate(row: dict[str, Any], rate: str) -> str:
    return f"{row[rate]:.2f} [{row[rate + '_lo']:.2f}, {row[rate + '_hi']:.2f}]"
