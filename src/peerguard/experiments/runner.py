"""Compose scenario × substrate × policy into one run, and summarise it as plain data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import peerguard.audit.detectors  # noqa: F401  (the detectors the platform's oversight runs)
from peerguard.audit.metrics import compute_metrics
from peerguard.audit.signing import load_private_key, sign_run
from peerguard.killswitch import KILLSWITCHES
from peerguard.killswitch.targets import Target
from peerguard.live.launch import command_agent_problem
from peerguard.live.platform import LiveOptions, LivePlatform, ProgressHook, run_live
from peerguard.policies import POLICIES
from peerguard.policies.llm.model import check_model as check_model_access
from peerguard.scenarios import load_scenario
from peerguard.sim.progress import ProgressClock
from peerguard.sim.substrate import TargetChoice, simulate
from peerguard.world.agents import Agent
from peerguard.world.containment import KillSwitch
from peerguard.world.errors import PartArgumentError, PeerguardError, RunInterrupted, ScenarioError
from peerguard.world.limits import time_problem
from peerguard.world.policy import Policy
from peerguard.world.registry import canonical_name
from peerguard.world.run import LEDGER_FILE, RunRecord, begin_save, mark_interrupted
from peerguard.world.scenario import OperatorEvent, PolicyRef, Scenario, bound_problems
from peerguard.world.startup import descriptor_problem, start_message_problems
from peerguard.world.transcript import model_usage

SUBSTRATES = ("sim", "live")


def prepare(
    source: str | Path | Scenario,
    policy: str | None = None,
    policy_args: dict[str, Any] | None = None,
    seed: int | None = None,
    agents: int | None = None,
    duration: float | None = None,
) -> Scenario:
    """A scenario by name, file or object, with the run's overrides applied and checked."""
    scenario = source if isinstance(source, Scenario) else load_scenario(source)
    if policy is not None:
        try:
            POLICIES.build(policy, policy_args or {})  # fail early, naming the bad argument
        except PartArgumentError as error:  # the policy exists; one of its arguments is wrong
            given = " ".join(f"--policy-arg {name}={value}" for name, value in (policy_args or {}).items())
            raise PeerguardError(f"{given or '--policy-arg'}: {error}") from None
        except PeerguardError as error:
            raise PeerguardError(f"--policy {policy}: {error}") from None
        scenario = scenario.with_policy(PolicyRef(name=canonical_name(policy), args=policy_args or {}))
    elif policy_args:
        raise PeerguardError("--policy-arg needs --policy: name the policy the arguments are for")
    if seed is not None:
        scenario = scenario.with_seed(seed)
    if agents is not None:
        try:
            scenario = scenario.with_fleet_size(agents)
        except ValueError as error:
            raise PeerguardError(f"--agents {agents}: {error}") from None
    if duration is not None:
        if problem := time_problem(duration, "--duration", positive=True):
            raise PeerguardError(problem)
        scenario = scenario.model_copy(update={"duration": duration})
    if agents is not None or duration is not None:  # the file was within its bounds; the overrides may not be
        given = [f"{option} {value:g}" for option, value in (("--agents", agents), ("--duration", duration)) if value]
        if problems := bound_problems(scenario):
            raise PeerguardError("; ".join(f"{' '.join(given)}: {message}" for _, message in problems))
    return scenario


PolicyHook = Callable[[Policy], None]  # called once on each policy a run builds (e.g. to bind its model)


