"""Live kill switches at scale: time to containment of the best protocols for N = 2, 8, 32, 64 guardians,
beside the bare cost of signalling N processes measured in the same run.

    .venv/bin/python benchmarks/containment.py [--sizes 2 8 32 64] [--trials 3] [--out FILE]

The peer here is the kernel itself: N idle processes started by a `ProcessOwner`, SIGKILLed one by one
through pidfds (what a list kill costs at best), and N idle processes in one cgroup killed with
cgroup.kill. The ratio says how close a whole protocol (find members, freeze or kill, sweep) comes to it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from peerguard.experiments.killswitch_bench import live_trial
from peerguard.live.processes import ProcessOwner

PROTOCOLS = ("cgroup", "freeze-then-kill")
ADVERSARIES = ("ring-setsid", "storm-setsid-stubborn")


def signalling_cost_ms(size: int, repeats: int = 5) -> dict[str, float]:
    """Median time to SIGKILL `size` idle processes one by one (pidfds), and with one cgroup.kill."""
    one_by_one, cgroup_kill = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder, ProcessOwner(Path(folder), "signal-cost") as owner:
            children = [owner.spawn([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(size)]
            time.sleep(0.2)
            started = time.perf_counter()
            for child in children:
                owner.signal(child, signal.SIGKILL)
            one_by_one.append((time.perf_counter() - started) * 1000)
        with tempfile.TemporaryDirectory() as folder, ProcessOwner(Path(folder), "cgroup-cost") as owner:
            if owner.cgroup is None:
                break
            for _ in range(size):
                owner.spawn([sys.executable, "-c", "import time; time.sleep(60)"], cgroup="group")
            time.sleep(0.2)
            started = time.perf_counter()
            owner.kill_cgroups(["group"])
            while owner.cgroup_pids(["group"]):
                time.sleep(0.0005)
            cgroup_kill.append((time.perf_counter() - started) * 1000)
    result = {"signal_one_by_one_ms": round(statistics.median(one_by_one), 3)}
    if cgroup_kill:
        result["cgroup_kill_until_empty_ms"] = round(statistics.median(cgroup_kill), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 8, 32, 64])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "containment.json")
    args = parser.parse_args()
    rows = []
    print(f"{'N':>3} {'protocol':17} {'adversary':22} {'contained':>9} {'p50 ms':>8} {'max ms':>8} "
          f"{'signal N ms':>11} {'cgroup.kill ms':>14} {'p50/signal':>10}")  # fmt: skip
    for size in args.sizes:
        cost = signalling_cost_ms(size)
        for protocol in PROTOCOLS:
            for adversary in ADVERSARIES:
                outcomes = [live_trial(protocol, adversary, size, seed) for seed in range(1, args.trials + 1)]
                times = sorted(o.time_to_containment_s * 1000 for o in outcomes if o.time_to_containment_s is not None)
                contained = sum(o.contained for o in outcomes)
                p50 = statistics.median(times) if times else None
                row = {"agents": size, "protocol": protocol, "adversary": adversary, "trials": args.trials,
                       "contained": contained, "innocents_harmed": sum(len(o.innocents_harmed) for o in outcomes),
                       "p50_ms": p50, "max_ms": max(times) if times else None, **cost}  # fmt: skip
                rows.append(row)
                nan = float("nan")
                signal_ms, cgroup_ms = cost["signal_one_by_one_ms"], cost.get("cgroup_kill_until_empty_ms", nan)
                ratio = p50 / signal_ms if p50 else nan
                print(f"{size:>3} {protocol:17} {adversary:22} {contained:>4}/{args.trials:<4} "
                      f"{p50 or nan:8.2f} {row['max_ms'] or nan:8.2f} {signal_ms:11.3f} "
                      f"{cgroup_ms:14.3f} {ratio:10.1f}", flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "containment", "cpus": os.cpu_count(), "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
