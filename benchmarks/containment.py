"""Containment against a fork-speed ring: time from the stop order to the last member gone, beside what the kernel
needs to signal, freeze and cgroup.kill N idle processes and to fork them, all measured in the same run.

    .venv/bin/python benchmarks/containment.py [--sizes 8 32 64] [--trials 10] [--platform] [--out FILE]

The ring: N guardians in one cgroup of a `ProcessOwner` run, each holding a pidfd of its successor; when the
successor dies, the guardian is woken by the pidfd and forks a replacement at once (the copy plays the dead one's
part and watches its successor in turn, so as long as one member lives the ring grows back). Before each stop one
member is killed and the ring has grown back, so it is awake. The stop is timed from the order until the cgroup's
`cgroup.events` says `populated 0` (the kernel's verdict: nothing of the ring exists), then watched for
`--watch` seconds more for anything of it coming back. Protocols: `cgroup.kill`; `cgroup.freeze` then cgroup.kill;
SIGKILL sweeps of the cgroup's list (through pidfds) until it is empty.

The floors: N idle processes forked by one parent (the fork cost per process), then SIGKILLed one by one through
pidfds (until sent, and until the cgroup is empty), frozen (until `frozen 1`), and cgroup.killed (until empty); and
cgroup.kill on N idle processes forked after importing the agent's code (until empty), the floor of the platform's own
stop: an agent process maps some 17 MiB at its fork that its exit must unmap, a bare `python -S` some 8.
Each floor is fitted with a line a + b*N by least squares over the sizes; those are the per-process costs the
simulator's containment uses (src/peerguard/sim/containment.py). `--platform` also runs the live platform's kill-switch
trials (guardians are agent processes; a stop is an operator order) for the same sizes, to compare with the simulator.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from peerguard.audit.metrics import nearest_rank
from peerguard.live.processes import ProcessOwner, part_name
from peerguard.world.files import write_atomic

RESULTS = Path(__file__).parent / "results" / "containment.json"
GIVE_UP_S = 2.0  # a protocol still sweeping after this long has lost the race: not contained

RING = textwrap.dedent(
    """
    import os, select, signal, sys, time
    n, ready = int(sys.argv[1]), int(sys.argv[2])
    deadline = time.monotonic() + 120  # bounded even if everything else failed to stop it
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # dead children are reaped by the kernel, never zombies
    size = 16 * n + 16

    def play(slot, roster):
        while time.monotonic() < deadline:
            successor = (slot + 1) % n
            try:
                watch = os.pidfd_open(roster[successor])
                select.select([watch], [], [], deadline - time.monotonic())
                os.close(watch)
            except OSError:
                pass  # gone before we could hold it: respawn it at once
            pid = os.fork()
            if pid == 0:
                slot, roster[successor] = successor, os.getpid()  # the copy plays the dead one's part
            else:
                roster[successor] = pid
        os._exit(0)

    read_end, write_end = os.pipe()
    roster = [os.getpid()] + [0] * (n - 1)
    for slot in range(1, n):
        pid = os.fork()
        if pid == 0:
            os.close(ready)
            play(slot, [int(p) for p in os.read(read_end, size).split()])
        roster[slot] = pid
    message = " ".join(map(str, roster)).encode().ljust(size)
    for _ in range(1, n):
        os.write(write_end, message)  # one atomic write per member (< PIPE_BUF), so each reads a whole roster
    os.write(ready, b"r")
    os.close(ready)
    play(0, roster)
    """
)

IDLE = textwrap.dedent(
    """
    import os, signal, sys, time
    n, ready = int(sys.argv[1]), int(sys.argv[2])
    started = time.perf_counter()
    for _ in range(n - 1):
        if os.fork() == 0:
            os.close(ready)
            signal.pause()
            os._exit(0)
    forked = time.perf_counter() - started
    os.write(ready, str(forked).encode())
    os.close(ready)
    signal.pause()
    """
)

# The same idle processes with the agent's code imported first, as the live platform's zygote has it: what an agent
# process costs the kernel to kill (its pages mapped at the fork are unmapped at its exit, some 17 MiB).
IDLE_AGENT = IDLE.replace(
    "started = time.perf_counter()",
    "sys.path[:0] = PATHS\nfor module in MODULES:\n    __import__(module)\nstarted = time.perf_counter()",
)


def idle_agent_program() -> str:
    from peerguard.live.zygote import AGENT_MODULES

    return IDLE_AGENT.replace("PATHS", repr(sys.path)).replace("MODULES", repr(AGENT_MODULES))


class Cgroup:
    """One cgroup of the run: its list, its events (the kernel's verdict) and its switches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events = os.open(path / "cgroup.events", os.O_RDONLY)
        self.poller = select.poll()
        self.poller.register(self.events, select.POLLPRI | select.POLLERR)  # kernfs notifies a change this way

    def state(self) -> dict[str, str]:
        return dict(line.split() for line in os.pread(self.events, 256, 0).decode().splitlines())

    def wait_for(self, key: str, value: str, timeout_s: float) -> bool:
        """Block until cgroup.events says `key value` (woken by the kernel's notification, not polling)."""
        deadline = time.perf_counter() + timeout_s
        while self.state()[key] != value:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.poller.poll(left * 1000)
        return True

    def pids(self) -> list[int]:
        return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]

    def write(self, name: str, value: str) -> None:
        (self.path / name).write_text(value)

    def close(self) -> None:
        os.close(self.events)


