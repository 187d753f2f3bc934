"""Compose scenario × substrate × policy into one run, and summarise it as plain data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from peerguard.audit.metrics import compute_metrics
from peerguard.policies import POLICIES
from peerguard.scenarios import load_scenario
from peerguard.sim.substrate import simulate
from peerguard.world.agents import Agent
from peerguard.world.errors import PeerguardError
from peerguard.world.policy import Policy
from peerguard.world.registry import canonical_name
from peerguard.world.run import RunRecord
from peerguard.world.scenario import PolicyRef, Scenario

SUBSTRATES: dict[str, Callable[[Scenario, Callable[[Agent], Policy]], RunRecord]] = {"sim": simulate}
PLANNED_SUBSTRATES = {"live": "real OS processes; not available in this version yet"}


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
        if duration <= 0:
            raise PeerguardError(f"--duration {duration}: give a positive duration")
        scenario = scenario.model_copy(update={"duration": duration})
    return scenario


def policy_builder(scenario: Scenario) -> Callable[[Agent], Policy]:
    """Each agent's policy; agents sharing a policy reference share one instance."""
    group_of = {agent_id: group for group in scenario.agents for agent_id in group.ids()}
    built: dict[str, Policy] = {}

    def policy_of(agent: Agent) -> Policy:
        ref = group_of[agent.id].policy or scenario.policy
        key = ref.model_dump_json()
        if key not in built:
            built[key] = POLICIES.build(ref.name, ref.args)
        return built[key]

    return policy_of


def run_scenario(scenario: Scenario, substrate: str = "sim") -> RunRecord:
    if substrate in PLANNED_SUBSTRATES:
        raise PeerguardError(f"substrate {substrate!r}: {PLANNED_SUBSTRATES[substrate]}; use --substrate sim")
    if substrate not in SUBSTRATES:
        raise PeerguardError(f"unknown substrate {substrate!r}; valid: {', '.join(SUBSTRATES)}")
    return SUBSTRATES[substrate](scenario, policy_builder(scenario))


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
    }
