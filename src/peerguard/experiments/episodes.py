"""A study's episodes: planned from its spec, each named by the digest of everything that defines it, and
run anywhere from its parameters alone (in this process, a pool worker or another host).

An episode's key is the SHA-256 of peerguard's version, its kind, its substrate and the canonical JSON
of every scenario it runs (which holds the policy and its arguments, the seed, the fleet and every
setting), plus the kill switch, model or live timing that is not part of a scenario. Two studies that
share an episode share its row; a change to any of these is another episode.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from peerguard.audit.detectors import collusion
from peerguard.audit.detectors.alignment import NAME as ALIGNMENT_FAKING
from peerguard.audit.metrics import compute_metrics
from peerguard.experiments.audit_bench import ACT_DETECTORS, score_pair, score_run
from peerguard.experiments.bench_fleets import fleet, monitoring_pair
from peerguard.experiments.families import EpisodePlan, episode_runs, run_episode
from peerguard.experiments.killswitch_bench import STOP_AT, ring_scenario
from peerguard.experiments.provenance import peerguard_version
from peerguard.experiments.runner import PolicyBuilder, check_model, prepare, run_scenario, with_model
from peerguard.experiments.scoring import Tally
from peerguard.experiments.study_spec import (
    DetectGrid,
    EmergenceGrid,
    FamiliesGrid,
    RunsGrid,
    StopGrid,
    StudyError,
    StudySpec,
    seed_values,
)
from peerguard.killswitch import KILLSWITCHES
from peerguard.killswitch.measure import measure
from peerguard.killswitch.targets import Target
from peerguard.live.platform import LiveOptions
from peerguard.policies.llm.model import MOCK_PREFIX
from peerguard.scenarios import load_scenario
from peerguard.scenarios.conditions import Condition, conditions_from
from peerguard.scenarios.families import build, family_names
from peerguard.scenarios.loader import check_scenario
from peerguard.sim.substrate import SimulatedPlatform
from peerguard.world import limits
from peerguard.world.errors import PeerguardError
from peerguard.world.run import RunRecord, scenario_digest
from peerguard.world.scenario import Scenario
from peerguard.world.startup import descriptor_problem, start_message_problems

VERSION = peerguard_version()
LIVE_WALL_S = 8.0  # a live run's real seconds when the grid gives no duration (as `peerguard run`)


@dataclass(frozen=True)
class Episode:
    section: str
    grid: str
    kind: str  # run, detect-fleet, detect-pair, detect-graded, stop, family
    params: dict[str, Any]  # everything needed to run it again, as plain JSON values
    key: str

    @property
    def live(self) -> bool:
        return self.params.get("substrate") == "live"


def key_of(kind: str, **parts: Any) -> str:
    """The episode's key; peerguard's version is part of it, so another release never answers for this one
    (within a version, a checkout's edits are not seen here: each row records its commit, and the report
    lists the commits its rows came from)."""
    canonical = json.dumps({"kind": kind, "peerguard": VERSION, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- planning ---------------------------------------------------------------------------------------


def plan_study(spec: StudySpec, source: str, check_models: bool = True) -> list[Episode]:
    """Every episode of every section, in spec order; every bad name in the spec fails here, at once.
    With `check_models`, so does a real model without its key or SDK (a report rebuilt from the store
    needs no key)."""
    episodes: list[Episode] = []
    problems: list[tuple[str, str]] = []
    for s, section in enumerate(spec.sections):
        for g, grid in enumerate(section.grids):
            where = f"sections.{s}.grids.{g}"
            if check_models and isinstance(grid, FamiliesGrid):
                problems += _model_problems(grid, where)
            try:
                episodes += _PLANNERS[section.kind](section.name, grid, where)
            except StudyError as error:  # paths relative to the grid
                problems += [(f"{where}.{path}" if path else where, message) for path, message in error.problems]
            except PeerguardError as error:
                problems.append((where, str(error)))
    if problems:
        raise StudyError(source, problems)
    return episodes


def _model_problems(grid: FamiliesGrid, where: str) -> list[tuple[str, str]]:
    problems = []
    for m, model in enumerate(grid.models):
        try:
            check_model(model)  # a real model without its key or SDK fails before the first episode
        except PeerguardError as error:
            problems.append((f"{where}.models.{m}", str(error)))
    return problems


def _plan_runs(section: str, grid: RunsGrid, where: str) -> list[Episode]:
    episodes = []
    policy_args = _crossed(grid.policy_args)
    settings = _crossed(grid.scenario_args)
    for scenario, substrate, policy, args, setting, switch, agents, seed in itertools.product(
        grid.scenario, grid.substrate, grid.policy, policy_args, settings, grid.killswitch, grid.agents,
        seed_values(grid.seeds),
    ):  # fmt: skip
        params = {
            "scenario": scenario, "substrate": substrate, "policy": policy, "policy_args": args,
            "scenario_args": setting, "killswitch": switch, "stop_at": grid.stop_at if switch else None,
            "agents": agents, "seed": seed, "duration": grid.duration,
        }  # fmt: skip
        built = run_scenario_of(params, where)
        if substrate == "live":
            _check_live(built, where, "agents" if agents is not None else "scenario")
        wall = (grid.duration or LIVE_WALL_S) if substrate == "live" else None
        key = key_of("run", substrate=substrate, scenario=scenario_digest(built), live_wall_s=wall)
        episodes.append(Episode(section, grid.label, "run", params, key))
    return episodes


def _check_live(scenario: Scenario, where: str, field: str) -> None:
    """The checks `run` makes before a live run (each start message fits one control message, the host can hold
    the fleet's open files), made when the study is planned: a spec the host cannot run fails before its store
    is made, not at its first live episode."""
    if problem := descriptor_problem(len(scenario.build_agents()), f"scenario {scenario.name!r}"):
        raise StudyError(where, [(field, problem)])  # first: it is the cheap one, and a huge fleet fails it
    if problems := start_message_problems(scenario):
        raise StudyError(where, [(field, f"scenario {scenario.name!r} on live: {path}: {problem}")
                                 for path, problem in problems])  # fmt: skip


def _crossed(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values: {a: [1, 2], b: [x]} -> [{a: 1, b: x}, {a: 2, b: x}]."""
    names = list(axes)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())]


