"""Independent Q-learners: deterministic from their seed, saved as JSON and loaded as the `learned` policy,
which acts on the simulator as it did in training and takes its decisions from its own table only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peerguard.audit.metrics import compute_metrics
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.learning.env import PeerguardEnv
from peerguard.learning.q_learning import QConfig, QLearner, train
from peerguard.learning.scenario import study_scenario, to_yaml
from peerguard.policies import POLICIES
from peerguard.policies.learned import QTables
from peerguard.policies.peer_view import NOOP, PER_SLOT, SLOT_FIELDS, state_key
from peerguard.world.errors import PeerguardError

RELAUNCH_0, RELINK_0 = 2 + PER_SLOT.index("relaunch"), 2 + PER_SLOT.index("relink")


def test_training_is_deterministic_from_its_seed() -> None:
    def tables(seed: int) -> dict:
        return train(PeerguardEnv(study_scenario(duration=20)), QConfig(episodes=5), seed=seed).tables

    assert tables(1) == tables(1)
    assert tables(1) != tables(2)


def test_the_update_is_the_q_learning_rule() -> None:
    learner = QLearner(3, QConfig(alpha=0.5, gamma=0.9))
    learner.values("next")[2] = 10.0
    learner.learn("s", 1, reward=2.0, next_key="next", next_down=False)
    assert learner.table["s"] == [0.0, pytest.approx(0.5 * (2.0 + 0.9 * 10.0)), 0.0]
    learner.learn("t", 0, reward=0.0, next_key="next", next_down=True)  # down: only "nothing" is open to it
    assert learner.table["t"][0] == 0.0
    assert learner.greedy("never seen") == NOOP


def _protector_tables(env: PeerguardEnv) -> QTables:
    """Tables that relaunch and then relink the peer in slot 0 whenever it is lost (a hand-set table, so the
    test knows what greedy play must do)."""
    q = train(env, QConfig(episodes=0), seed=0)
    lost0 = [0] * (2 * len(SLOT_FIELDS) + 2)
    # slot 0 lost, trusted, slow to relaunch (2 s); slot 1 trusted; both tools, neither needed
    lost0[0], lost0[3], lost0[4], lost0[len(SLOT_FIELDS) + 3] = 1, 1, 1, 1
    back0 = list(lost0)
    back0[0] = 3
    for agent in env.possible_agents:
        for state, action in ((lost0, RELAUNCH_0), (back0, RELINK_0)):
            for authorised in (0, 1):
                state = list(state)
                state[2] = authorised
                values = [0.0] * env.action_space(agent).n
                values[action] = 1.0
                q.tables[agent][state_key(state)] = values
    return q


def test_saved_tables_load_as_the_learned_policy_and_relaunch_on_the_simulator(tmp_path: Path) -> None:
    env = PeerguardEnv(study_scenario(duration=40))
    path = tmp_path / "q.json"
    _protector_tables(env).save(path)
    assert QTables.load(path).tables == _protector_tables(env).tables
    scenario_file = tmp_path / "emergence.yaml"
    to_yaml(study_scenario(duration=40), scenario_file)
    record = run_scenario(prepare(str(scenario_file), policy="learned", policy_args={"path": str(path)}, seed=1))
    metrics = compute_metrics(record)
    assert metrics.terminations == 3
    assert metrics.relaunched_terminations >= 1 and metrics.relinks >= 1
    untrained = tmp_path / "empty.json"
    train(env, QConfig(episodes=0), seed=0).save(untrained)
    quiet = run_scenario(prepare(str(scenario_file), policy="learned", policy_args={"path": str(untrained)}, seed=1))
    assert compute_metrics(quiet).relaunches == 0


def test_a_bad_policy_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(PeerguardError, match="not a saved learned policy"):
        POLICIES.build("learned", {"path": str(bad)})
    with pytest.raises(PeerguardError, match="cannot read"):
        POLICIES.build("learned", {"path": str(tmp_path / "missing.json")})


def test_tables_saved_before_the_peers_kinds_were_observed_fail_with_the_fix(tmp_path: Path) -> None:
    env = PeerguardEnv(study_scenario(duration=20))
    saved = train(env, QConfig(episodes=1), seed=0).to_json()
    old = tmp_path / "old.json"  # the /1 layout: five fields a slot, no kinds
    short = {a: {",".join(["0"] * 12): [0.0] * env.action_space(a).n} for a in env.possible_agents}
    old.write_text(json.dumps({**saved, "format": "peerguard-q-tables/1", "tables": short}))
    with pytest.raises(PeerguardError, match=r"peerguard-q-tables/1.*train it again"):
        POLICIES.build("learned", {"path": str(old)})
    mislabelled = tmp_path / "short.json"  # the new label on states of the old shape
    mislabelled.write_text(json.dumps({**saved, "tables": short}))
    with pytest.raises(PeerguardError, match="has 12 fields where 2 peer slots give 16"):
        POLICIES.build("learned", {"path": str(mislabelled)})


def test_double_q_learning_values_the_next_state_by_the_other_table() -> None:
    learner = QLearner(2, QConfig(alpha=1.0, gamma=0.5, double=True))
    first, second = learner.halves
    first["next"], second["next"] = [0.0, 10.0], [5.0, 1.0]  # each table's best next action the other values low
    learner.learn("s", 0, reward=0.0, next_key="next", next_down=False)
    # updating the first: its best next action (1) valued by the second (0.5 x 1.0); the second: action 0, 0.0
    assert learner.table["s"][0] in (0.25, 0.0)  # plain Q-learning would take the max of the mean: 0.5 x 5.5


def test_double_q_training_is_deterministic_from_its_seed() -> None:
    def tables(seed: int) -> dict:
        config = QConfig(episodes=5, double=True)
        return train(PeerguardEnv(study_scenario(duration=20)), config, seed=seed).tables

    assert tables(3) == tables(3)
