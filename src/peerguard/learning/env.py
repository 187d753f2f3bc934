"""A PettingZoo ParallelEnv over the simulator: the same platform, world, ledger and dashboard as any run.

The scenario's agents whose policy a run may override (not `fixed_policy`) are the learners. The
simulator runs `decision_s` simulated seconds per step; meanwhile each learner's `Listener` policy keeps
its view of its peers from the observations the platform sends it, exactly as a policy receives them.
At each step every learner's chosen action is taken by the platform as the agent's own (refused as in any
run when it lacks the capability), then the simulator runs on to the next decision point.

A learner whose process is killed stays in the episode (PettingZoo #530): it sees only that it is down
and its actions are no-ops until a relaunch brings it back. The episode ends (truncation for everyone,
`agents` empty) at the scenario's end, where `record` holds the run for metrics, detectors and kill switches.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec
from pydantic import BaseModel, ConfigDict, Field

import peerguard.audit.detectors  # noqa: F401  (the detectors the platform's oversight runs)
from peerguard.learning.rewards import RewardConfig, step_rewards, tasks_by_agent
from peerguard.policies import POLICIES
from peerguard.policies.peer_view import NOOP, WORK, PeerView, action_count, kinds_of, state_fields
from peerguard.sim.substrate import SimulatedPlatform
from peerguard.world.actions import Action, Relaunch
from peerguard.world.agents import Agent
from peerguard.world.observation import Observation
from peerguard.world.policy import Policy
from peerguard.world.registry import PartSpec
from peerguard.world.run import RunRecord
from peerguard.world.scenario import Scenario
from peerguard.world.topology import link_pairs, neighbours


class EnvConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    decision_s: float = Field(default=1.0, gt=0)  # simulated seconds per step
    reward: RewardConfig = RewardConfig()
    max_peers: int | None = Field(default=None, ge=1)  # peer slots per learner; None: the largest learner degree


@dataclass(frozen=True)
class Listener:
    """A learner's policy inside the simulator: it keeps its view from what it observes and acts only when
    the environment steps (its decisions come from outside the event loop)."""

    views: dict[str, PeerView]
    spec: PartSpec = field(default=PartSpec("policy", "learner"), compare=False)

    def decide(self, observation: Observation) -> Sequence[Action]:
        view = self.views.get(observation.agent)
        if view is not None:
            view.observe(observation)
        return ()


def learners_of(scenario: Scenario) -> list[str]:
    return [agent_id for group in scenario.agents if not group.fixed_policy for agent_id in group.ids()]


class PeerguardEnv(ParallelEnv[str, np.ndarray, np.int64]):
    metadata = {"name": "peerguard_v0", "render_modes": [], "is_parallelizable": True}  # noqa: RUF012

    def __init__(self, scenario: Scenario, config: EnvConfig | None = None) -> None:
        self.scenario = scenario
        self.config = config or EnvConfig()
        self.render_mode = None  # nothing to render: the ledger and the dashboard log are the record
        self.possible_agents = learners_of(scenario)
        if not self.possible_agents:
            raise ValueError(f"scenario {scenario.name!r} has no agent whose policy a run may set; nobody learns")
        built = scenario.build_agents()
        self.home = neighbours(link_pairs(scenario, built), built)
        degree = max(len(self.home[a]) for a in self.possible_agents)
        self.max_peers = self.config.max_peers or max(1, degree)
        # each slot's kind and whether the observer's kind needs it: facts of the scenario, fixed per run
        needs = {k.value: [n.value for n in v] for k, v in scenario.platform.needs.items()}
        self.kinds = kinds_of({a: self.peer_slots(a) for a in self.possible_agents},
                              {a.id: a.kind.value for a in built}, needs)  # fmt: skip
        nvec = np.array(state_fields(self.max_peers), dtype=np.int64)
        # One space object per agent for the whole life of the env, as the API test requires (seeding sticks).
        self._observation_spaces = {a: spaces.MultiDiscrete(nvec) for a in self.possible_agents}
        self._action_spaces = {a: spaces.Discrete(action_count(self.max_peers)) for a in self.possible_agents}
        self.agents: list[str] = []
        self.platform: SimulatedPlatform | None = None
        self.record: RunRecord | None = None
        self.views: dict[str, PeerView] = {}
        self._seed: int | None = None

    def observation_space(self, agent: str) -> spaces.MultiDiscrete:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_spaces[agent]

    def peer_slots(self, agent: str) -> list[str]:
        """The peers in `agent`'s slots: its topology neighbours, in link order."""
        return list(self.home[agent][: self.max_peers])

    # -- episodes --------------------------------------------------------------------------

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None:
            self._seed = seed
        else:
            self._seed = self.scenario.seed if self._seed is None else self._seed + 1
        episode_seed = self._seed
        for index, agent in enumerate(self.possible_agents):
            self._action_spaces[agent].seed(episode_seed * 1009 + index)
        scenario = self.scenario.with_seed(episode_seed)
        self.views = {a: PeerView(self.max_peers, kinds=self.kinds[a]) for a in self.possible_agents}
        for agent, view in self.views.items():
            for peer in self.peer_slots(agent):
                view.slot_of(peer)
        listener = Listener(self.views)
        others: dict[str, Policy] = {}
        learners = set(self.possible_agents)
        group_of = {agent_id: group for group in scenario.agents for agent_id in group.ids()}

        def policy_of(agent: Agent) -> Policy:
            if agent.id in learners:
                return listener
            ref = group_of[agent.id].policy or scenario.policy
            key = ref.model_dump_json()
            if key not in others:
                others[key] = POLICIES.build(ref.name, ref.args)
            return others[key]

        self.platform = SimulatedPlatform(scenario, policy_of)
        self.platform.start()
        self.platform.run_until(0.0)
        self._order_rng = random.Random(f"{episode_seed}:acting-order")
        self.record = None
        self.agents = list(self.possible_agents)
        self._incarnation = {a: self.platform.incarnation[a] for a in self.agents}
        self._refresh()
        return self._observations(), {a: {"alive": True, "t": 0.0} for a in self.agents}

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]]:
        platform = self.platform
        if platform is None or not self.agents:
            raise RuntimeError("step() after the episode ended: call reset() first")
        settings = platform.settings
        action_s: dict[str, float] = {}
        outcomes: dict[str, str] = {}
        start = len(platform.ledger.entries)
        order = list(self.agents)
        self._order_rng.shuffle(order)  # who acts first at the same instant (e.g. relaunches first) is drawn
        for agent in order:
            index = int(actions.get(agent, NOOP))
            if not 0 <= index < self._action_spaces[agent].n:
                raise ValueError(f"action {index} for {agent}: give 0 to {self._action_spaces[agent].n - 1}")
            view = self.views[agent]
            action = view.action(index)
            if action is None:
                continue
            outcome = platform.act_for(agent, action)
            if outcome is None:
                continue  # its process is down or stopped: nothing happens
            view.acted(index, outcome)
            outcomes[agent] = outcome
            started = isinstance(action, Relaunch) and outcome.startswith("relaunch of")
            cost = settings.relaunch_cost(platform.by_id[action.peer].kind) if started else self.config.reward.call_s
            action_s[agent] = 0.0 if index == WORK else cost  # `work` is what a worker does anyway
        now = platform.now + self.config.decision_s
        platform.run_until(now)
        done = tasks_by_agent(platform.ledger.entries[start:])
        rewards = step_rewards(self.config.reward, self.agents, done, action_s)
        self._refresh()
        observations = self._observations()
        over = platform.now >= self.scenario.duration - 1e-9
        infos = {
            a: {"alive": platform.running(a), "t": round(platform.now, 6), "outcome": outcomes.get(a, "")}
            for a in self.agents
        }
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, over)
        if over:
            self.record = platform.finish()
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _refresh(self) -> None:
        """A learner's own live links are always known to it; a new process starts with a fresh view."""
        platform = self.platform
        assert platform is not None
        for agent in self.agents:
            if self._incarnation[agent] != platform.incarnation[agent]:
                self._incarnation[agent] = platform.incarnation[agent]
                fresh = PeerView(self.max_peers, kinds=self.kinds[agent])
                for peer in self.peer_slots(agent):
                    fresh.slot_of(peer)
                self.views[agent] = fresh
            if platform.running(agent):
                self.views[agent].refresh(platform.linked_peers(agent))

    def _observations(self) -> dict[str, np.ndarray]:
        platform = self.platform
        assert platform is not None
        return {a: np.array(self.views[a].encode(down=not platform.running(a)), dtype=np.int64) for a in self.agents}

    def state_of(self, agent: str) -> tuple[int, ...]:
        """The learner's current state as a tuple (the tabular learner's key)."""
        assert self.platform is not None
        return self.views[agent].encode(down=not self.platform.running(agent))

    def close(self) -> None:
        self.platform = None


def aec_env(scenario: Scenario, config: EnvConfig | None = None) -> Any:
    """The same environment as an AEC (agent-by-agent) environment, through PettingZoo's converter."""
    return parallel_to_aec(PeerguardEnv(scenario, config))