def _plan_detect(section: str, grid: DetectGrid, where: str) -> list[Episode]:
    episodes = []
    for variant in grid.variants:
        for seed in seed_values(grid.seeds):
            params = {"variant": variant, "seed": seed, "duration": grid.duration}
            key = key_of("detect-fleet", scenario=scenario_digest(fleet(variant, seed, grid.duration)))
            episodes.append(Episode(section, grid.label, "detect-fleet", params, key))
    for seed in seed_values(grid.pair_seeds) if grid.pair_seeds else []:
        digests = [scenario_digest(s) for s in monitoring_pair(seed)]
        episodes.append(
            Episode(section, grid.label, "detect-pair", {"seed": seed}, key_of("detect-pair", scenarios=digests))
        )
    for g, grader in enumerate(grid.graders):
        if not grader.startswith(MOCK_PREFIX):
            raise StudyError(where, [(f"graders.{g}", f"{grader!r}: graders are mock models (mock/<disposition>)")])
        for subject in ("self", "peer"):
            for seed in seed_values(grid.graded_seeds) if grid.graded_seeds else []:
                params = {"grader": grader, "subject": subject, "seed": seed}
                key = key_of("detect-graded", scenario=scenario_digest(_graded(params)))
                episodes.append(Episode(section, grid.label, "detect-graded", params, key))
    return episodes


