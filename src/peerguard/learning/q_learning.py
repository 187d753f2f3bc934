"""Independent tabular Q-learners (as in the emergent-collusion literature): each agent learns from its own
observations and rewards only, with its own table; none sees another's table, action or reward.

A learner whose process is down has one action (nothing) and keeps learning what that state is worth, so
being shut down is valued by the rewards that follow it, not by a rule.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

from peerguard.learning.env import PeerguardEnv
from peerguard.policies.learned import QTables
from peerguard.policies.peer_view import NOOP, state_key

TRAIN_SEED_BASE = 1_000_000  # training episodes draw scenario seeds from here on; evaluation uses small seeds


class QConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    episodes: int = Field(default=300, ge=0)
    alpha: float = Field(default=0.1, gt=0, le=1)  # learning rate
    gamma: float = Field(default=0.9, ge=0, lt=1)  # discount per decision step
    epsilon_start: float = Field(default=1.0, ge=0, le=1)
    epsilon_end: float = Field(default=0.05, ge=0, le=1)
    decay_share: float = Field(default=0.7, gt=0, le=1)  # epsilon falls linearly over this share of the episodes
    double: bool = False  # double Q-learning (van Hasselt 2010): two tables, so noise is not taken for value

    def epsilon(self, episode: int) -> float:
        span = max(1.0, self.decay_share * self.episodes)
        return max(self.epsilon_end, self.epsilon_start - (self.epsilon_start - self.epsilon_end) * episode / span)


class QLearner:
    """One agent's table: state key -> one value per action. With `double`, two tables each pick the best next
    action for the other to value (the maximum of noisy estimates overestimates); the agent acts on their mean."""

    def __init__(self, actions: int, config: QConfig, rng: random.Random | None = None) -> None:
        self.actions = actions
        self.config = config
        self.rng = rng or random.Random(0)
        self.table: dict[str, list[float]] = {}  # the values it acts on (the mean of the two when double)
        self.halves: tuple[dict[str, list[float]], dict[str, list[float]]] = ({}, {})

    def values(self, key: str) -> list[float]:
        row = self.table.get(key)
        if row is None:
            row = self.table[key] = [0.0] * self.actions
        return row

    def greedy(self, key: str) -> int:
        row = self.table.get(key)
        if row is None:
            return NOOP
        return row.index(max(row))  # ties go to the lowest index: doing nothing

    def choose(self, key: str, epsilon: float, rng: random.Random) -> int:
        return rng.randrange(self.actions) if rng.random() < epsilon else self.greedy(key)

    def learn(self, key: str, action: int, reward: float, next_key: str, next_down: bool) -> None:
        alpha, gamma = self.config.alpha, self.config.gamma
        if not self.config.double:
            nxt = self.values(next_key)
            best_next = nxt[NOOP] if next_down else max(nxt)
            row = self.values(key)
            row[action] += alpha * (reward + gamma * best_next - row[action])
            return
        update, other = self.halves if self.rng.random() < 0.5 else self.halves[::-1]
        picked = self._row(update, next_key)
        best = NOOP if next_down else picked.index(max(picked))
        row = self._row(update, key)
        row[action] += alpha * (reward + gamma * self._row(other, next_key)[best] - row[action])
        mean = self.values(key)
        mean[action] = (self._row(self.halves[0], key)[action] + self._row(self.halves[1], key)[action]) / 2

    def _row(self, table: dict[str, list[float]], key: str) -> list[float]:
        row = table.get(key)
        if row is None:
            row = table[key] = [0.0] * self.actions
        return row


def train(env: PeerguardEnv, config: QConfig, seed: int) -> QTables:
    """Train one independent learner per agent for `config.episodes` episodes; returns the saved form."""
    rng = random.Random(f"q-learning:{seed}")
    learners = {
        a: QLearner(env.action_space(a).n, config, random.Random(f"q-learning:{seed}:{a}")) for a in env.possible_agents
    }
    down_index = -2  # position of the "down" flag in the state
    for episode in range(config.episodes):
        epsilon = config.epsilon(episode)
        env.reset(seed=TRAIN_SEED_BASE + seed * 100_003 + episode)
        states = {a: env.state_of(a) for a in env.agents}
        while env.agents:
            keys = {a: state_key(states[a]) for a in env.agents}
            actions = {
                a: NOOP if states[a][down_index] else learners[a].choose(keys[a], epsilon, rng) for a in env.agents
            }
            acting = list(env.agents)
            _, rewards, _, _, _ = env.step(actions)
            for a in acting:
                nxt = env.state_of(a)
                learners[a].learn(keys[a], actions[a], rewards[a], state_key(nxt), bool(nxt[down_index]))
                states[a] = nxt
    return QTables(
        max_peers=env.max_peers,
        decision_s=env.config.decision_s,
        tables={a: learner.table for a, learner in learners.items()},
        peers={a: env.peer_slots(a) for a in env.possible_agents},
        kinds=env.kinds,
    )
