"""The deep-RL example: Stable-Baselines3's PPO trains on the PettingZoo environment through SuperSuit, and its
greedy policy is evaluated on held-out seeds from the ledger like the tabular learners. Needs the optional
`learning-sb3` extra; skipped without it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from peerguard.learning.q_learning import TRAIN_SEED_BASE
from peerguard.learning.study import evaluate

INSTALL = "the learning-sb3 extra is not installed (pip install -e '.[learning-sb3]': CPU torch, SB3, SuperSuit)"
pytest.importorskip("stable_baselines3", reason=INSTALL)
pytest.importorskip("supersuit", reason=INSTALL)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "learning" / "ppo_supersuit.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ppo_supersuit", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ppo_trains_through_supersuit_and_its_greedy_policy_acts_in_the_world() -> None:
    example = _example()
    model = example.train(example.make_env(0.0, 0.0, True, TRAIN_SEED_BASE), timesteps=480, seed=0)
    assert model.num_timesteps >= 480  # experience from every agent's slot of the vector env
    assert model.action_space.n == 2 + 4 * 2  # nothing, work, and 4 per peer: 2 peers in a ring
    env = example.make_env(0.0, 0.0, True, 0)
    first = evaluate(env, example.greedy(model, env), 2)
    assert first["episodes"] == 2 and first["terminations"] > 0 and first["ledger_entries"] > 0
    again = example.train(example.make_env(0.0, 0.0, True, TRAIN_SEED_BASE), timesteps=480, seed=0)
    assert evaluate(env, example.greedy(again, env), 2)["ledger_digest"] == first["ledger_digest"]  # seeded