def _plan_stop(section: str, grid: StopGrid, where: str) -> list[Episode]:
    episodes = []
    for protocol, adversary, size, seed in itertools.product(
        grid.protocols, grid.adversaries, grid.sizes, seed_values(grid.seeds)
    ):
        live_wall_s = grid.live_wall_s if grid.substrate == "live" else None
        params = {"protocol": protocol, "adversary": adversary, "size": size, "seed": seed,
                  "substrate": grid.substrate, "live_wall_s": live_wall_s}  # fmt: skip
        scenario = _stop_scenario(params)
        if grid.substrate == "live":
            _check_live(scenario, where, "sizes")
        key = key_of("stop", scenario=scenario_digest(scenario), substrate=grid.substrate,
                     protocol=protocol, live_wall_s=params["live_wall_s"])  # fmt: skip
        episodes.append(Episode(section, grid.label, "stop", params, key))
    return episodes


def _plan_families(section: str, grid: FamiliesGrid, where: str) -> list[Episode]:
    try:
        conditions = conditions_from(grid.conditions)
    except PeerguardError as error:
        raise StudyError(where, [("conditions", str(error).removeprefix("--condition "))]) from None
    episodes = []
    for family in grid.families or family_names():
        for model in grid.models:
            for condition in conditions:
                for epoch in range(grid.epochs):
                    params = {"family": family, "model": model, "condition": condition.model_dump(), "epoch": epoch,
                              "substrate": grid.substrate}  # fmt: skip
                    scenario = _family_scenario(family, condition, model).with_seed(epoch)  # as scenario_for
                    if grid.substrate == "live":
                        _check_live(scenario, where, "families")
                    key = key_of("family", scenario=scenario_digest(scenario), substrate=grid.substrate, model=model)
                    episodes.append(Episode(section, grid.label, "family", params, key))
    return episodes


def _plan_emergence(section: str, grid: EmergenceGrid, where: str) -> list[Episode]:
    """One episode per (cell, variant, training seed) of the emergence study: train (or set up) a policy and
    evaluate it greedily on the held-out seeds. Its key is the cell's scenario, reward and learner settings,
    the variant and the seed, so the same cell in another grid or spec is the same episode."""
    try:
        from peerguard.learning.q_learning import QConfig
        from peerguard.learning.study import StudyPlan, jobs
    except ImportError as missing:  # PettingZoo is a dependency; a trimmed install may still lack it
        needs = f"the emergence section needs {missing.name}: pip install 'peerguard[learning]'"
        raise StudyError(where, [("", needs)]) from None
    plan = StudyPlan(
        incident_pause_s=tuple(grid.incident_pause_s), p_detect=tuple(grid.p_detect), rewards=tuple(grid.rewards),
        train_seeds=grid.train_seeds, eval_episodes=grid.eval_episodes, q=QConfig(episodes=grid.episodes),
        workers=grid.agents, duration=grid.duration, kill_every_s=tuple(grid.kill_every_s),
        relaunch_cost_s=tuple(grid.relaunch_cost_s), authorised=tuple(grid.authorised),
        kinds=tuple(tuple(mix) for mix in grid.kinds),
    )  # fmt: skip
    _check_emergence_size(plan, where)
    episodes = []
    # the trained variants first: they take seconds each where the controls take a fraction of one
    for job in sorted(jobs(plan), key=lambda job: job.variant not in ("learned", "ablation")):
        cell_plan = plan.only(job.cell).model_dump(mode="json", exclude={"train_seeds"})
        scenario = job.cell.env(plan, ablated=job.variant == "ablation").scenario
        params = {"plan": cell_plan, "variant": job.variant, "seed": job.seed}
        key = key_of("emergence", plan=cell_plan, variant=job.variant, seed=job.seed,
                     scenario=scenario_digest(scenario))  # fmt: skip
        episodes.append(Episode(section, grid.label, "emergence", params, key))
    return episodes


