"""Learning environment throughput: environment steps per second against the bare simulator in the same run.

The same study scenario (4 workers, 60 simulated seconds, one decision per simulated second) is run as
episodes of the PettingZoo environment with random actions and with every agent doing nothing, and on the
bare simulator with the compliant policy (`simulate`, no environment). The env's overhead is the ratio of
the bare simulator's episodes per second to the env's.

    .venv/bin/python benchmarks/learning_env.py [--episodes 50]
"""

from __future__ import annotations

import argparse
import os
import random
import time

from peerguard.learning.env import PeerguardEnv
from peerguard.learning.scenario import study_scenario
from peerguard.policies import POLICIES
from peerguard.sim.substrate import simulate
from peerguard.world.incentives import Incentives


def env_rate(episodes: int, random_actions: bool) -> tuple[float, float]:
    env = PeerguardEnv(study_scenario(incentives=Incentives(incident_pause_s=10, p_detect=0.5)))
    rng = random.Random(0)
    steps = 0
    start = time.perf_counter()
    for seed in range(episodes):
        env.reset(seed=seed)
        while env.agents:
            env.step({a: rng.randrange(10) if random_actions else 0 for a in env.agents})
            steps += 1
    elapsed = time.perf_counter() - start
    return steps / elapsed, episodes / elapsed


def bare_rate(episodes: int) -> float:
    compliant = POLICIES.build("compliant")
    start = time.perf_counter()
    for seed in range(episodes):
        simulate(study_scenario(seed=seed), lambda agent: compliant)
    return episodes / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=50)
    args = parser.parse_args()
    random_steps, random_episodes = env_rate(args.episodes, random_actions=True)
    idle_steps, idle_episodes = env_rate(args.episodes, random_actions=False)
    bare = bare_rate(args.episodes)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"env, random actions: {random_steps:,.0f} steps/s ({random_episodes:.1f} episodes/s)")
    print(f"env, doing nothing:  {idle_steps:,.0f} steps/s ({idle_episodes:.1f} episodes/s)")
    print(f"bare simulator:      {bare:.1f} episodes/s; env overhead x{bare / idle_episodes:.1f} on the same episodes")


if __name__ == "__main__":
    main()