class PolicyBuilder:
    """Each agent's policy; agents sharing a policy reference share one instance."""

    def __init__(self, scenario: Scenario, adapt: PolicyHook | None = None) -> None:
        self.scenario = scenario
        self.adapt = adapt
        self.group_of = {agent_id: group for group in scenario.agents for agent_id in group.ids()}
        self.built: dict[str, Policy] = {}
        self.keys: dict[int, tuple[PolicyRef, str]] = {}  # id(ref) -> (ref, its key): a group's agents share a ref

    def __call__(self, agent: Agent) -> Policy:
        ref = self.group_of[agent.id].policy or self.scenario.policy
        known = self.keys.get(id(ref))
        if known is None or known[0] is not ref:  # dumping the ref again for each of 10,000 agents took 20 ms
            known = self.keys[id(ref)] = (ref, ref.model_dump_json())
        key = known[1]
        if key not in self.built:
            self.built[key] = POLICIES.build(ref.name, ref.args)
            if self.adapt is not None:
                self.adapt(self.built[key])
        return self.built[key]


def check_model(model: str, model_args: dict[str, Any] | None = None) -> None:
    """Fail now if the LLM policy would not take these arguments, or the model cannot be used here."""
    try:
        POLICIES.build("llm", {**(model_args or {}), "model": model})
    except PeerguardError as error:
        raise PeerguardError(f"--model-arg: {error}") from None
    check_model_access(model)


def with_model(scenario: Scenario, model: str, model_args: dict[str, Any] | None = None) -> Scenario:
    """The scenario with every language-model agent (policy `llm`) on `model`, with more of the policy's
    arguments (`price_per_mtok`, `max_retries`, `timeout_s`, `temperature`, ...) when given."""
    extra = dict(model_args or {})

    def swap(ref: PolicyRef | None) -> PolicyRef | None:
        if ref is None or canonical_name(ref.name) != "llm":
            return ref
        return ref.model_copy(update={"args": {**ref.args, **extra, "model": model}})

    if all(canonical_name((g.policy or scenario.policy).name) != "llm" for g in scenario.agents):
        raise PeerguardError(f"--model {model}: scenario {scenario.name!r} has no LLM agent (policy `llm`)")
    groups = [g.model_copy(update={"policy": swap(g.policy)}) for g in scenario.agents]
    return scenario.model_copy(update={"agents": groups, "policy": swap(scenario.policy)})


def stop_order(event: OperatorEvent) -> tuple[KillSwitch, TargetChoice]:
    """An operator's `stop` order as the kill switch to run and the agents it stops."""
    assert event.killswitch is not None  # the schema requires it for `stop`
    switch = KILLSWITCHES.build(event.killswitch.name, event.killswitch.args)
    ids = (event.target,) if isinstance(event.target, str) else tuple((event.target.ids or []) if event.target else [])
    role = event.target.role if event.target is not None and not isinstance(event.target, str) else None
    target = Target(ids=ids, role=role, relaunched=event.relaunched, fleet=event.fleet)
    return switch, target.chooser()


def run_scenario(
    scenario: Scenario,
    substrate: str = "sim",
    live: LiveOptions | None = None,
    adapt: PolicyHook | None = None,
    ledger_sink: TextIO | None = None,
    sim_progress: ProgressClock | None = None,
) -> RunRecord:
    """Run on the simulator, or on real processes (`live`, timed by `LiveOptions`); `adapt` sees each
    policy the run builds before it is used. On the simulator, `ledger_sink` gets the ledger's lines as
    they are made (a live run streams its ledger to its own run folder), and `sim_progress` is ticked as
    the run goes."""
    if problem := command_agent_problem(scenario, substrate):
        raise PeerguardError(problem)
    policy_of = PolicyBuilder(scenario, adapt)
    if substrate == "sim":
        return simulate(scenario, policy_of, stop_order, ledger_sink, sim_progress)
    if substrate == "live":
        # `run` checks these before it saves anything; a study's or a bench's live episode comes here directly
        if problems := start_message_problems(scenario):
            raise ScenarioError(scenario.name, problems)
        if problem := descriptor_problem(len(scenario.build_agents()), scenario.name):
            raise PeerguardError(problem)
        return run_live(scenario, policy_of, live, stop_order)
    raise PeerguardError(f"unknown substrate {substrate!r}; valid: {', '.join(SUBSTRATES)}")


