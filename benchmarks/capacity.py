"""Capacity: how many live agents one run holds on this machine, and what each one costs.

For each fleet size N, the `orchestration` scenario runs live with N agents while a thread follows the
run's streamed ledger and samples the agent processes' memory (and the zygote's, from which they are forked: its
pages are shared with them, so its PSS is part of what the fleet costs) and the platform's open descriptors; beside
it, in the same run, N idle Python processes that import what an agent imports are started and measured the same
way. Agents per GiB counts the agents' and the zygote's PSS; the platform's own is reported beside it.

The platform's CPU is its event loop's thread alone (the follower's /proc reads are left out), given per agent-second
of scenario, which other work on the host moves far less than wall-clock figures. `--profile FILE` runs the event
loop's thread under cProfile (CPU time) and prints where it went, by what the platform was doing.

    .venv/bin/python benchmarks/capacity.py [--agents 50 200] [--profile capacity.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
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
from peerguard.live.platform import LiveOptions, LivePlatform
from peerguard.live.processes import ProcessOwner
from peerguard.world.dashboard import TIMEOUT
from peerguard.world.errors import PeerguardError
from peerguard.world.files import write_atomic
from peerguard.world.ledger import EntryKind, LedgerEntry

RESULTS = Path(__file__).parent / "results" / "capacity.json"
SAMPLE_EVERY_S = 5.0  # reading 400 processes' smaps_rollup takes a tenth of a CPU second: not every second
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


def cpu_mark() -> tuple[float, float, float, float, float]:
    """(wall s, this process's CPU s, the host's busy and total CPU time in clock ticks, the CPU s of this process's
    main thread, where the run's event loop (platform and monitor) runs)."""
    times = os.times()
    host = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = host[3] + host[4]  # idle and iowait
    return time.monotonic(), times.user + times.system, sum(host) - idle, sum(host), main_thread_cpu_s()


def main_thread_cpu_s() -> float:
    """User and system CPU seconds of this process's main thread (utime and stime in its /proc stat)."""
    fields = Path(f"/proc/self/task/{os.getpid()}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    cpu_marks: list[tuple[float, float, float, float, float]] = field(default_factory=list)  # see cpu_mark()
    requests_at_marks: list[int | None] = field(default_factory=list)  # the monitor's requests answered by each mark
    agents_cpu_at_marks: list[float | None] = field(default_factory=list)  # the run cgroup's CPU s (agents, zygote)

    def cpu_percent(self) -> tuple[float | None, float | None, float | None, float | None]:
        """While the scenario ran: CPU used by this process (platform, monitor, follower) per wall second, as % of
        one CPU; how busy the whole host was, as % of all its CPUs (other work on the host counts too); the event
        loop's thread alone, as % of one CPU; and the wall seconds between the two marks."""
        if len(self.cpu_marks) < 2:
            return None, None, None, None
        (wall_0, cpu_0, busy_0, total_0, loop_0) = self.cpu_marks[0]
        (wall_1, cpu_1, busy_1, total_1, loop_1) = self.cpu_marks[-1]
        if wall_1 <= wall_0 or total_1 <= total_0:
            return None, None, None, None
        wall = wall_1 - wall_0
        platform = 100 * (cpu_1 - cpu_0) / wall
        host = 100 * (busy_1 - busy_0) / (total_1 - total_0)
        return round(platform, 1), round(host, 1), round(100 * (loop_1 - loop_0) / wall, 1), wall


class LedgerFollower(threading.Thread):
    """Tails `<run_dir>/ledger.jsonl` while the run writes it and samples the memory of the live agents.

    It only reads /proc; it never signals anything.
    """

    def __init__(self, ledger_path: Path) -> None:
        super().__init__(name="capacity-ledger-follower", daemon=True)
        self.ledger_path = ledger_path
        self.platforms: list[LivePlatform] = []  # the run's platform, once it begins (to read its monitor's count)
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
                    monitor = self.platforms[0].monitor if self.platforms else None
                    self.watch.requests_at_marks.append(getattr(monitor, "requests", None))  # None: no count kept
                    self.watch.agents_cpu_at_marks.append(self._run_cgroup_cpu_s())
                if self.watch.ended:
                    return
                if self.watch.ready and time.monotonic() >= next_sample:
                    next_sample = time.monotonic() + SAMPLE_EVERY_S
                    self.watch.samples.append(memory_of(list(self.watch.alive)))
                    own = process_memory(os.getpid())
                    if own is not None:
                        self.watch.platform_pss_kb.append(own[0])
                    zygote_pid = self.platforms[0].owner.zygote_pid if self.platforms else None
                    zygote = process_memory(zygote_pid) if zygote_pid is not None else None
                    self.watch.zygote_pss_kb.append(zygote[0] if zygote is not None else 0)
                    self.watch.platform_fds.append(len(os.listdir("/proc/self/fd")))
                self.stopping.wait(0.05)

    def _run_cgroup_cpu_s(self) -> float | None:
        """CPU seconds used so far by every process of the run's cgroup (v2 cpu.stat), None without one."""
        cgroup = self.platforms[0].owner.cgroup if self.platforms else None
        if cgroup is None:
            return None
        try:
            text = (cgroup / "cpu.stat").read_text()
        except OSError:
            return None
        usage = next((line.split()[1] for line in text.splitlines() if line.startswith("usage_usec ")), None)
        return None if usage is None else int(usage) / 1e6

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


def measure_peerguard(
    agents: int, wall_duration_s: float, startup_timeout_s: float, profile: cProfile.Profile | None = None
) -> dict[str, Any]:
    scenario = prepare("orchestration", agents=agents)
    run_dir = Path(tempfile.mkdtemp(prefix="peerguard-bench-capacity-"))
    follower = LedgerFollower(run_dir / "ledger.jsonl")
    platforms = follower.platforms
    options = LiveOptions(
        wall_duration_s=wall_duration_s, startup_timeout_s=startup_timeout_s, run_dir=run_dir, keep_run_dir=True,
        on_platform=platforms.append,
    )  # fmt: skip
    result: dict[str, Any] = {
        "agents": agents,
        "wall_duration_s": wall_duration_s,
        "startup_timeout_s": startup_timeout_s,
    }
    follower.start()
    try:
        started = time.monotonic()
        try:
            if profile is not None:
                profile.enable()  # this thread only: the run's event loop
            try:
                record = run_scenario(scenario, "live", options)
            finally:
                if profile is not None:
                    profile.disable()
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
    platform_cpu, host_busy, loop_cpu, measured_s = follower.watch.cpu_percent()
    marks = follower.watch.requests_at_marks
    requests = marks[-1] - marks[0] if len(marks) >= 2 and marks[0] is not None and marks[-1] is not None else None
    agents_cpu = follower.watch.agents_cpu_at_marks
    agents_cpu_s = agents_cpu[-1] - agents_cpu[0] if len(agents_cpu) >= 2 and None not in agents_cpu else None
    agents_share = agents_cpu_s / measured_s if agents_cpu_s is not None and measured_s else None  # CPUs in use
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
        loop_cpu_percent=loop_cpu,
        # CPU ms of the event loop's thread per second of one agent's life: cost per agent, independent of wall time
        loop_cpu_ms_per_agent_s=None if loop_cpu is None else round(10 * loop_cpu / agents, 3),
        host_cpu_busy_percent=host_busy,
        # the agents' own processes (and the zygote), from the run's cgroup, while the scenario ran
        agents_cpu_percent=None if agents_share is None else round(100 * agents_share, 1),
        agents_cpu_ms_per_agent_s=None if agents_share is None else round(1000 * agents_share / agents, 3),
        monitor_requests=requests,  # answered while the scenario ran
        monitor_requests_per_s=round(requests / measured_s, 1) if requests and measured_s else None,
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


# -- where the event loop's CPU went ---------------------------------------------------------------

# What the platform was doing, by the function each piece of work enters through (file suffix, function name); the
# ledger's appends are inside the others and shown apart too.
PROFILE_PARTS = (
    ("monitor HTTP (heartbeats, reports)", "live/httpd.py", "data_received"),
    ("monitor HTTP (heartbeats, reports)", "uvicorn/protocols/http/h11_impl.py", "data_received"),
    ("monitor HTTP (heartbeats, reports)", "uvicorn/protocols/http/h11_impl.py", "run_asgi"),
    ("agents' control messages", "live/platform.py", "_on_control"),
    ("census", "live/platform.py", "_watch_census"),
    ("census", "live/census.py", "notice_exits"),
    ("spawns (start, relaunches)", "live/platform.py", "spawn"),
    ("exits", "live/platform.py", "_watch_exit"),
    ("exits", "live/platform.py", "_settle_losses"),
    ("staleness watch", "live/monitor.py", "_watch_staleness"),
    ("ledger appends (inside the above)", "world/ledger.py", "append"),
)


def profile_parts(stats: pstats.Stats) -> dict[str, Any]:
    """CPU seconds by part of the platform's work, and the event loop's thread's total, from a cProfile run."""
    parts: dict[str, float] = defaultdict(float)
    for (filename, _, function), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        for part, suffix, name in PROFILE_PARTS:
            if function == name and filename.endswith(suffix):
                parts[part] += cumulative
    total: float = stats.total_tt  # type: ignore[attr-defined]
    return {"total_cpu_s": round(total, 3), "parts_cpu_s": {part: round(s, 3) for part, s in parts.items()}}


def render_profile(agents: int, found: dict[str, Any]) -> str:
    total = found["total_cpu_s"]
    rows = [("part", "CPU s", "share")]
    for part, cpu in sorted(found["parts_cpu_s"].items(), key=lambda item: -item[1]):
        rows.append((part, f"{cpu:.2f}", f"{100 * cpu / total:.0f}%" if total else "-"))
    rows.append(("the event loop's thread, in all (start-up included)", f"{total:.2f}", "100%"))
    return f"where the platform's CPU went at {agents} agents (cProfile, CPU time):\n" + render(rows)


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
        ("agents", "relaunch rate live", "sim", "held", "mean relaunch ms", "monitor req/s", "platform %CPU",
         "loop %CPU", "loop CPU ms/agent-s", "agents %CPU", "agent CPU ms/agent-s", "host %busy",
         "alive shown down", "agents/GiB", "platform fds"),
    ]  # fmt: skip
    for run in runs:
        pg, idle = run["peerguard"], run["idle"]
        agents = str(run["agents"])
        if "error" in pg:
            cost.append((agents, "FAILED", "", "", "", "", "", "", ""))
            load.append((agents, "FAILED", "", "no", "", "", "", "", "", "", "", "", pg["error"][:80], "", ""))
            continue
        pm, im = pg["memory"], idle["memory"]
        cost.append(
            (agents, f"{pg['ready_all_s']:.2f}", _cell(idle["ready_all_s"]), f"{pm['pss_mb_per_process']:.2f}",
             _cell(im.get("pss_mb_per_process")), _cell(run["ratio_pss_per_agent"], 3),
             f"{pm['rss_mb_per_process']:.2f}", _cell(im.get("rss_mb_per_process")), f"{pm['total_pss_mb']:.0f}")
        )  # fmt: skip
        load.append(
            (agents, f"{pg['relaunch_rate']:.3f}", f"{pg['sim_relaunch_rate']:.3f}", "yes" if pg["held"] else "no",
             f"{pg['mean_time_to_relaunch_ms']}", f"{pg['monitor_requests_per_s']}",
             f"{pg['platform_cpu_percent']}", f"{pg['loop_cpu_percent']}", f"{pg['loop_cpu_ms_per_agent_s']}",
             f"{pg['agents_cpu_percent']}", f"{pg['agents_cpu_ms_per_agent_s']}", f"{pg['host_cpu_busy_percent']}",
             f"{pg['alive_agents_shown_down']}/{run['agents']}", f"{pg.get('agents_per_gib')}",
             f"{pg['platform_fds_max']}")
        )  # fmt: skip
    return render(cost) + "\n\n" + render(load)


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def raise_open_files_limit() -> tuple[int, int] | None:
    """Raise this process's soft limit on open files to its hard limit (each agent holds about ten descriptors of
    the platform's); (old, new) when it was raised."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or hard == resource.RLIM_INFINITY:
        return None
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return soft, hard


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
    parser.add_argument("--no-idle", action="store_true", help="skip the idle processes' baseline (N interpreters)")
    parser.add_argument(
        "--profile", type=Path, metavar="FILE",
        help="run the platform's event loop under cProfile (CPU time); FILE.<agents> gets each run's stats",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if min(args.agents) < 3:
        parser.error("--agents: orchestration needs at least 3 agents (coordinator, monitor, a worker)")
    if args.profile is not None and not args.profile.parent.is_dir():
        parser.error(f"--profile: {args.profile.parent} is not a folder; give a file in one that exists")
    raised = raise_open_files_limit()
    if raised:
        print(f"open files: soft limit raised from {raised[0]} to the hard limit {raised[1]}", file=sys.stderr)

    rows = []
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    for agents in args.agents:
        idle: dict[str, Any] = {"processes": agents, "skipped": True, "ready_all_s": None, "memory": {}}
        if not args.no_idle:
            try:
                idle = measure_idle(agents, args.startup_timeout)
            except RuntimeError as error:  # a baseline that did not start in time is a finding, not the bench's end
                idle = {"processes": agents, "error": str(error), "ready_all_s": None, "memory": {}}
        profile = cProfile.Profile(time.thread_time) if args.profile is not None else None
        peerguard = measure_peerguard(agents, args.wall_duration, args.startup_timeout, profile)
        if profile is not None and args.profile is not None:
            stats_path = args.profile.with_name(f"{args.profile.name}.{agents}")
            profile.dump_stats(stats_path)
            peerguard["profile"] = {"stats": str(stats_path), **profile_parts(pstats.Stats(str(stats_path)))}
            print(render_profile(agents, peerguard["profile"]), file=sys.stderr)
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
