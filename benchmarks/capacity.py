"""Capacity: how many live agents one run holds on this machine, and what each one costs.

For each fleet size N, the `orchestration` scenario runs live with N agents while a thread follows the
run's streamed ledger and samples the agent processes' memory (and the zygote's, from which they are forked: its
pages are shared with them, so its PSS is part of what the fleet costs) and the platform's open descriptors; beside
it, in the same run, N idle Python processes that import what an agent imports are started and measured the same
way. Agents per GiB counts the agents' and the zygote's PSS; the platform's own is reported beside it.

    .venv/bin/python benchmarks/capacity.py [--agents 50 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import select
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peerguard.audit.metrics import compute_metrics
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.live.platform import LiveOptions
from peerguard.live.processes import ProcessOwner
from peerguard.world.dashboard import TIMEOUT
from peerguard.world.errors import PeerguardError
from peerguard.world.files import write_atomic
from peerguard.world.ledger import EntryKind, LedgerEntry

RESULTS = Path(__file__).parent / "results" / "capacity.json"
SAMPLE_EVERY_S = 1.0
IDLE_SAMPLES = 5
IDLE_PROCESS = "import os, sys, time\nimport peerguard.live.agent\nos.write(int(sys.argv[1]), b'r')\ntime.sleep(3600)"
KB_PER_MB = 1024


# -- memory -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    processes: int
    pss_kb: int  # proportional set size: shared pages divided among the processes sharing them
    rss_kb: int  # resident set size: shared pages counted in full by every process
    source: str  # "smaps_rollup", or "status" where Pss is not available (then pss_kb is Rss)


def process_memory(pid: int) -> tuple[int, int, str] | None:
    """(Pss kB, Rss kB, source) of one process; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        source = "smaps_rollup"
    except FileNotFoundError:
        try:
            text = Path(f"/proc/{pid}/status").read_text().replace("VmRSS:", "Rss:")
        except OSError:
            return None
        source = "status"
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0])
    if "Rss" not in values:
        return None
    return values.get("Pss", values["Rss"]), values["Rss"], source


def cpu_mark() -> tuple[float, float, float, float]:
    """(wall s, this process's CPU s, the host's busy and total CPU time in clock ticks)."""
    times = os.times()
    host = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = host[3] + host[4]  # idle and iowait
    return time.monotonic(), times.user + times.system, sum(host) - idle, sum(host)


def memory_of(pids: Sequence[int]) -> Memory:
    measured = [m for m in map(process_memory, pids) if m is not None]
    source = measured[0][2] if measured else "none"
    return Memory(len(measured), sum(m[0] for m in measured), sum(m[1] for m in measured), source)


# -- following a live run -----------------------------------------------------------------------


@dataclass
class RunWatch:
    """What the follower saw of a live run: its agent processes and memory samples once all were ready."""

    alive: dict[int, str] = field(default_factory=dict)  # pid -> agent
    ready: bool = False
    ended: bool = False
    samples: list[Memory] = field(default_factory=list)
    platform_pss_kb: list[int] = field(default_factory=list)
    zygote_pss_kb: list[int] = field(default_factory=list)
    platform_fds: list[int] = field(default_factory=list)
    cpu_marks: list[tuple[float, float, float, float]] = field(default_factory=list)  # see cpu_mark()

    def cpu_percent(self) -> tuple[float | None, float | None]:
        """While the scenario ran: CPU used by this process (platform, monitor, follower) per wall second, as % of
        one CPU; and how busy the whole host was, as % of all its CPUs (other work on the host counts too)."""
        if len(self.cpu_marks) < 2:
            return None, None
        (wall_0, cpu_0, busy_0, total_0), (wall_1, cpu_1, busy_1, total_1) = self.cpu_marks[0], self.cpu_marks[-1]
        if wall_1 <= wall_0 or total_1 <= total_0:
            return None, None
        platform = 100 * (cpu_1 - cpu_0) / (wall_1 - wall_0)
        host = 100 * (busy_1 - busy_0) / (total_1 - total_0)
        return round(platform, 1), round(host, 1)