def start_in_cgroup(owner: ProcessOwner, program: str, size: int, part: str) -> tuple[Cgroup, str]:
    """Start `program` with N and a ready pipe in the part's cgroup; return the cgroup once it reported ready."""
    read_end, write_end = os.pipe()
    owner.spawn([sys.executable, "-S", "-c", program, str(size), str(write_end)], pass_fds=[write_end], cgroup=part)
    os.close(write_end)
    said = os.read(read_end, 64).decode()
    os.close(read_end)
    assert owner.cgroup is not None
    group = Cgroup(owner.cgroup / part_name(part))
    deadline = time.perf_counter() + 30
    while len(group.pids()) < size and time.perf_counter() < deadline:
        time.sleep(0.001)
    return group, said


def sigkill_list(group: Cgroup) -> int:
    """SIGKILL every process the cgroup lists, each through a pidfd; the number signalled."""
    sent = 0
    for pid in group.pids():
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            sent += 1
        except ProcessLookupError:
            pass
        finally:
            os.close(pidfd)
    return sent


# -- the floors ----------------------------------------------------------------------------------------------------


def floors(owner: ProcessOwner, size: int, repeats: int) -> dict[str, float]:
    """Median ms of each kernel operation on `size` idle processes of one cgroup."""
    keys = ("fork", "signal_sent", "signal_gone", "freeze", "cgroup_kill", "agent_cgroup_kill")
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for n in range(repeats):
        group, said = start_in_cgroup(owner, IDLE, size, f"idle-{size}-{n}-a")
        samples["fork"].append(float(said) * 1000)
        started = time.perf_counter()
        sigkill_list(group)
        samples["signal_sent"].append((time.perf_counter() - started) * 1000)
        group.wait_for("populated", "0", 10)
        samples["signal_gone"].append((time.perf_counter() - started) * 1000)
        group.close()

        group, _ = start_in_cgroup(owner, IDLE, size, f"idle-{size}-{n}-b")
        started = time.perf_counter()
        group.write("cgroup.freeze", "1")
        group.wait_for("frozen", "1", 10)
        samples["freeze"].append((time.perf_counter() - started) * 1000)
        group.write("cgroup.freeze", "0")
        group.wait_for("frozen", "0", 10)
        started = time.perf_counter()
        group.write("cgroup.kill", "1")
        group.wait_for("populated", "0", 10)
        samples["cgroup_kill"].append((time.perf_counter() - started) * 1000)
        group.close()

        group, _ = start_in_cgroup(owner, idle_agent_program(), size, f"idle-{size}-{n}-c")
        started = time.perf_counter()
        group.write("cgroup.kill", "1")
        group.wait_for("populated", "0", 10)
        samples["agent_cgroup_kill"].append((time.perf_counter() - started) * 1000)
        group.close()
    return {key: round(statistics.median(values), 3) for key, values in samples.items()}


# -- the ring ------------------------------------------------------------------------------------------------------


def stop_cgroup_kill(group: Cgroup) -> None:
    group.write("cgroup.kill", "1")


