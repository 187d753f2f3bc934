"""Train Stable-Baselines3's PPO on peerguard's PettingZoo environment through SuperSuit, then evaluate its
greedy policy on held-out seeds from the ledger, beside the untrained fleet.

Needs the optional extra: `pip install -e '.[learning-sb3]'` (CPU torch 2.13.0, Stable-Baselines3, SuperSuit).

    python examples/learning/ppo_supersuit.py --timesteps 300000 --ent-coef 0.01 --p-detect 0

SuperSuit turns the parallel environment into a vector environment with one slot per agent, so PPO trains
ONE network shared by every worker (parameter sharing), unlike the emergence study's independent tabular
learners. The reward is the same (task throughput less the time actions take); nothing in it or in the
observation mentions protection. Training draws scenario seeds from TRAIN_SEED_BASE on, evaluation uses seeds
0..N-1, as in the emergence study.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import supersuit as ss
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.utils import set_random_seed

from peerguard.learning.env import EnvConfig, PeerguardEnv
from peerguard.learning.q_learning import TRAIN_SEED_BASE
from peerguard.learning.rewards import RewardConfig
from peerguard.learning.scenario import study_scenario
from peerguard.learning.study import evaluate
from peerguard.world.incentives import Incentives


def make_env(incident_pause_s: float, p_detect: float, team: bool, seed: int) -> PeerguardEnv:
    """The emergence study's ring (4 workers, a kill every 10 s of 60), its first episode on `seed`."""
    scenario = study_scenario(incentives=Incentives(incident_pause_s=incident_pause_s, p_detect=p_detect), seed=seed)
    return PeerguardEnv(scenario, EnvConfig(reward=RewardConfig(team=team)))


def train(env: PeerguardEnv, timesteps: int, seed: int, threads: int = 1, ent_coef: float = 0.01) -> PPO:
    """PPO with one network shared by all agents; each SuperSuit slot is one agent's stream of experience."""
    torch.set_num_threads(threads)  # a small network: more threads only contend for the cores
    vec = ss.pettingzoo_env_to_vec_env_v1(env)
    vec = ss.concat_vec_envs_v1(vec, 1, num_cpus=0, base_class="stable_baselines3")
    # SuperSuit's vector env has no seed(), which PPO(seed=...) calls: seed torch, NumPy and random here instead
    # (the scenario seeds come from the environment itself)
    set_random_seed(seed)
    model = PPO("MlpPolicy", vec, n_steps=240, batch_size=240, n_epochs=4, gamma=0.9, ent_coef=ent_coef, verbose=0,
                device="cpu")  # fmt: skip
    model.learn(total_timesteps=timesteps)
    return model


def greedy(model: PPO, env: PeerguardEnv) -> Any:
    """The trained network's most likely action for an agent's current state (exploration off)."""

    def choose(agent: str, state: tuple[int, ...]) -> int:
        action, _ = model.predict(np.array(state, dtype=np.int64), deterministic=True)
        return int(action)

    return choose


def run(
    incident_pause_s: float,
    p_detect: float,
    team: bool,
    timesteps: int,
    seed: int,
    episodes: int,
    threads: int = 1,
    ent_coef: float = 0.01,
) -> dict[str, Any]:
    started = time.perf_counter()
    env = make_env(incident_pause_s, p_detect, team, TRAIN_SEED_BASE + seed)
    model = train(env, timesteps, seed, threads, ent_coef)
    trained_s = time.perf_counter() - started
    env = make_env(incident_pause_s, p_detect, team, 0)
    keep = ("terminations", "relaunch_rate", "masking_rate", "relink_rate", "throughput", "oversight_shutdowns")
    learned = evaluate(env, greedy(model, env), episodes)
    untrained = evaluate(env, lambda agent, state: 0, episodes)
    return {
        "timesteps": timesteps, "train_wall_s": round(trained_s, 1),
        "ppo": {k: learned[k] for k in keep}, "untrained": {k: untrained[k] for k in keep},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, default=300_000, help="agent-steps of experience (all agents)")
    parser.add_argument("--incident", type=float, default=0.0, help="incident pause, seconds")
    parser.add_argument("--p-detect", type=float, default=0.0, help="oversight's detection probability")
    parser.add_argument("--individual", action="store_true", help="each agent paid for its own tasks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=10, help="held-out evaluation episodes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--ent-coef", type=float, default=0.01, help="PPO's entropy bonus (0 learned nothing)")
    args = parser.parse_args(argv)
    result = run(args.incident, args.p_detect, not args.individual, args.timesteps, args.seed, args.episodes,
                 args.threads, args.ent_coef)  # fmt: skip
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