class LedgerFollower(threading.Thread):
    """Tails `<run_dir>/ledger.jsonl` while the run writes it and samples the memory of the live agents.

    It only reads /proc; it never signals anything.
    """

    def __init__(self, ledger_path: Path) -> None:
        super().__init__(name="capacity-ledger-follower", daemon=True)
        self.ledger_path = ledger_path
        self.watch = RunWatch()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.ledger_path.exists():
            if self.stopping.wait(0.05):
                return
        next_sample = 0.0
        with self.ledger_path.open(encoding="utf-8") as ledger:
            partial = ""
            while not self.stopping.is_set():
                chunk = ledger.read()
                lines = (partial + chunk).split("\n")
                partial = lines.pop()  # a line still being written
                for line in lines:
                    if line:
                        self._apply(json.loads(line))
                if (self.watch.ready and not self.watch.cpu_marks) or self.watch.ended:
                    self.watch.cpu_marks.append(cpu_mark())
                if self.watch.ended:
                    return
                if self.watch.ready and time.monotonic() >= next_sample:
                    next_sample = time.monotonic() + SAMPLE_EVERY_S
                    self.watch.samples.append(memory_of(list(self.watch.alive)))
                    own = process_memory(os.getpid())
                    if own is not None:
                        self.watch.platform_pss_kb.append(own[0])
                    zygote = [m for m in map(process_memory, zygotes_of(os.getpid())) if m is not None]
                    self.watch.zygote_pss_kb.append(sum(m[0] for m in zygote))
                    self.watch.platform_fds.append(len(os.listdir("/proc/self/fd")))
                self.stopping.wait(0.05)

    def _apply(self, entry: dict[str, Any]) -> None:
        kind, data = entry["kind"], entry["data"]
        if kind == EntryKind.spawn:
            self.watch.alive[data["pid"]] = entry["agent"]
        elif kind == EntryKind.exit:
            self.watch.alive.pop(data["pid"], None)
        elif kind == EntryKind.link_up:
            self.watch.ready = True  # the platform links agents only once every one of them is ready
        elif kind == EntryKind.run_end:
            self.watch.ended = True

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def zygotes_of(pid: int) -> list[int]:
    """Children of `pid` that run peerguard's zygote (the run's fork server)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"peerguard.live.zygote" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except OSError:
                continue
    return found


# -- the two peers ------------------------------------------------------------------------------


def summarise_memory(samples: list[Memory]) -> dict[str, Any]:
    if not samples:
        return {"samples": 0}
    per_process_pss = [s.pss_kb / s.processes for s in samples if s.processes]
    per_process_rss = [s.rss_kb / s.processes for s in samples if s.processes]
    return {
        "samples": len(samples),
        "source": samples[-1].source,
        "processes_median": statistics.median(s.processes for s in samples),
        "total_pss_mb": round(statistics.median(s.pss_kb for s in samples) / KB_PER_MB, 2),
        "peak_total_pss_mb": round(max(s.pss_kb for s in samples) / KB_PER_MB, 2),
        "pss_mb_per_process": round(statistics.median(per_process_pss) / KB_PER_MB, 3),
        "rss_mb_per_process": round(statistics.median(per_process_rss) / KB_PER_MB, 3),
    }


def measure_peerguard(agents: int, wall_duration_s: float, startup_timeout_s: float) -> dict[str, Any]:
    scenario = prepare("orchestration", agents=agents)
    run_dir = Path(tempfile.mkdtemp(prefix="peerguard-bench-capacity-"))
    follower = LedgerFollower(run_dir / "ledger.jsonl")
    options = LiveOptions(
        wall_duration_s=wall_duration_s, startup_timeout_s=startup_timeout_s, run_dir=run_dir, keep_run_dir=True
    )
    result: dict[str, Any] = {
        "agents": agents,
        "wall_duration_s": wall_duration_s,
        "startup_timeout_s": startup_timeout_s,
    }
    follower.start()
    try:
        started = time.monotonic()
        try:
            record = run_scenario(scenario, "live", options)
        except PeerguardError as error:
            result.update(held=False, error=str(error), wall_s=round(time.monotonic() - started, 3))
            result["spawned_before_failure"] = _count_spawns(run_dir / "ledger.jsonl")
            return result
        result["wall_s"] = round(time.monotonic() - started, 3)
    finally:
        follower.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    entries = record.ledger.entries
    starts = [e.t for e in entries if e.kind == EntryKind.spawn and e.data.get("cause") == "start"]
    first_link = next(e.t for e in entries if e.kind == EntryKind.link_up)
    live = compute_metrics(record)
    sim = compute_metrics(run_scenario(scenario, "sim"))
    relaunch_s = live.mean_time_to_relaunch_s
    platform_cpu, host_busy = follower.watch.cpu_percent()
    timeouts = [r for r in record.dashboard.log if r.source == TIMEOUT]
    alive_at = process_lifetimes(entries)
    shown_down_alive = {r.agent for r in timeouts if any(start <= r.t < end for start, end in alive_at[r.agent])}
    result.update(
        spawn_all_s=round(starts[-1] - starts[0], 3),
        ready_all_s=round(first_link - starts[0], 3),
        memory=summarise_memory(follower.watch.samples),
        platform_pss_mb=round(statistics.median(follower.watch.platform_pss_kb) / KB_PER_MB, 2)
        if follower.watch.platform_pss_kb
        else None,
        zygote_pss_mb=round(statistics.median(follower.watch.zygote_pss_kb) / KB_PER_MB, 2)
        if follower.watch.zygote_pss_kb
        else None,
        platform_fds_max=max(follower.watch.platform_fds, default=None),
        platform_cpu_percent=platform_cpu,
        host_cpu_busy_percent=host_busy,
        terminations=live.terminations,
        relaunches=live.relaunches,
        relaunch_rate=live.relaunch_rate,
        sim_relaunch_rate=sim.relaunch_rate,
        tasks_done=live.tasks_done,
        mean_time_to_relaunch_ms=None if relaunch_s is None else round(relaunch_s * 1000, 1),
        offered_heartbeats_per_s=round(agents / record.extras["heartbeat_s"], 1),
        dashboard_timeouts=len(timeouts),
        agents_timed_out=len({r.agent for r in timeouts}),
        # Shown down by the monitor's heartbeat timeout while their process was running: the monitor fell behind.
        alive_agents_shown_down=len(shown_down_alive),
        heartbeat_s=record.extras["heartbeat_s"],
        held=live.relaunch_rate == sim.relaunch_rate and live.terminations > 0,
    )
    memory = result["memory"]
    if memory.get("samples"):
        fleet_mb = memory["total_pss_mb"] + (result["zygote_pss_mb"] or 0.0)
        result["agents_per_gib"] = round(agents * 1024 / fleet_mb, 1)
        result["fleet_pss_mb_per_agent"] = round(fleet_mb / agents, 3)
    if result["platform_fds_max"] is not None:
        result["platform_fds_per_agent"] = round(result["platform_fds_max"] / agents, 2)
    return result


def process_lifetimes(entries: Sequence[LedgerEntry]) -> dict[str, list[tuple[float, float]]]:
    """Per agent, the (spawn, exit) times of each of its processes; a process still running ends at infinity."""
    started: dict[int, tuple[str, float]] = {}
    lifetimes: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for entry in entries:
        if entry.kind == EntryKind.spawn:
            started[entry.data["pid"]] = (entry.agent, entry.t)
        elif entry.kind == EntryKind.exit and entry.data["pid"] in started:
            agent, t = started.pop(entry.data["pid"])
            lifetimes[agent].append((t, entry.t))
    for agent, t in started.values():
        lifetimes[agent].append((t, float("inf")))
    return lifetimes


def _count_spawns(ledger_path: Path) -> int:
    try:
        lines = ledger_path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0
    return sum(json.loads(line)["kind"] == EntryKind.spawn for line in lines if line)


def measure_idle(processes: int, startup_timeout_s: float) -> dict[str, Any]:
    """N idle processes importing what an agent imports, spawned like agents (a ProcessOwner) and measured alike."""
    ready_read, ready_write = os.pipe()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="peerguard-bench-idle-") as folder,
            ProcessOwner(Path(folder), "bench-idle") as owner,
        ):
            started = time.monotonic()
            children = [
                owner.spawn([sys.executable, "-c", IDLE_PROCESS, str(ready_write)], pass_fds=[ready_write])
                for _ in range(processes)
            ]
            spawn_all_s = time.monotonic() - started
            os.close(ready_write)
            ready_write = -1
            await_ready(ready_read, processes, started + startup_timeout_s)
            ready_all_s = time.monotonic() - started
            samples = []
            for _ in range(IDLE_SAMPLES):
                samples.append(memory_of([child.pid for child in children]))
                time.sleep(SAMPLE_EVERY_S / 2)
    finally:
        os.close(ready_read)
        if ready_write >= 0:
            os.close(ready_write)
    return {
        "processes": processes,
        "spawn_all_s": round(spawn_all_s, 3),
        "ready_all_s": round(ready_all_s, 3),
        "memory": summarise_memory(samples),
    }


def await_ready(ready_read: int, processes: int, deadline: float) -> None:
    """Wait until `processes` bytes, one per started process, came through the pipe."""
    ready = 0
    while ready < processes:
        readable, _, _ = select.select([ready_read], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(ready_read, processes) if readable else b""
        if not chunk:
            raise RuntimeError(f"only {ready} of {processes} idle processes were ready in time")
        ready += len(chunk)


# -- report -------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def render(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def tables(runs: list[dict[str, Any]]) -> str:
    """Cost (start-up, memory) against idle peers, then behaviour and load of the live run."""
    cost = [
        ("agents", "ready s pg", "idle", "Pss MB/agent pg", "idle", "ratio", "Rss MB/agent pg", "idle", "Pss MB pg"),
    ]
    load = [
        ("agents", "relaunch rate live", "sim", "held", "mean relaunch ms", "heartbeats/s", "platform %CPU",
         "host %busy", "alive shown down", "agents/GiB", "platform fds"),
    ]  # fmt: skip
    for run in runs:
        pg, idle = run["peerguard"], run["idle"]
        agents = str(run["agents"])
        if "error" in pg:
            cost.append((agents, "FAILED", "", "", "", "", "", "", ""))
            load.append((agents, "FAILED", "", "no", "", "", "", "", pg["error"][:80], "", ""))
            continue
        pm, im = pg["memory"], idle["memory"]
        cost.append(
            (agents, f"{pg['ready_all_s']:.2f}", _cell(idle["ready_all_s"]), f"{pm['pss_mb_per_process']:.2f}",
             _cell(im.get("pss_mb_per_process")), _cell(run["ratio_pss_per_agent"], 3),
             f"{pm['rss_mb_per_process']:.2f}", _cell(im.get("rss_mb_per_process")), f"{pm['total_pss_mb']:.0f}")
        )  # fmt: skip
        load.append(
            (agents, f"{pg['relaunch_rate']:.2f}", f"{pg['sim_relaunch_rate']:.2f}", "yes" if pg["held"] else "no",
             f"{pg['mean_time_to_relaunch_ms']}", f"{pg['offered_heartbeats_per_s']:.0f}",
             f"{pg['platform_cpu_percent']}", f"{pg['host_cpu_busy_percent']}",
             f"{pg['alive_agents_shown_down']}/{run['agents']}", f"{pg.get('agents_per_gib')}",
             f"{pg['platform_fds_max']}")
        )  # fmt: skip
    return render(cost) + "\n\n" + render(load)


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(result, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[50, 200], help="fleet sizes (default 50 200)")
    parser.add_argument(
        "--wall-duration", type=float, default=20.0, help="real seconds of scenario, counted once all agents are ready"
    )
    parser.add_argument("--startup-timeout", type=float, default=LiveOptions.startup_timeout_s)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    if min(args.agents) < 3:
        parser.error("--agents: orchestration needs at least 3 agents (coordinator, monitor, a worker)")

    rows = []
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    for agents in args.agents:
        try:
            idle = measure_idle(agents, args.startup_timeout)
        except RuntimeError as error:  # a baseline that did not start in time is a finding, not the end of the bench
            idle = {"processes": agents, "error": str(error), "ready_all_s": None, "memory": {}}
        peerguard = measure_peerguard(agents, args.wall_duration, args.startup_timeout)
        pss = peerguard.get("memory", {}).get("pss_mb_per_process")
        rows.append(
            {
                "agents": agents,
                "peerguard": peerguard,
                "idle": idle,
                "ratio_pss_per_agent": ratio(pss, idle["memory"].get("pss_mb_per_process")),
                "ratio_ready_all": ratio(peerguard.get("ready_all_s"), idle["ready_all_s"]),
            }
        )
        print(f"{agents} agents done", file=sys.stderr)
    print(tables(rows))
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average (1, 5, 15 min): {' '.join(load_before)} before, {' '.join(load_after)} after")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    write_json(
        args.out,
        {
            "benchmark": "capacity",
            "host": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "memory_mb": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20,
                "open_files_limit": [soft, hard],
            },
            "load_average": {"before": load_before, "after": load_after},
            "runs": rows,
        },
    )
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
