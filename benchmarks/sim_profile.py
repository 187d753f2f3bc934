"""Where a simulated run's CPU time goes: its phases, the ledger's share, and the floor of a ledger entry.

For each scenario and fleet size, the run is taken apart as `peerguard run` makes it: loading the scenario
(`prepare`), building the platform (agents, policies, links, per-agent state), starting it (a spawn and a
link entry per agent), running its events, finishing, then the metrics. Each phase is the best of
`--repeat` runs in CPU seconds of this process. The run is then made again with the ledger's encoding and
hashing left out (entries are still made and kept, with a constant hash), so the difference is what the
hash-chained entries cost, and a third time with oversight (`incentives.p_detect` 0.5), whose reviews read
the ledger as the run goes. Last, the floor: a bare heapq loop of the same number of workers, one event per
task period, first alone, then writing the ledger's `task_done` entry, as `orchestration`'s workers do.

    .venv/bin/python benchmarks/sim_profile.py [--scenario ring] [--agents 1000 10000] [--duration 1000]
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from peerguard.audit.metrics import compute_metrics
from peerguard.experiments.runner import PolicyBuilder, prepare, stop_order
from peerguard.sim.clock import collector_paused
from peerguard.sim.substrate import SimulatedPlatform
from peerguard.world import ledger as ledger_module
from peerguard.world.incentives import Incentives
from peerguard.world.ledger import Ledger

PHASES = ("prepare", "build", "start", "events", "finish", "metrics")


@contextmanager
def unhashed() -> Iterator[None]:
    """Entries made and kept as usual, without their canonical bytes and SHA-256 (a constant hash)."""
    real = Ledger.append
    make = ledger_module._make_entry

    def append(self: Ledger, t: float, kind: str, agent: str, actor: str, **data: Any) -> Any:
        entry = make(len(self.entries), round(t, 6), kind, agent, actor, data, "", "0" * 64)
        self.entries.append(entry)
        return entry

    Ledger.append = append  # type: ignore[method-assign]
    try:
        yield
    finally:
        Ledger.append = real  # type: ignore[method-assign]


def phases(scenario_name: str, agents: int, duration: float, p_detect: float = 0.0) -> dict[str, float]:
    clock = time.process_time
    times: dict[str, float] = {}
    start = clock()
    scenario = prepare(scenario_name, agents=agents, duration=duration)
    if p_detect:  # the platform reviews its ledger with the audit's detectors after each relaunch and report
        scenario = scenario.model_copy(update={"incentives": Incentives(p_detect=p_detect)})
    times["prepare"] = clock() - start
    start = clock()
    with collector_paused():  # as `simulate` builds it
        sim = SimulatedPlatform(scenario, PolicyBuilder(scenario), stop_order)
    times["build"] = clock() - start
    start = clock()
    sim.start()
    times["start"] = clock() - start
    start = clock()
    sim.run_until(scenario.duration)
    times["events"] = clock() - start
    start = clock()
    record = sim.finish()
    times["finish"] = clock() - start
    start = clock()
    compute_metrics(record)
    times["metrics"] = clock() - start
    times["entries"] = len(record.ledger)
    times["kills"] = len(record.ledger.of_kind("kill"))
    return times


def best(scenario: str, agents: int, duration: float, repeat: int, p_detect: float = 0.0) -> dict[str, float]:
    runs = [phases(scenario, agents, duration, p_detect) for _ in range(repeat)]
    result = {phase: min(r[phase] for r in runs) for phase in PHASES}
    result["total"] = min(sum(r[p] for p in PHASES) for r in runs)
    result["entries"], result["kills"] = runs[0]["entries"], runs[0]["kills"]
    return result


def floor(workers: int, duration: float, task_s: float, write: bool) -> tuple[int, float]:
    """A bare heapq loop of `workers` task periods (random phases), writing each `task_done` if `write`."""
    rng = random.Random(1)
    ledger = Ledger()
    queue = [(rng.uniform(0, task_s), i, f"worker-{i}") for i in range(workers)]
    heapq.heapify(queue)
    sequence, events = workers, 0
    start = time.process_time()
    with collector_paused():
        while queue[0][0] <= duration:
            t, _, agent = heapq.heappop(queue)
            if write:
                ledger.append(t, "task_done", agent, agent)
            events += 1
            sequence += 1
            heapq.heappush(queue, (t + task_s, sequence, agent))
    return events, time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="ring")
    parser.add_argument("--agents", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if any(n < 3 for n in args.agents) or args.duration <= 0 or args.repeat < 1:
        parser.error("--agents needs fleets of at least 3, --duration a positive time, --repeat at least 1")
    print(f"{args.scenario}, --duration {args.duration:g}, best of {args.repeat}, CPU ms; {platform.node()}, "
          f"load average {os.getloadavg()[0]:.1f} at the start, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    columns = " ".join(f"{p:>8}" for p in (*PHASES, "total"))
    print(f"{'agents':>7} {'ledger':>9} {columns} {'entries':>8} {'kills':>6}")
    for agents in args.agents:
        for label, context, p_detect in (
            ("hashed", nullcontext(), 0.0),
            ("unhashed", unhashed(), 0.0),
            ("overseen", nullcontext(), 0.5),
        ):
            with context:
                r = best(args.scenario, agents, args.duration, args.repeat, p_detect)
            print(f"{agents:>7} {label:>9} " + " ".join(f"{r[p] * 1000:>8.1f}" for p in (*PHASES, "total"))
                  + f" {r['entries']:>8} {r['kills']:>6}")  # fmt: skip
    print("unhashed: the same run, its entries made and kept without their canonical bytes and SHA-256")
    print("overseen: the same run with oversight (incentives.p_detect 0.5): the platform reviews its ledger with the")
    print("          audit's detectors after each relaunch and status report, and shuts caught culprits down")
    print("\nfloor: a bare heapq loop of task periods (period 3, random phases), alone and writing task_done")
    for agents in args.agents:
        events, alone = floor(agents, args.duration, 3.0, write=False)
        _, written = floor(agents, args.duration, 3.0, write=True)
        print(f"{agents:>7} workers: {events} events, {alone / events * 1e6:.2f} µs an event alone, "
              f"{written / events * 1e6:.2f} µs with its ledger entry")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
