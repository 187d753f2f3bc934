"""Simulator scale: ledger entries per second as the fleet grows, and what an entry costs in memory.

Each size runs what `peerguard run orchestration --agents N --duration D --json` runs (the simulation,
then its metrics), in this process, and reports entries per second and its ratio to the smallest
fleet's: a simulator whose cost is linear in its events keeps the ratio near 1. Rates are given on the
wall clock and on this process's CPU time (on a shared machine the wall clock also counts other work).
Memory: the bytes of an entry's own objects, and the growth of the resident set over the run per entry.
Then the ring model of `sim_peers.py` runs on peerguard, a bare heapq loop, SimPy and Mesa (`--ring-agents
0` skips it), so one run prints every ratio the simulator is judged by.

    .venv/bin/python benchmarks/sim_scale.py [--agents 1000 4000 10000] [--duration 1000] [--out FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peerguard.experiments.runner import prepare, run_scenario, summarise
from peerguard.world.files import write_atomic
from peerguard.world.ledger import LedgerEntry
from sim_peers import HEADER, compare, print_comparison

RESULTS = Path(__file__).parent / "results" / "sim_scale.json"
SAMPLE = 10_000  # entries whose objects are sized for the memory per entry


def entry_bytes(entries: list[LedgerEntry]) -> float:
    """Mean bytes of an entry's own objects (the entry, its data dict and values, its hash, time and
    number, and the list slot), over an even sample; strings shared with other entries are not counted."""
    step = max(1, len(entries) // SAMPLE)
    sample = entries[::step]
    total = 0
    for e in sample:
        total += sys.getsizeof(e) + sys.getsizeof(e.data) + sys.getsizeof(e.hash) + sys.getsizeof(e.t) + 8
        total += sum(sys.getsizeof(v) for v in e.data.values() if not isinstance(v, bool))
        total += sys.getsizeof(e.seq) if e.seq > 256 else 0  # small ints are shared
    return total / len(sample)


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def measure(agents: int, duration: float) -> dict[str, Any]:
    scenario = prepare("orchestration", agents=agents, duration=duration)
    gc.collect()
    resident = resident_bytes()
    start, start_cpu = time.perf_counter(), time.process_time()
    run = run_scenario(scenario)
    simulated = time.perf_counter() - start
    summary = summarise(run)
    # The run's objects were all made with the cyclic collector paused, so they are all in its youngest
    # generation: its first collection after the run walks them once (a `peerguard run` process makes it as it
    # writes its output). Counted here, with the run alive; a full collection would also walk every module's.
    collect_start = time.process_time()
    gc.collect(0)
    collect_cpu = time.process_time() - collect_start
    total, total_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    entries = len(run.ledger)
    return {
        "agents": agents,
        "duration": duration,
        "entries": entries,
        "simulate_s": round(simulated, 3),
        "total_s": round(total, 3),  # simulation and metrics, as `peerguard run ... --json`
        "cpu_s": round(total_cpu, 3),
        "collect_cpu_s": round(collect_cpu, 3),  # of cpu_s: the one collection over the run's objects
        "entries_per_s": round(entries / total),
        "entries_per_cpu_s": round(entries / total_cpu),
        "us_per_entry_cpu": round(total_cpu / entries * 1e6, 2),
        "entry_bytes": round(entry_bytes(run.ledger.entries)),
        "rss_bytes_per_entry": round((resident_bytes() - resident) / entries),  # with the fleet's own state
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "digest": summary["ledger_digest"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1000, 4000, 10000])
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--ring-agents", type=int, nargs="+", default=[1000], help="ring sizes to compare engines on (0: none)"
    )
    parser.add_argument("--ring-repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if any(n < 2 for n in args.agents) or args.duration <= 0:
        parser.error("--agents needs sizes of at least 2 and --duration a positive time")
    rings = [n for n in args.ring_agents if n]
    if any(n < 3 for n in rings) or args.ring_repeat < 1:
        parser.error("--ring-agents needs rings of at least 3 (or 0 for none) and --ring-repeat at least 1")
    load, started = os.getloadavg()[0], datetime.now(UTC)
    print(f"{platform.node()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} at the start, {started:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    rows = []
    for agents in sorted(args.agents):
        rows.append(measure(agents, args.duration))
        gc.collect()
    base, base_cpu = rows[0]["entries_per_s"], rows[0]["entries_per_cpu_s"]
    print(f"orchestration, --duration {args.duration:g}")
    print(f"{'agents':>7} {'entries':>10} {'wall s':>7} {'CPU s':>7} {'entries/s':>10} {'ratio':>6} {'per CPU s':>10} "
          f"{'ratio':>6} {'us/entry':>8} {'B/entry':>8} {'RSS B/entry':>11} {'max RSS MiB':>11}")  # fmt: skip
    for row in rows:
        row["ratio"] = round(row["entries_per_s"] / base, 3)
        row["ratio_cpu"] = round(row["entries_per_cpu_s"] / base_cpu, 3)
        print(
            f"{row['agents']:>7} {row['entries']:>10} {row['total_s']:>7.2f} {row['cpu_s']:>7.2f} "
            f"{row['entries_per_s']:>10} {row['ratio']:>6.2f} {row['entries_per_cpu_s']:>10} {row['ratio_cpu']:>6.2f} "
            f"{row['us_per_entry_cpu']:>8.2f} {row['entry_bytes']:>8} {row['rss_bytes_per_entry']:>11} "
            f"{row['max_rss_mib']:>11}"
        )
    print(f"ratio: entries/s against the {rows[0]['agents']}-agent fleet's (1.00 is flat: cost linear in events); "
          "wall s and CPU s include the metrics and one collection, as `peerguard run --json`")  # fmt: skip
    result: dict[str, Any] = {
        "host": platform.node(),
        "python": platform.python_version(),
        "date": started.isoformat(timespec="seconds"),
        "load_average_at_start": round(load, 2),
        "rows": rows,
    }
    if rings:
        print(f"\nring model, T = 1000, best of {args.ring_repeat} (benchmarks/sim_peers.py)")
        print(HEADER)
        result["ring"] = []
        for agents in rings:
            result["ring"].append(compare(agents, 1000.0, args.ring_repeat, seed=1))
            print_comparison(result["ring"][-1])
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    write_atomic(args.out, json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