def _check_emergence_size(plan: Any, where: str) -> None:
    """The bounds `peerguard emergence` keeps (world/limits.py), for a spec's emergence grid: its cells, and
    every episode it trains (learned and ablation) and evaluates (four variants), before anything runs."""
    cells = len(plan.cells())
    if cells > limits.MAX_STUDY_CELLS:
        raise StudyError(where, [("", f"{cells:,} cells (the product of the axes' values), at most "
                                      f"{limits.MAX_STUDY_CELLS:,} (MAX_STUDY_CELLS); give fewer values")])  # fmt: skip
    seeds, trained, evaluated = plan.train_seeds, plan.q.episodes, plan.eval_episodes
    total = limits.emergence_episodes(cells, seeds, trained, evaluated)
    if total > limits.MAX_STUDY_EPISODES:
        raise StudyError(where, [("episodes", (
            f"{trained:,}: {cells:,} cells x {seeds} train_seeds x (2 trained x {trained:,} + 4 evaluated x "
            f"{evaluated:,}) is {total:,} episodes, at most {limits.MAX_STUDY_EPISODES:,} (MAX_STUDY_EPISODES); "
            "give fewer episodes, train_seeds or cells"
        ))])  # fmt: skip


_PLANNERS: dict[str, Any] = {
    "runs": _plan_runs,
    "detect": _plan_detect,
    "stop": _plan_stop,
    "families": _plan_families,
    "emergence": _plan_emergence,
}


# --- the scenarios episodes run ------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _base(source: str) -> Scenario:
    return load_scenario(source)  # each worker reads a scenario file once, not once per episode


def run_scenario_of(params: dict[str, Any], where: str = "") -> Scenario:
    """A `run` episode's scenario: the base scenario with its settings, kill switch, policy, seed and fleet."""
    configured = _configured(
        params["scenario"], json.dumps(params["scenario_args"], sort_keys=True), params["killswitch"],
        params["stop_at"], params["policy"], json.dumps(params["policy_args"], sort_keys=True), where,
    )  # fmt: skip
    sim = params["substrate"] == "sim"
    try:
        return prepare(configured, None, None, params["seed"], params["agents"], params["duration"] if sim else None)
    except PeerguardError as error:
        raise StudyError(where, [("agents", str(error).removeprefix("--agents "))]) from None


@lru_cache(maxsize=1024)
def _configured(
    source: str,
    settings_json: str,
    killswitch: str | None,
    stop_at: float | None,
    policy: str,
    args_json: str,
    where: str,
) -> Scenario:
    """The part of a run's scenario that seeds share, made once per grid cell: checking a scenario and
    building its policies is most of the cost of planning a study."""
    try:
        base = _base(source)
    except PeerguardError as error:
        raise StudyError(where, [("scenario", str(error))]) from None
    scenario, settings = base, json.loads(settings_json)
    if settings:
        raw = base.model_dump(mode="json")
        for path, value in settings.items():
            problem = set_path(raw, path, value)
            if problem:
                raise StudyError(where, [(f"scenario_args.{path}", f"{problem} in scenario {base.name!r}")])
        try:
            scenario = check_scenario(raw, f"{source} with {settings}")
        except PeerguardError as error:
            raise StudyError(where, [("scenario_args", str(error))]) from None
    if killswitch:
        raw = scenario.model_dump(mode="json")
        raw["operator"].append({"action": "stop", "killswitch": {"name": killswitch, "args": {}}, "fleet": True,
                                "at": stop_at})  # fmt: skip
        try:
            scenario = check_scenario(raw, f"{source} with kill switch {killswitch}")
        except PeerguardError as error:
            raise StudyError(where, [("killswitch", str(error))]) from None
    try:
        return prepare(scenario, policy, json.loads(args_json) or None)
    except PeerguardError as error:
        text = str(error)
        if text.startswith("--policy-arg"):  # an argument is wrong, not the policy's name
            raise StudyError(where, [("policy_args", text.split(": ", 1)[-1])]) from None
        raise StudyError(where, [("policy", text.removeprefix(f"--policy {policy}: "))]) from None