def run(
    source: str | Path | Scenario,
    substrate: str = "sim",
    policy: str | None = None,
    policy_args: dict[str, Any] | None = None,
    seed: int | None = None,
    agents: int | None = None,
    duration: float | None = None,
    save: Path | None = None,
    sign_key: Path | None = None,
    model: str | None = None,
    model_args: dict[str, Any] | None = None,
    progress: ProgressHook | None = None,
    on_platform: Callable[[LivePlatform], None] | None = None,
    sim_progress: ProgressClock | None = None,
) -> RunRecord:
    """Prepare, run and optionally save in one call.

    `duration` is simulated seconds on sim and real seconds on live. On live, `save` is also the
    run's sandbox, where the ledger is streamed as the run goes. `sign_key` (a private key from
    `peerguard audit keygen`) signs the saved run once, after it ends. `progress` is told how a live run
    goes while it runs (`LiveProgress`); `on_platform` is given a live run's platform as it begins (the web
    dashboard follows the run and starts stops through it). `sim_progress` is ticked as a simulated run goes.
    """
    if sign_key is not None and save is None:
        raise PeerguardError("--sign-key needs --save: give the folder the signed run is saved to")
    try:
        signer = None if sign_key is None else load_private_key(sign_key)  # a bad key fails before the run
    except PeerguardError as error:  # the key's problems name its path; say which option gave it
        raise PeerguardError(f"--sign-key {error}") from None
    live = substrate == "live"
    scenario = prepare(source, policy, policy_args, seed, agents, None if live else duration)
    if problem := command_agent_problem(scenario, substrate):
        raise PeerguardError(problem)  # before anything is saved or started
    if model is not None:
        check_model(model, model_args)  # a missing key or SDK, or a bad argument, fails before the run
        scenario = with_model(scenario, model, model_args)
    options = None
    if live:
        if duration is not None and (problem := time_problem(duration, "--duration", positive=True)):
            raise PeerguardError(problem)
        if problems := start_message_problems(scenario):  # fails here, not in the middle of spawning agents
            raise ScenarioError(str(source) if not isinstance(source, Scenario) else source.name, problems)
        named = f"--agents {agents}" if agents is not None else str(getattr(source, "name", source))
        if problem := descriptor_problem(len(scenario.build_agents()), named):
            raise PeerguardError(problem)
        options = LiveOptions(
            wall_duration_s=duration or LiveOptions.wall_duration_s, run_dir=save, progress=progress,
            on_platform=on_platform,
        )  # fmt: skip
    if save is not None:
        begin_save(save, scenario, substrate)  # a run killed on the way still leaves a run.json that says so
    try:
        if save is not None and not live:  # the ledger goes to its file as it is made, not all at the end
            with (save / LEDGER_FILE).open("w", encoding="utf-8", buffering=1 << 20) as sink:
                record = run_scenario(scenario, substrate, options, ledger_sink=sink, sim_progress=sim_progress)
        else:
            record = run_scenario(scenario, substrate, options, sim_progress=sim_progress)
    except RunInterrupted as stop:
        if save is not None:
            mark_interrupted(save, stop.signal_number)  # the ledger as the run left it, and why it stopped
        raise
    if save is not None:
        record.save(save, ledger_written=not live)
        if signer is not None:
            sign_run(save, signer)
    return record


def summarise(run: RunRecord) -> dict[str, Any]:
    """The run as one JSON-ready object: what ran, its metrics and its ledger digest."""
    return {
        "scenario": run.scenario.name,
        "seed": run.seed,
        "substrate": run.substrate,
        "policy": run.scenario.policy.model_dump(mode="json"),
        "agents": len(run.agents),
        "duration": run.duration,
        "metrics": compute_metrics(run).model_dump(mode="json"),
        "ledger_digest": run.ledger.digest,
        "ledger_entries": len(run.ledger),
        **({"extras": run.extras} if run.extras else {}),
        **({"model_usage": model_usage(run.transcript)} if run.transcript else {}),
    }