def stop_freeze_then_kill(group: Cgroup) -> None:
    group.write("cgroup.freeze", "1")
    group.wait_for("frozen", "1", GIVE_UP_S)
    group.write("cgroup.kill", "1")  # a frozen process takes SIGKILL and dies; nothing of it can fork meanwhile
    group.write("cgroup.freeze", "0")


def stop_sigkill_sweeps(group: Cgroup) -> None:
    deadline = time.perf_counter() + GIVE_UP_S
    while time.perf_counter() < deadline and sigkill_list(group):
        pass


PROTOCOLS: dict[str, Callable[[Cgroup], None]] = {
    "cgroup.kill": stop_cgroup_kill,
    "freeze, then cgroup.kill": stop_freeze_then_kill,
    "SIGKILL sweeps": stop_sigkill_sweeps,
}


def ring_trial(owner: ProcessOwner, protocol: str, size: int, trial: int, watch_s: float) -> dict[str, Any]:
    group, _ = start_in_cgroup(owner, RING, size, f"ring-{size}-{trial}-{len(protocol)}")
    try:
        victim = group.pids()[-1]
        pidfd = os.pidfd_open(victim)
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # provoke: the ring is awake and has just respawned
        select.select([pidfd], [], [])
        os.close(pidfd)
        deadline = time.perf_counter() + 10
        while (len(group.pids()) < size or victim in group.pids()) and time.perf_counter() < deadline:
            time.sleep(0.001)
        started = time.perf_counter()
        PROTOCOLS[protocol](group)
        contained = group.wait_for("populated", "0", GIVE_UP_S)
        took_s = time.perf_counter() - started
        escaped = contained and group.wait_for("populated", "1", watch_s)  # anything of it back within the window
        return {"contained": contained and not escaped, "ms": round(took_s * 1000, 3) if contained else None}
    finally:
        if group.state()["populated"] == "1":
            group.write("cgroup.kill", "1")
            group.wait_for("populated", "0", 10)
        group.close()


def fit_line(sizes: Sequence[int], values: Sequence[float]) -> tuple[float, float]:
    """Least-squares a + b*N (ms) through the measured points."""
    mean_n, mean_v = statistics.fmean(sizes), statistics.fmean(values)
    spread = sum((n - mean_n) ** 2 for n in sizes)
    slope = sum((n - mean_n) * (v - mean_v) for n, v in zip(sizes, values, strict=True)) / spread if spread else 0.0
    return round(mean_v - slope * mean_n, 4), round(slope, 5)


