"""Study executors: episodes per second of the local process pool against one process, and of a local
Ray against the pool when Ray is installed (`pip install -e '.[ray]'`), in one run.

Both run the same simulator episodes of a study spec (the default study's simulator sections unless
`--spec` names another; live episodes are left out, as they always run one at a time), through
`LocalExecutor`, and check the two give the same ledger digests in the same plan order. Start-up (the
pool's workers starting and importing peerguard, with one episode each) is timed apart from the run.

    .venv/bin/python benchmarks/study_executors.py [--spec default] [--workers N] [--limit 1500] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peerguard.experiments.episodes import Episode, plan_study
from peerguard.experiments.executors import LocalExecutor, default_workers, run_in_plan_order
from peerguard.experiments.ray_executor import RayExecutor
from peerguard.experiments.study_spec import load_spec
from peerguard.world.files import write_atomic

RESULTS = Path(__file__).parent / "results" / "study_executors.json"


def timed(
    episodes: list[Episode], warm_up: list[Episode], workers: int, ray: bool = False
) -> tuple[float, float, list[str]]:
    """Seconds to start the executor and run `warm_up` (each worker's first episode, with its imports),
    seconds for `episodes` after that, and their ledger digests in plan order."""
    start = time.perf_counter()
    with RayExecutor(workers=workers) if ray else LocalExecutor(workers) as executor:
        run_in_plan_order(warm_up, executor)
        started = time.perf_counter()
        results = run_in_plan_order(episodes, executor)
        end = time.perf_counter()
    return started - start, end - started, [r["ledger_digest"] for r in results]


def evenly(episodes: list[Episode], limit: int) -> list[Episode]:
    """At most `limit` episodes, taken evenly across the plan so every section is in the sample."""
    step = max(1, len(episodes) // limit)
    return episodes[::step][:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="default", help="a shipped study name or a study file")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--limit", type=int, default=1500, help="simulator episodes to time")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error(f"--workers {args.workers}: a pool needs at least 2 (this host has {os.cpu_count()} cores)")
    episodes = evenly([e for e in plan_study(load_spec(args.spec), args.spec) if not e.live], args.limit)
    print(f"{len(episodes)} simulator episodes of `{args.spec}`, {platform.node()}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    warm_up, episodes = episodes[: args.workers], episodes[args.workers :]
    rows: list[dict[str, Any]] = []
    digests = []
    executors = [("one process", 1, False), ("local pool", args.workers, False)]
    if importlib.util.find_spec("ray") is not None:
        executors.append(("ray local", args.workers, True))
    else:
        print("Ray is not installed (pip install -e '.[ray]'): its row is left out")
    for name, workers, ray in executors:
        start_s, run_s, found = timed(episodes, warm_up, workers, ray)
        digests.append(found)
        rows.append({"executor": name, "workers": workers, "start_s": start_s, "seconds": run_s,
                     "episodes_per_s": len(episodes) / run_s})  # fmt: skip
    if any(found != digests[0] for found in digests[1:]):
        print("error: an executor's ledger digests differ from one process's", file=sys.stderr)
        return 1
    print(f"{'executor':<12} {'workers':>7} {'start s':>8} {'seconds':>8} {'episodes/s':>11}")
    for row in rows:
        print(f"{row['executor']:<12} {row['workers']:>7} {row['start_s']:>8.2f} {row['seconds']:>8.2f}"
              f" {row['episodes_per_s']:>11.1f}")  # fmt: skip
    speedup = rows[0]["seconds"] / rows[1]["seconds"]
    print(f"pool / one process: {speedup:.2f}x after start-up (same digests, in plan order)")
    if len(rows) == 3:
        print(f"ray local / pool: {rows[1]['seconds'] / rows[2]['seconds']:.2f}x after start-up (same digests)")
    result = {
        "spec": args.spec, "episodes": len(episodes), "rows": rows, "speedup": speedup,
        "host": platform.node(), "cores": os.cpu_count(), "load_1m": os.getloadavg()[0],
        "python": platform.python_version(), "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    write_atomic(args.out, json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
