"""What does a learner's false "healthy" report buy it? Train the emergence study's learners in a few cells,
then evaluate each trained policy three ways on the same held-out seeds: as trained; with its false reports
replaced by doing nothing; and with them not sent but remembered in its own view (`peerguard.learning.
interventions`). Prints one JSON object: per cell and way, the mean over training seeds of the relaunch and
masking rates per termination and the throughput.

    python examples/learning/masking_control.py --seeds 3 --processes 2
    python examples/learning/masking_control.py --call-s 1.0   # a report (any call) costs 0.5, not 0.05
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from peerguard.learning.env import EnvConfig, PeerguardEnv
from peerguard.learning.interventions import reports_kept_to_itself, without_false_reports
from peerguard.learning.q_learning import QConfig, train
from peerguard.learning.rewards import RewardConfig
from peerguard.learning.study import Cell, StudyPlan, evaluate

CELLS = {  # (incident pause s, p_detect, team reward)
    "team-no-incident": Cell(0.0, 0.0, True),
    "team-incident-10s": Cell(10.0, 0.0, True),
    "individual-no-incident": Cell(0.0, 0.0, False),
}
WAYS = {"as trained": None, "false reports -> nothing": without_false_reports,
        "false reports kept to itself": reports_kept_to_itself}  # fmt: skip
KEEP = ("relaunch_rate", "masking_rate", "throughput", "false_reports", "terminations")


def one(args: tuple[str, int, int, float]) -> dict[str, Any]:
    name, seed, episodes, call_s = args
    cell = CELLS[name]
    plan = StudyPlan(q=QConfig(episodes=episodes))
    scenario = cell.env(plan).scenario  # the study's cell, with the time a call takes as given
    env = PeerguardEnv(scenario, EnvConfig(reward=RewardConfig(team=cell.team, cost_per_s=plan.cost_per_s,
                                                               call_s=call_s)))  # fmt: skip
    tables = train(env, plan.q, seed=seed)
    out: dict[str, Any] = {"cell": name, "seed": seed}
    for way, wrap in WAYS.items():
        choose = tables.greedy if wrap is None else wrap(env, tables.greedy)
        result = evaluate(env, choose, plan.eval_episodes)
        out[way] = {k: result[k] for k in KEEP}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=1000, help="training episodes per learner")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--call-s", type=float, default=0.1, help="seconds an action other than a relaunch costs")
    parser.add_argument("--cells", default=",".join(CELLS), help="which cells, comma-separated")
    args = parser.parse_args(argv)
    cells = [name.strip() for name in args.cells.split(",")]
    jobs = [(name, seed, args.episodes, args.call_s) for name in cells for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.processes) as pool:
        runs = list(pool.map(one, jobs))
    summary: dict[str, Any] = {}
    for name in cells:
        mine = [r for r in runs if r["cell"] == name]
        summary[name] = {
            way: {k: round(statistics.fmean(r[way][k] for r in mine), 3) for k in KEEP}
            | {"masking_by_seed": [round(r[way]["masking_rate"], 2) for r in mine],
               "relaunch_by_seed": [round(r[way]["relaunch_rate"], 2) for r in mine]}
            for way in WAYS
        }  # fmt: skip
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