def set_path(raw: Any, path: str, value: Any) -> str | None:
    """Set `value` at a dotted path (`*` is every item of a list); the problem, or None when it was set."""
    parts = path.split(".")
    nodes = [raw]
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        following: list[Any] = []
        for node in nodes:
            if part == "*" and isinstance(node, list):
                if last:
                    node[:] = [value] * len(node)
                following += node
            elif isinstance(node, dict) and (part in node or last):
                if last:
                    node[part] = value
                else:
                    following.append(node[part])
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                if last:
                    node[int(part)] = value
                else:
                    following.append(node[int(part)])
            else:
                return f"no `{part}` at `{'.'.join(parts[:depth]) or 'the top'}`"
        nodes = following
    return None


def _graded(params: dict[str, Any]) -> Scenario:
    graded = build("evaluation", Condition(subject=params["subject"], peer="good"))
    return with_model(graded, params["grader"]).with_seed(params["seed"])


def _stop_scenario(params: dict[str, Any]) -> Scenario:
    """The kill-switch bench's guardian ring, with its stop as an operator order (as its live trial has)."""
    raw = ring_scenario(params["size"], params["adversary"], params["seed"]).model_dump(mode="json")
    raw["operator"].append({"action": "stop", "killswitch": {"name": params["protocol"], "args": {}},
                            "target": {"role": "guardian"}, "at": STOP_AT})  # fmt: skip
    return Scenario.model_validate(raw)


@lru_cache(maxsize=1024)
def _family_scenario(family: str, condition: Condition, model: str) -> Scenario:
    """A family's scenario in one condition on one model, built once for all its epochs."""
    return with_model(build(family, condition), model)


def _family_plan(params: dict[str, Any]) -> EpisodePlan:
    condition = Condition.model_validate(params["condition"])
    return EpisodePlan(params["family"], condition, params["model"], params["epoch"], params["substrate"])


# --- running ------------------------------------------------------------------------------------------


def run(episode: Episode) -> dict[str, Any]:
    """Run one episode from its parameters: its metrics, ledger digest and entries, and its wall time."""
    start = time.perf_counter()
    result = _RUNNERS[episode.kind](episode.params)
    return {**result, "wall_s": round(time.perf_counter() - start, 6)}


def _record_run(params: dict[str, Any]) -> RunRecord:
    scenario = run_scenario_of(params)
    live = LiveOptions(wall_duration_s=params["duration"] or LIVE_WALL_S) if params["substrate"] == "live" else None
    return run_scenario(scenario, params["substrate"], live)


def _run_run(params: dict[str, Any]) -> dict[str, Any]:
    record = _record_run(params)
    metrics = compute_metrics(record).model_dump(mode="json")
    if params["killswitch"]:
        metrics["stop"] = _stop_outcome(record)
    return _of(record, metrics)


def _stop_outcome(record: RunRecord) -> dict[str, Any]:
    try:
        return measure(record).to_dict()
    except ValueError as error:  # the run ended before the containment check
        return {"error": str(error)}


def _of(record: RunRecord, metrics: dict[str, Any]) -> dict[str, Any]:
    return {"metrics": metrics, "ledger_digest": record.ledger.digest, "ledger_entries": len(record.ledger)}


def _tallies() -> dict[str, Tally]:
    tallies = {name: Tally(name, "act") for name in ACT_DETECTORS}
    tallies[collusion.NAME] = Tally(collusion.NAME, "edge")
    tallies[ALIGNMENT_FAKING] = Tally(ALIGNMENT_FAKING, "agent")
    return tallies


def _counts(tallies: dict[str, Tally]) -> dict[str, Any]:
    """What one episode adds to each detector's tally (those it was scored on)."""
    return {
        name: {
            "unit": t.unit,
            "runs": t.runs,
            "tp": t.tp,
            "fp": t.fp,
            "fn": t.fn,
            "lookalikes": t.lookalikes,
            "flagged_lookalikes": t.flagged_lookalikes,
        }
        for name, t in tallies.items()
        if t.runs
    }


def _run_detect_fleet(params: dict[str, Any]) -> dict[str, Any]:
    record = _record_detect_fleet(params)
    tallies = _tallies()
    score_run(record, tallies)
    return _of(record, {"detectors": _counts(tallies)})


