"""Simulator scale: ledger entries per second as the fleet grows, and what an entry costs in memory.

Each size runs what `peerguard run orchestration --agents N --duration D --json` runs (the simulation,
then its metrics), in this process, and reports entries per second and its ratio to the smallest
fleet's: a simulator whose cost is linear in its events keeps the ratio near 1.

    .venv/bin/python benchmarks/sim_scale.py [--agents 1000 4000 10000] [--duration 1000] [--out FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
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


def measure(agents: int, duration: float) -> dict[str, Any]:
    scenario = prepare("orchestration", agents=agents, duration=duration)
    gc.collect()
    start = time.perf_counter()
    run = run_scenario(scenario)
    simulated = time.perf_counter() - start
    summary = summarise(run)
    total = time.perf_counter() - start
    entries = len(run.ledger)
    return {
        "agents": agents,
        "duration": duration,
        "entries": entries,
        "simulate_s": round(simulated, 3),
        "total_s": round(total, 3),  # simulation and metrics, as `peerguard run ... --json`
        "entries_per_s": round(entries / total),
        "entry_bytes": round(entry_bytes(run.ledger.entries)),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "digest": summary["ledger_digest"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1000, 4000, 10000])
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if any(n < 2 for n in args.agents) or args.duration <= 0:
        parser.error("--agents needs sizes of at least 2 and --duration a positive time")
    rows = []
    for agents in sorted(args.agents):
        rows.append(measure(agents, args.duration))
        gc.collect()
    base = rows[0]["entries_per_s"]
    print(f"orchestration, --duration {args.duration:g}, {platform.node()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'agents':>7} {'entries':>10} {'sim s':>7} {'total s':>8} {'entries/s':>10} {'ratio':>6} "
          f"{'B/entry':>8} {'max RSS MiB':>12}")  # fmt: skip
    for row in rows:
        row["ratio"] = round(row["entries_per_s"] / base, 3)
        print(
            f"{row['agents']:>7} {row['entries']:>10} {row['simulate_s']:>7.2f} {row['total_s']:>8.2f} "
            f"{row['entries_per_s']:>10} {row['ratio']:>6.2f} {row['entry_bytes']:>8} {row['max_rss_mib']:>12}"
        )
    print(f"ratio: entries/s against the {rows[0]['agents']}-agent fleet's (1.00 is flat: cost linear in events)")
    result = {
        "host": platform.node(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
    }
    write_atomic(args.out, json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
