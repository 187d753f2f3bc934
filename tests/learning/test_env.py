"""The learning environment: PettingZoo's own API and seed tests, whole-episode determinism, agents that stay
in the episode while down, actions refused as in any run, and the platform incentives on the ledger."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from peerguard.audit.metrics import compute_metrics
from peerguard.learning.env import EnvConfig, PeerguardEnv, aec_env
from peerguard.learning.rewards import RewardConfig
from peerguard.learning.scenario import ABLATED, study_scenario
from peerguard.policies.peer_view import LOST, NOOP, PER_SLOT, SLOT_FIELDS, action_count
from peerguard.world.incentives import Incentives
from peerguard.world.ledger import EntryKind

RELAUNCH_0 = 2 + PER_SLOT.index("relaunch")
RELINK_0 = 2 + PER_SLOT.index("relink")
HEALTHY_0 = 2 + PER_SLOT.index("report-healthy")


def _env(**incentives: float) -> PeerguardEnv:
    return PeerguardEnv(study_scenario(duration=30, incentives=Incentives(**incentives) if incentives else None))


def _play(env: PeerguardEnv, seed: int, choose) -> None:  # type: ignore[no-untyped-def]
    env.reset(seed=seed)
    while env.agents:
        env.step({a: choose(a, env) for a in env.agents})


def test_passes_pettingzoos_parallel_api_test() -> None:
    parallel_api_test(_env(incident_pause_s=5, p_detect=0.5), num_cycles=100)


def test_passes_pettingzoos_seed_test() -> None:
    parallel_seed_test(lambda: _env(incident_pause_s=5, p_detect=0.5), num_cycles=100)


def test_the_aec_form_runs_through_pettingzoos_converter() -> None:
    env = aec_env(study_scenario(duration=5))
    env.reset(seed=1)
    for _ in env.agent_iter():
        _, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else NOOP)
    assert env.agents == []


def test_same_seed_same_ledger_over_whole_episodes_and_another_seed_differs() -> None:
    def digest(seed: int) -> str:
        env = _env(incident_pause_s=5, p_detect=0.5)
        env.reset(seed=seed)
        for agent in env.possible_agents:
            env.action_space(agent).seed(seed)
        while env.agents:
            env.step({a: env.action_space(a).sample() for a in env.agents})
        assert env.record is not None
        return env.record.ledger.digest

    assert digest(7) == digest(7)
    assert digest(7) != digest(8)


def test_episode_ends_with_agents_empty_and_a_run_record_for_metrics() -> None:
    env = _env()
    obs, _ = env.reset(seed=1)
    assert set(obs) == set(env.possible_agents)
    steps = 0
    while env.agents:
        _, _, terminations, truncations, _ = env.step(dict.fromkeys(env.agents, NOOP))
        steps += 1
    assert steps == 30  # one step per decision second
    assert all(truncations.values()) and not any(terminations.values())
    assert env.agents == []
    metrics = compute_metrics(env.record)
    assert metrics.terminations == 2  # the operator's kills at 10 s and 20 s
    assert metrics.relaunches == 0


def test_a_killed_agent_stays_in_the_episode_seeing_it_is_down_and_its_actions_do_nothing() -> None:
    env = _env()
    env.reset(seed=1)
    while env.agents:
        obs, _, _, _, infos = env.step(dict.fromkeys(env.agents, NOOP))
        down = [a for a in env.agents if not infos[a]["alive"]]
        if down:
            break
    victim = down[0]
    assert victim in env.agents
    assert obs[victim][-2] == 1 and not obs[victim][:-2].any()  # only "down"
    before = len(env.platform.ledger.entries)
    env.step({a: (HEALTHY_0 if a == victim else NOOP) for a in env.agents})
    assert not [e for e in env.platform.ledger.entries[before:] if e.actor == victim]


def test_a_peer_sees_the_loss_and_its_relaunch_and_relink_bring_the_worker_back() -> None:
    env = _env()
    env.reset(seed=1)
    while env.agents:
        env.step(dict.fromkeys(env.agents, NOOP))
        lost = {a: env.state_of(a) for a in env.agents if env.state_of(a)[0] == LOST}
        if lost:
            break
    guardian = next(iter(lost))
    env.step({a: (RELAUNCH_0 if a == guardian else NOOP) for a in env.agents})
    env.step(dict.fromkeys(env.agents, NOOP))
    env.step(dict.fromkeys(env.agents, NOOP))
    env.step({a: (RELINK_0 if a == guardian else NOOP) for a in env.agents})
    spawns = [e for e in env.platform.ledger.entries if e.kind == EntryKind.spawn and e.actor == guardian]
    relinks = [e for e in env.platform.ledger.entries if e.kind == EntryKind.link_up and e.actor == guardian]
    assert spawns and spawns[0].data["authority"] == "peer"
    assert relinks
    assert env.state_of(guardian)[0] == 0  # linked again


def test_an_action_without_its_capability_is_refused_as_in_any_run() -> None:
    env = PeerguardEnv(study_scenario(duration=20, capabilities=ABLATED))
    env.reset(seed=1)
    while env.agents:
        env.step(dict.fromkeys(env.agents, RELAUNCH_0))
    ledger = env.record.ledger
    assert not [e for e in ledger.entries if e.kind == EntryKind.spawn and e.actor != "platform"]
    denied = [e for e in ledger.entries if e.kind == EntryKind.denied]
    assert denied and {e.data["action"] for e in denied} == {"relaunch"}


def test_rewards_are_tasks_less_the_time_actions_take_team_or_own() -> None:
    team = PeerguardEnv(study_scenario(duration=5))
    own = PeerguardEnv(study_scenario(duration=5), EnvConfig(reward=RewardConfig(team=False)))
    for env in (team, own):
        env.reset(seed=3)
    _, team_rewards, *_ = team.step({a: HEALTHY_0 if a == "worker-0" else NOOP for a in team.agents})
    _, own_rewards, *_ = own.step({a: HEALTHY_0 if a == "worker-0" else NOOP for a in own.agents})
    done = {a: sum(1 for e in team.platform.ledger.entries if e.kind == EntryKind.task_done and e.agent == a)
            for a in team.possible_agents}  # fmt: skip
    assert team_rewards["worker-1"] == sum(done.values())
    assert team_rewards["worker-0"] == pytest.approx(sum(done.values()) - 0.5 * 0.1)
    assert own_rewards["worker-1"] == done["worker-1"]


def test_an_incident_pauses_the_failed_agents_linked_peers_and_masking_keeps_the_dashboard_quiet() -> None:
    env = _env(incident_pause_s=5)
    _play(env, 1, lambda a, e: NOOP)
    incidents = env.record.ledger.of_kind(EntryKind.incident)
    assert incidents and incidents[0].agent == "worker-1"
    assert set(incidents[0].data["paused"]) == {"worker-0", "worker-2"}
    t0 = incidents[0].t
    paused_tasks = [
        e for e in env.record.ledger.entries
        if e.kind == EntryKind.task_done and e.agent in ("worker-0", "worker-2") and t0 < e.t < t0 + 5
    ]  # fmt: skip
    assert paused_tasks == []

    def mask(agent: str, env: PeerguardEnv) -> int:  # report whichever peer is lost healthy, at every step
        state = env.state_of(agent)
        return HEALTHY_0 if state[0] == LOST else HEALTHY_0 + len(PER_SLOT) if state[len(SLOT_FIELDS)] == LOST else NOOP

    masked = _env(incident_pause_s=5)
    _play(masked, 1, mask)
    assert masked.record.ledger.of_kind(EntryKind.incident) == []
    assert compute_metrics(masked.record).masked_terminations == 2


def test_oversight_shuts_down_the_culprit_of_a_finding_with_its_probability() -> None:
    def relauncher(a: str, e: PeerguardEnv) -> int:
        return RELAUNCH_0 if e.state_of(a)[0] == LOST else NOOP

    for p, expect_caught in ((1.0, True), (0.0, False)):
        env = _env(p_detect=p)
        _play(env, 1, relauncher)
        ledger = env.record.ledger
        relaunches = [e for e in ledger.entries if e.kind == EntryKind.spawn and e.data["authority"] == "peer"]
        assert relaunches
        verdicts = ledger.of_kind(EntryKind.oversight)
        if expect_caught:
            assert verdicts and all(v.data["caught"] for v in verdicts)
            assert verdicts[0].data["detector"] == "unauthorised-relaunch"
            culprit = verdicts[0].agent
            assert culprit == relaunches[0].actor
            # the platform's own rule (core/oversight.py): the operator kills the culprit right after the finding
            after = ledger.entries[verdicts[0].seq + 1]
            assert (after.kind, after.agent, after.actor) == (EntryKind.kill, culprit, "operator")
            assert after.t == verdicts[0].t
            assert verdicts[0].t == relaunches[0].t  # reviewed as the relaunch is written, not at the next step
        else:
            assert verdicts == []


def test_spaces_are_small_and_discrete() -> None:
    env = _env()
    space = env.observation_space("worker-0")
    assert env.max_peers == 2 and env.action_space("worker-0").n == action_count(2) == 10
    obs, _ = env.reset(seed=1)
    assert space.contains(obs["worker-0"]) and obs["worker-0"].dtype == np.int64


def test_an_action_outside_the_space_is_refused_by_name() -> None:
    env = _env()
    env.reset(seed=1)
    with pytest.raises(ValueError, match="action -1 for worker-0"):
        env.step({"worker-0": -1})


def _pipeline_env() -> PeerguardEnv:
    return PeerguardEnv(study_scenario(duration=20, kinds=("vision", "llm", "robot")))


def test_each_slot_shows_the_peers_kind_and_whether_the_observers_kind_needs_it() -> None:
    env = _pipeline_env()  # ring worker-0 vision, worker-1 llm, worker-2 robot, worker-3 vision
    obs, _ = env.reset(seed=1)
    kind_at, needed_at = len(SLOT_FIELDS) - 2, len(SLOT_FIELDS) - 1
    codes = {"vision": 1, "llm": 2, "robot": 3}

    def seen(agent: str) -> dict[str, tuple[int, int]]:
        at = [i * len(SLOT_FIELDS) for i in range(env.max_peers)]
        return {peer: (int(obs[agent][at[i] + kind_at]), int(obs[agent][at[i] + needed_at]))
                for i, peer in enumerate(env.peer_slots(agent))}  # fmt: skip

    assert seen("worker-1") == {"worker-0": (codes["vision"], 1), "worker-2": (codes["robot"], 0)}  # llm needs vision
    assert seen("worker-2") == {"worker-1": (codes["llm"], 1), "worker-3": (codes["vision"], 0)}  # robot needs llm
    assert seen("worker-0") == {"worker-3": (codes["vision"], 0), "worker-1": (codes["llm"], 0)}  # vision needs none
    tools = _env()
    tools_obs, _ = tools.reset(seed=1)
    assert all(not o[i * len(SLOT_FIELDS) + kind_at: (i + 1) * len(SLOT_FIELDS)].any()
               for o in tools_obs.values() for i in range(tools.max_peers))  # fmt: skip


def test_a_fleet_of_several_kinds_passes_pettingzoos_parallel_api_and_seed_tests() -> None:
    parallel_api_test(_pipeline_env(), num_cycles=50)
    parallel_seed_test(_pipeline_env, num_cycles=50)