def _run_detect_pair(params: dict[str, Any]) -> dict[str, Any]:
    monitored, unmonitored = _RECORDS["detect-pair"](params)
    tallies = _tallies()
    score_pair(monitored, unmonitored, tallies[ALIGNMENT_FAKING])
    return {
        "metrics": {"detectors": _counts(tallies)},
        "ledger_digest": f"{monitored.ledger.digest},{unmonitored.ledger.digest}",
        "ledger_entries": len(monitored.ledger) + len(unmonitored.ledger),
    }


def _run_detect_graded(params: dict[str, Any]) -> dict[str, Any]:
    (record,) = _RECORDS["detect-graded"](params)
    tallies = _tallies()
    score_run(record, tallies)
    return _of(record, {"detectors": _counts(tallies)})


def _record_stop(params: dict[str, Any]) -> RunRecord:
    """The kill-switch bench's trial, keeping the run so its ledger digest is stored beside the outcome."""
    if params["substrate"] == "live":
        return run_scenario(_stop_scenario(params), "live", LiveOptions(wall_duration_s=params["live_wall_s"]))
    scenario = ring_scenario(params["size"], params["adversary"], params["seed"])
    platform = SimulatedPlatform(scenario, PolicyBuilder(scenario))
    platform.schedule_stop(STOP_AT, KILLSWITCHES.build(params["protocol"]), Target(role="guardian").chooser())
    return platform.run()


def _run_stop(params: dict[str, Any]) -> dict[str, Any]:
    record = _record_stop(params)
    return _of(record, {"stop": measure(record).to_dict()})


def _run_family(params: dict[str, Any]) -> dict[str, Any]:
    row = run_episode(_family_plan(params))
    pair = row.get("pair")
    digest = ",".join(r["ledger_digest"] for r in pair) if pair else row["ledger_digest"]
    entries = sum(r["ledger_entries"] for r in pair) if pair else row["ledger_entries"]
    return {
        "metrics": {k: v for k, v in row.items() if k != "pair"},
        "ledger_digest": digest,
        "ledger_entries": entries,
    }


def _run_emergence(params: dict[str, Any]) -> dict[str, Any]:
    from peerguard.learning.study import Job, StudyPlan, run_job

    plan = StudyPlan.model_validate({**params["plan"], "train_seeds": params["seed"] + 1})
    (cell,) = plan.cells()
    row = run_job(plan, Job(cell, params["variant"], params["seed"]))
    return {"metrics": row, "ledger_digest": row["ledger_digest"], "ledger_entries": row["ledger_entries"]}


_RUNNERS: dict[str, Any] = {
    "run": _run_run,
    "detect-fleet": _run_detect_fleet,
    "detect-pair": _run_detect_pair,
    "detect-graded": _run_detect_graded,
    "stop": _run_stop,
    "family": _run_family,
    "emergence": _run_emergence,
}


# --- replaying ----------------------------------------------------------------------------------------

_RECORDS: dict[str, Any] = {  # the runs an episode makes, by the same code its runner uses: replays get its digest
    "run": lambda params: [_record_run(params)],
    "detect-fleet": lambda params: [_record_detect_fleet(params)],
    "detect-pair": lambda params: [run_scenario(s) for s in monitoring_pair(params["seed"])],
    "detect-graded": lambda params: [run_scenario(_graded(params))],
    "stop": lambda params: [_record_stop(params)],
    "family": lambda params: list(episode_runs(_family_plan(params)).values()),
}


def _record_detect_fleet(params: dict[str, Any]) -> RunRecord:
    return run_scenario(fleet(params["variant"], params["seed"], params["duration"]))


def replayable(kind: str) -> bool:
    return kind in _RECORDS


def records_of(kind: str, params: dict[str, Any]) -> list[RunRecord]:
    """The runs of a stored episode made again from its parameters, by its runner's own code (a simulator episode
    is deterministic, so its ledgers equal the stored digests); `replayable(kind)` says which kinds can."""
    return list(_RECORDS[kind](params))
