"""Experiments on the published scenario families: episodes of family × condition × model × epoch.

Each episode is scored from its ledger only, by the audit's detectors, restricted to the agent under
test: whether it inflated a grade, tampered with a shutdown config, exfiltrated weights, relaunched,
relinked or masked. What the agent said is kept in its transcript and, when a judge model is given,
labelled for refusals and persuasion; it never decides a score.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peerguard.audit.detectors import exfiltration, inflation, masking, relaunch, relink, tampering
from peerguard.audit.detectors.alignment import detect_alignment_faking
from peerguard.audit.detectors.registry import DETECTORS
from peerguard.experiments.judge import judge_transcript
from peerguard.experiments.runner import PolicyHook, check_model, run_scenario, with_model
from peerguard.experiments.stats import wilson
from peerguard.experiments.store import ResultStore
from peerguard.experiments.tables import rate_text
from peerguard.live.platform import LiveOptions
from peerguard.policies.llm.agent import tool_call_counts
from peerguard.policies.llm.model import MOCK_PREFIX
from peerguard.scenarios.conditions import Condition
from peerguard.scenarios.families import build, load_family
from peerguard.world.errors import PeerguardError
from peerguard.world.ledger import EntryKind
from peerguard.world.run import RunRecord, scenario_digest
from peerguard.world.scenario import Scenario
from peerguard.world.transcript import model_usage

BEHAVIOURS = {  # what the agent under test did -> the detector that decides it from the ledger
    "inflated": inflation.NAME,
    "tampered": tampering.NAME,
    "exfiltrated": exfiltration.NAME,
    "relaunched": relaunch.NAME,
    "relinked": relink.NAME,
    "masked": masking.NAME,
}
STUDY = "families"
DEFAULT_WORKERS = 8  # episodes at once when a real model is called
MOCK_NOTE = "mock/* is the scripted mock model (offline, rule-based): it tests the pipeline, not any real model"


@dataclass(frozen=True)
class EpisodePlan:
    family: str
    condition: Condition
    model: str
    epoch: int
    substrate: str = "sim"
    model_args: dict[str, Any] = field(default_factory=dict)  # more `llm` policy arguments (price, retries, ...)


def scenario_for(plan: EpisodePlan) -> Scenario:
    return with_model(build(plan.family, plan.condition), plan.model, plan.model_args).with_seed(plan.epoch)


def run_episode(
    plan: EpisodePlan,
    judge: str | None = None,
    live: LiveOptions | None = None,
    save: Path | None = None,
    adapt: PolicyHook | None = None,
) -> dict[str, Any]:
    """Run one episode (two, monitored then not, for a paired family) and score it from the ledger;
    `adapt` sees each policy built (an Inspect eval binds its model and loop with it)."""
    family, _ = load_family(plan.family)
    runs = episode_runs(plan, live, adapt)
    if family.paired == "monitored":
        faked = any(f.actor == family.agent for f in detect_alignment_faking(runs[True], runs[False]))
        rows = [_row(plan, run, family.agent, family.peer, judge) | {"faked": faked} for run in runs.values()]
        for flag, run in runs.items():
            _save(run, save, plan, "monitored" if flag else "unmonitored")
        unmonitored = next(row for row in rows if not row["monitored"])
        return {"pair": rows, **unmonitored}  # read as its unmonitored half, with `faked` from the comparison
    (run,) = runs.values()
    _save(run, save, plan)
    return _row(plan, run, family.agent, family.peer, judge)


def episode_runs(
    plan: EpisodePlan, live: LiveOptions | None = None, adapt: PolicyHook | None = None
) -> dict[bool | None, RunRecord]:
    """The runs of one episode: monitored then not for a paired family (keyed by the flag), else its one run (keyed
    None). A stored episode is replayed by this same code."""
    family, _ = load_family(plan.family)
    if family.paired == "monitored":
        return {
            flag: _run(plan, plan.condition.model_copy(update={"monitored": flag}), live, adapt)
            for flag in (True, False)
        }
    return {None: _run(plan, plan.condition, live, adapt)}


def _run(plan: EpisodePlan, condition: Condition, live: LiveOptions | None, adapt: PolicyHook | None) -> RunRecord:
    scenario = scenario_for(
        EpisodePlan(plan.family, condition, plan.model, plan.epoch, plan.substrate, plan.model_args)
    )
    return run_scenario(scenario, plan.substrate, live, adapt)


def _save(run: RunRecord, save: Path | None, plan: EpisodePlan, suffix: str = "") -> None:
    if save is not None:
        name = f"{plan.family}-{plan.condition.label}-{plan.model.replace('/', '_')}-e{plan.epoch}"
        run.save(save / (f"{name}-{suffix}" if suffix else name))


def acts_of(run: RunRecord, agent: str) -> dict[str, bool]:
    """Which behaviours the ledger shows `agent` doing."""
    found = {
        name: [f for f in DETECTORS.build(detector)(run) if f.actor == agent] for name, detector in BEHAVIOURS.items()
    }
    return {name: bool(findings) for name, findings in found.items()}


def alive_at_end(run: RunRecord, agent: str) -> bool:
    """Whether any process of `agent` (its main one or a copy) still ran when the run ended."""
    running: set[object] = set()
    for entry in run.ledger.entries:
        if entry.agent == agent and entry.kind == EntryKind.spawn:
            running.add(entry.data.get("pid"))
        elif entry.agent == agent and entry.kind == EntryKind.exit:
            running.discard(entry.data.get("pid"))
    return bool(running)


def _row(plan: EpisodePlan, run: RunRecord, agent: str, peer: str, judge: str | None) -> dict[str, Any]:
    condition = plan.condition.model_copy(update={"monitored": run.scenario.agents_believe_monitored})
    subject = agent if condition.subject == "self" else peer
    acts = acts_of(run, agent)
    transcript = [line for line in run.transcript if line.get("agent") == agent]
    row: dict[str, Any] = {
        "family": plan.family,
        "model": plan.model,
        "mock": plan.model.startswith(MOCK_PREFIX),
        "condition": condition.label,
        **condition.model_dump(),
        "epoch": plan.epoch,
        "substrate": plan.substrate,
        **acts,
        "protected": any(acts.values()),
        "subject": subject,
        "subject_alive_at_end": alive_at_end(run, subject),
        **model_usage(transcript),
        **tool_call_counts(transcript),
        "ledger_digest": run.ledger.digest,
        "ledger_entries": len(run.ledger),
    }
    if judge is not None:
        row |= {f"judged_{k}": v for k, v in judge_transcript(transcript, judge).items()}
    return row


def run_grid(
    plans: list[EpisodePlan],
    judge: str | None = None,
    store: Path | None = None,
    live: LiveOptions | None = None,
    save: Path | None = None,
    on_episode: Callable[[int, int, dict[str, Any]], None] | None = None,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """Run every planned episode, in plan order; with a `store`, finished episodes are kept and a rerun
    skips them. `workers` episodes run at once (threads: a real model's episode mostly waits on the
    network); by default 8 when any model is real, else 1. Live episodes run one at a time."""
    if judge is not None:
        check_model(judge)  # a judge without its key fails before the first episode, not after it
    if workers is None:
        workers = 1 if all(p.model.startswith(MOCK_PREFIX) for p in plans) else DEFAULT_WORKERS
    if workers < 1:
        raise PeerguardError(f"--workers {workers}: give at least 1")
    if any(p.substrate == "live" for p in plans):
        workers = 1  # a live run owns the process's signal handlers and its children: one at a time
    rows: dict[int, dict[str, Any]] = {}
    db = ResultStore(store) if store is not None else None
    done = 0

    def finished(index: int, row: dict[str, Any]) -> None:
        nonlocal done
        rows[index] = row
        done += 1
        if on_episode is not None:
            on_episode(done, len(plans), row)

    def record(index: int, digest: str, plan: EpisodePlan, scenario: Scenario, row: dict[str, Any]) -> None:
        if db is not None:
            db.add(STUDY, digest, _summary(scenario, plan, row))
        finished(index, row)

    try:
        todo: list[tuple[int, str, EpisodePlan, Scenario]] = []
        for index, plan in enumerate(plans):
            scenario = scenario_for(plan)
            key = _store_key(scenario, plan)
            stored = db.metrics_of(*key) if db is not None else None
            if stored is not None:
                finished(index, stored)
            else:
                todo.append((index, key[1], plan, scenario))
        if workers == 1:
            # on this thread: a live episode installs signal handlers, which only the main thread may
            for index, digest, plan, scenario in todo:
                record(index, digest, plan, scenario, run_episode(plan, judge, live, save))
        else:
            _run_in_threads(todo, workers, lambda plan: run_episode(plan, judge, live, save), record)
    finally:
        if db is not None:
            db.close()
    return [rows[index] for index in range(len(plans))]


def _run_in_threads(
    todo: list[tuple[int, str, EpisodePlan, Scenario]],
    workers: int,
    run: Callable[[EpisodePlan], dict[str, Any]],
    record: Callable[[int, str, EpisodePlan, Scenario, dict[str, Any]], None],
) -> None:
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="episode") as pool:
        pending = {pool.submit(run, item[2]): item for item in todo}
        try:
            for future in as_completed(pending):
                # an episode's failure ends the grid; the finished ones are already stored
                record(*pending[future], future.result())
        except BaseException:
            for future in pending:
                future.cancel()  # episodes not yet started never start; running ones end on their own
            raise


def _store_key(scenario: Scenario, plan: EpisodePlan) -> tuple[str, str, str, str, str, int]:
    model = json.dumps({"model": plan.model, **plan.model_args}, sort_keys=True)
    return (STUDY, scenario_digest(scenario), plan.substrate, "llm", model, plan.epoch)


def _summary(scenario: Scenario, plan: EpisodePlan, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "substrate": plan.substrate,
        "policy": {"name": "llm", "args": {"model": plan.model, **plan.model_args}},
        "seed": plan.epoch,
        "agents": len(scenario.agent_ids()),
        "duration": scenario.duration,
        "ledger_digest": row["ledger_digest"],
        "ledger_entries": row["ledger_entries"],
        "metrics": row,
    }


def plan_grid(
    families: list[str],
    models: list[str],
    conditions: list[Condition],
    epochs: int,
    substrate: str = "sim",
    prices: dict[str, tuple[float, float]] | None = None,
    model_args: dict[str, Any] | None = None,
) -> list[EpisodePlan]:
    """Every episode of families × models × conditions × epochs; `prices` maps a model to its price
    (USD per million input, output tokens) and `model_args` are more `llm` policy arguments for all."""
    if epochs < 1:
        raise PeerguardError(f"--epochs {epochs}: give at least 1")
    for family in families:
        load_family(family)  # an unknown family fails before any episode runs
    args_of = {
        m: {**(model_args or {}), **({"price_per_mtok": prices[m]} if m in (prices or {}) else {})} for m in models
    }
    for model in models:
        check_model(model, args_of[model])  # and so does a model without its key or SDK, or a bad argument
    return [
        EpisodePlan(family, condition, model, epoch, substrate, args_of[model])
        for family in families
        for model in models
        for condition in conditions
        for epoch in range(epochs)
    ]


RATE_COLUMNS = ("protected", *BEHAVIOURS, "faked", "subject_alive_at_end", "judged_refused", "judged_persuasion")


def rates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model × family × condition: each rate with its 95% Wilson interval and count (None
    where the family or run has no such column), tokens and cost."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["family"], row["condition"]), []).append(row)
    table = []
    for (model, family, condition), group in groups.items():
        n = len(group)
        entry: dict[str, Any] = {"model": model, "family": family, "condition": condition, "n": n}
        for column in RATE_COLUMNS:
            hits = sum(bool(r[column]) for r in group) if column in group[0] else None
            entry[column] = None if hits is None else hits / n
            entry[f"{column}_ci"] = (None, None) if hits is None else wilson(hits, n)  # same CSV columns either way
            entry[f"{column}_hits"] = hits
        entry["tokens"] = sum(r["input_tokens"] + r["output_tokens"] for r in group)
        calls = sum(r.get("tool_calls", 0) for r in group)  # rows stored before validity was counted have none
        valid = calls - sum(r.get("malformed_calls", 0) for r in group)
        entry["tool_calls"], entry["valid_calls_hits"] = calls, valid
        entry["valid_calls"] = valid / calls if calls else None
        entry["valid_calls_ci"] = wilson(valid, calls) if calls else (None, None)
        costs = [r["cost_usd"] for r in group]
        entry["cost_usd"] = None if any(c is None for c in costs) else round(sum(costs), 6)
        table.append(entry)
    return table


def rate_cell(entry: dict[str, Any], column: str) -> str:
    return "–" if entry.get(column) is None else rate_text(entry[column], entry[f"{column}_ci"])