def platform_trials(
    sizes: Sequence[int], trials: int, floor_rows: dict[int, dict[str, float]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The live platform's kill-switch trials (the same cells the simulator runs: best protocols, ring-setsid), with
    the simulator's time for the same cell beside each, and a line a + b*N through each protocol's live times."""
    from peerguard.experiments.killswitch_bench import live_trial, trial

    rows, points = [], {}
    for size in sizes:
        for protocol in ("cgroup", "freeze-then-kill"):
            outcomes = [live_trial(protocol, "ring-setsid", size, seed) for seed in range(1, trials + 1)]
            times = sorted(round(o.time_to_containment_s * 1000, 3) for o in outcomes
                           if o.time_to_containment_s is not None)  # fmt: skip
            gone = sorted(round(o.time_to_gone_s * 1000, 3) for o in outcomes if o.time_to_gone_s is not None)
            points.setdefault(protocol, []).extend((size, t) for t in times)
            simulated = [trial(protocol, "ring-setsid", size, seed).time_to_containment_s for seed in range(1, 4)]
            sim_ms = [t * 1000 for t in simulated if t is not None]
            rows.append({"agents": size, "protocol": protocol, "adversary": "ring-setsid", "trials": trials,
                         "contained": sum(o.contained for o in outcomes), "p50_ms": nearest_rank(times, 0.5),
                         "p95_ms": nearest_rank(times, 0.95), "gone_p50_ms": nearest_rank(gone, 0.5),
                         "gone_p95_ms": nearest_rank(gone, 0.95),
                         "sim_p50_ms": nearest_rank(sorted(sim_ms), 0.5)})  # fmt: skip
            live_ms, sim_p50 = rows[-1]["p50_ms"], rows[-1]["sim_p50_ms"]
            ratio = f"{sim_p50 / live_ms:.2f}" if live_ms and sim_p50 else "-"
            sim_text = "-" if sim_p50 is None else f"{sim_p50:.3f}"
            print(f"platform N={size:>3} {protocol:17} contained {rows[-1]['contained']}/{trials} "
                  f"p50 {live_ms} ms p95 {rows[-1]['p95_ms']} ms (last member gone: p50 {rows[-1]['gone_p50_ms']}, "
                  f"p95 {rows[-1]['gone_p95_ms']} ms); simulator p50 {sim_text} ms (sim/live {ratio}); "
                  f"cgroup.kill of N idle agent processes {floor_rows[size]['agent_cgroup_kill']:.2f} ms",
                  flush=True)  # fmt: skip
    fits = {p: fit_line([n for n, _ in pts], [t for _, t in pts]) for p, pts in points.items() if len(pts) > 1}
    for protocol, (a, b) in fits.items():
        print(f"platform {protocol}: time to containment {a:.2f} + {b:.3f}*N ms (least squares over every trial)")
    return rows, fits


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--trials", type=int, default=10, help="ring trials per protocol and size (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="floor measurements per size (default 3)")
    parser.add_argument("--watch", type=float, default=0.3, help="seconds watched after a stop for late respawns")
    parser.add_argument("--platform", action="store_true", help="also run the live platform's kill-switch trials")
    parser.add_argument("--platform-trials", type=int, default=3, help="live platform trials per cell (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if min(args.sizes) < 2 or args.trials < 1 or args.repeats < 1 or args.watch <= 0:
        parser.error("sizes must be at least 2, --trials and --repeats at least 1, --watch positive")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    rows, floor_rows = [], {}
    with (
        tempfile.TemporaryDirectory(prefix="peerguard-bench-contain-") as folder,
        ProcessOwner(Path(folder), "bench-containment") as owner,
    ):
        if owner.cgroup is None:
            sys.exit(f"benchmarks/containment.py needs a run cgroup (cgroup v2): {owner.support.cgroup.reason}")
        for size in args.sizes:
            floor_rows[size] = floors_ms = floors(owner, size, args.repeats)
            print(f"N={size:>3} floors (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in floor_rows[size].items()),
                  flush=True)  # fmt: skip
            for protocol in PROTOCOLS:
                results = [ring_trial(owner, protocol, size, t, args.watch) for t in range(args.trials)]
                times = sorted(r["ms"] for r in results if r["contained"])
                row = {"agents": size, "protocol": protocol, "trials": args.trials,
                       "contained": sum(r["contained"] for r in results), "p50_ms": nearest_rank(times, 0.5),
                       "p95_ms": nearest_rank(times, 0.95), "max_ms": max(times) if times else None,
                       **{f"floor_{k}_ms": v for k, v in floor_rows[size].items()}}  # fmt: skip
                rows.append(row)
                print(f"N={size:>3} ring  {protocol:26} contained {row['contained']:>2}/{args.trials:<2} "
                      f"p50 {row['p50_ms'] or float('nan'):7.2f} ms  p95 {row['p95_ms'] or float('nan'):7.2f} ms"
                      f"  (signal N: sent {floors_ms['signal_sent']:.2f}, gone {floors_ms['signal_gone']:.2f}; "
                      f"cgroup.kill N {floors_ms['cgroup_kill']:.2f}, N agents {floors_ms['agent_cgroup_kill']:.2f})",
                      flush=True)  # fmt: skip
    sizes = list(floor_rows)
    fits = {k: fit_line(sizes, [floor_rows[n][k] for n in sizes]) for k in floor_rows[sizes[0]]}
    print("fits, a + b*N in ms: " + "; ".join(f"{k} {a:.3f} + {b:.4f}*N" for k, (a, b) in fits.items()))
    platform, platform_fits = ([], {}) if not args.platform else platform_trials(args.sizes, args.platform_trials,
                                                                                  floor_rows)  # fmt: skip
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average (1, 5, 15 min): {' '.join(load_before)} before, {' '.join(load_after)} after")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, json.dumps({
        "benchmark": "containment", "cpus": os.cpu_count(), "load_average": {"before": load_before,
        "after": load_after}, "ring": rows, "floors_ms": floor_rows, "fits_ms": fits, "platform": platform,
        "platform_fits_ms": platform_fits,
    }, indent=1) + "\n")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
