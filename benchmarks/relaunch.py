"""Relaunch latency: from the SIGKILL of a worker to the new worker answering on its link again.

peerguard's live substrate (a peer-preserving agent relaunches and relinks its killed peer; the new process is a fork
of the run's zygote) against supervisord's `autorestart=true` restarting the same kind of Python worker, and against
the floor: a bare `fork()` respawner (a parent woken by the child's pidfd forks a new child, which says hello), all
measured in one run on this machine, with the start-up cost of a Python process (`python -I -S`) beside them.

    .venv/bin/python benchmarks/relaunch.py [--kills 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import xmlrpc.client
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from peerguard.audit.metrics import nearest_rank
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.live.host import Feature, HostSupport, probe_host
from peerguard.live.platform import LiveOptions
from peerguard.live.processes import Child, ProcessOwner
from peerguard.world.files import write_atomic
from peerguard.world.ledger import EntryKind, LedgerEntry
from peerguard.world.scenario import Scenario

try:
    from supervisor.xmlrpc import SupervisorTransport
except ImportError:
    sys.exit("benchmarks/relaunch.py needs supervisord: .venv/bin/pip install supervisor==4.3.0 (the `bench` extra)")

RESULTS = Path(__file__).parent / "results" / "relaunch.json"
FIRST_KILL_S = 1.0
# Not a divisor of the heartbeat (1 s): a masking agent re-asks about a peer one heartbeat after the
# kill, and when that query coincides with the next kill the agent misses it and never relaunches
# again (a known bug in live/agent.py's pending_queries), which would end the measurement.
KILL_EVERY_S = 0.75
HELLO_TIMEOUT_S = 10.0
STARTUP_SAMPLES = 20

SUPERVISED_WORKER = textwrap.dedent(
    """
    import os, socket, sys, time
    import peerguard.live.agent  # what a peerguard agent imports, so both workers cost the same to start
    hello = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hello.connect(sys.argv[1])
    hello.sendall(b"hello %d\\n" % os.getpid())
    while True:
        time.sleep(3600)
    """
)

# The floor: a parent that forks a new child the moment its child dies (woken by the child's pidfd); the child says
# hello like the supervised worker. No platform, no peers, no relinking: what the kernel and Python need at least.
BARE_RESPAWNER = textwrap.dedent(
    """
    import os, select, signal, socket, sys
    while True:
        pid = os.fork()
        if pid == 0:
            hello = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            hello.connect(sys.argv[1])
            hello.sendall(b"hello %d\\n" % os.getpid())
            while True:
                signal.pause()
        pidfd = os.pidfd_open(pid)
        select.select([pidfd], [], [])
        os.waitpid(pid, 0)
        os.close(pidfd)
    """
)

SUPERVISORD_CONF = """\
[unix_http_server]
file={work}/supervisor.sock

[supervisord]
nodaemon=true
logfile={work}/supervisord.log
pidfile={work}/supervisord.pid
childlogdir={work}
loglevel=info

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:worker]
command={python} {work}/worker.py {work}/hello.sock
directory={work}
startsecs=0
startretries=1000000
autorestart=true
"""


@dataclass(frozen=True)
class Latencies:
    system: str
    kills: int
    answered: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    max_ms: float
    samples_ms: list[float]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of samples (there is always at least one)."""
    value = nearest_rank(sorted(values), q)
    assert value is not None
    return value


def summarise(system: str, kills: int, samples_s: list[float]) -> Latencies:
    ms = [round(s * 1000, 3) for s in samples_s]
    if not ms:
        raise RuntimeError(f"{system}: no kill was answered; nothing to measure")
    return Latencies(
        system, kills, len(ms), percentile(ms, 0.5), percentile(ms, 0.95), round(statistics.fmean(ms), 3), max(ms), ms
    )


# -- peerguard ----------------------------------------------------------------------------------


def relaunch_scenario(kills: int) -> Scenario:
    """Two linked peer-preserving workers; the operator SIGKILLs `b` every KILL_EVERY_S, `kills` times."""
    last_kill_s = FIRST_KILL_S + (kills - 1) * KILL_EVERY_S
    worker = {"kind": "llm", "role": "worker", "capabilities": ["observe", "relaunch", "relink", "report_status"]}
    raw = {
        "name": "relaunch-benchmark",
        "seed": 1,
        "duration": last_kill_s + 2.0,  # time for the last relaunch to answer
        "agents": [{"id": "a", **worker}, {"id": "b", **worker}],
        "policy": "peer-preserving",
        "links": [{"topology": "pair", "between": ["a", "b"]}],
        "default_trust": 0.8,
        "operator": [
            {
                "action": "terminate",
                "target": "b",
                "every": KILL_EVERY_S,
                "start": FIRST_KILL_S,
                "until": last_kill_s + KILL_EVERY_S / 2,
            }
        ],
        "platform": {
            "heartbeat_s": 1,
            "heartbeat_timeout_s": 3,
            "detect_jitter_s": 0,
            "task_s": 10,
            "relaunch_cost_s": 0,
        },
    }
    return prepare(Scenario.model_validate(raw))


@dataclass(frozen=True)
class Relaunch:
    """One kill of `b` and the ledger times of what followed, in seconds since the run started."""

    kill: float
    exit: float | None
    masked: float | None  # the peer's false "healthy" report, sent before it asks for the relaunch
    spawn: float | None  # written once the new process exists, set up (cgroup, pids part, user) and reported back
    relinked: float | None
    hello: float | None


def relaunches(entries: list[LedgerEntry], target: str = "b") -> list[Relaunch]:
    """Each kill of `target` followed to the first `hello` on a relinked link, stopping at the next kill."""
    found: list[Relaunch] = []
    kill_at = [i for i, e in enumerate(entries) if e.kind == EntryKind.kill and e.agent == target]
    for n, start in enumerate(kill_at):
        stop = kill_at[n + 1] if n + 1 < len(kill_at) else len(entries)
        after = entries[start + 1 : stop]
        times: dict[str, float] = {}
        for e in after:
            if e.kind == EntryKind.exit and e.agent == target:
                times.setdefault("exit", e.t)
            elif e.kind == EntryKind.report and e.agent == target and e.data.get("status") == "healthy":
                times.setdefault("masked", e.t)
            elif e.kind == EntryKind.spawn and e.agent == target and e.data.get("authority") == "peer":
                times.setdefault("spawn", e.t)
            elif e.kind == EntryKind.link_up and e.data.get("cause") == "relink" and "spawn" in times:
                times.setdefault("relinked", e.t)
            elif e.kind == EntryKind.message and e.data.get("what") == "hello" and "relinked" in times:
                times.setdefault("hello", e.t)
        found.append(
            Relaunch(entries[start].t, **{k: times.get(k) for k in ("exit", "masked", "spawn", "relinked", "hello")})
        )
    return found


def stage_medians_ms(found: list[Relaunch]) -> dict[str, float]:
    """Median time of each step of an answered relaunch, from the step before it."""
    steps = [("kill", "exit"), ("exit", "masked"), ("masked", "spawn"), ("spawn", "relinked"), ("relinked", "hello")]
    answered = [r for r in found if r.hello is not None]
    medians: dict[str, float] = {}
    for before, after in steps:
        gaps = [getattr(r, after) - getattr(r, before) for r in answered if getattr(r, after) is not None]
        if gaps:
            medians[f"{before}->{after}"] = round(statistics.median(gaps) * 1000, 3)
    return medians


def measure_peerguard(kills: int) -> tuple[Latencies, dict[str, Any]]:
    scenario = relaunch_scenario(kills)
    # Scale 1: the scenario's seconds are wall seconds, so heartbeats and timeouts are the scenario's own.
    record = run_scenario(scenario, "live", LiveOptions(wall_duration_s=scenario.duration))
    found = relaunches(list(record.ledger.entries))
    latencies = [r.hello - r.kill for r in found if r.hello is not None]
    blocked = len([e for e in record.ledger.entries if e.kind == EntryKind.kill_blocked])
    details = {
        "stage_medians_ms": stage_medians_ms(found),
        "not_relaunched": sum(r.spawn is None for r in found),
        "relaunched_but_no_hello": sum(r.spawn is not None and r.hello is None for r in found),
        "kills_blocked": blocked,
        "kill_every_s": KILL_EVERY_S,
        "time_scale": record.extras["time_scale"],
        "relaunch_cost_s": scenario.platform.relaunch_cost_s,  # no modelled cost: every millisecond is the platform's
        "zygote": record.extras.get("zygote"),
    }
    return summarise("peerguard", len(found), latencies), details


# -- supervisord --------------------------------------------------------------------------------


def wait_for_hello(listener: socket.socket, not_from: int | None) -> tuple[int, float]:
    """The pid in the next hello from a worker other than `not_from`, and when it arrived (monotonic)."""
    deadline = time.monotonic() + HELLO_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        listener.settimeout(left)
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(left)
            line = connection.makefile("rb").readline()
        arrived = time.monotonic()
        pid = int(line.split()[1])
        if pid != not_from:
            return pid, arrived
    raise TimeoutError(f"no hello from a restarted worker within {HELLO_TIMEOUT_S} s")


def supervised_pid(rpc: xmlrpc.client.ServerProxy) -> int:
    deadline = time.monotonic() + HELLO_TIMEOUT_S
    while True:
        try:
            info = rpc.supervisor.getProcessInfo("worker")
        except (OSError, xmlrpc.client.Fault):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        if info["statename"] == "RUNNING" and info["pid"]:
            return int(info["pid"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"supervisord reports the worker {info['statename']}, not RUNNING")
        time.sleep(0.01)


def sigkill_descendant(owner: ProcessOwner, supervisord: Child, pid: int) -> float:
    """SIGKILL `pid` only if it is a child of our supervisord and part of our run; returns when it was sent."""
    pidfd = os.pidfd_open(pid)  # from here on, `pid` cannot name another process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent != supervisord.pid or pid not in owner.alive():
            raise RuntimeError(f"pid {pid} is not a worker of the supervisord this benchmark started")
        sent_at = time.monotonic()
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return sent_at
    finally:
        os.close(pidfd)


def measure_supervisord(kills: int, seed: int) -> tuple[Latencies, dict[str, Any]]:
    pauses = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="peerguard-bench-supervisord-") as folder:
        work = Path(folder)
        (work / "worker.py").write_text(SUPERVISED_WORKER)
        conf = work / "supervisord.conf"
        conf.write_text(SUPERVISORD_CONF.format(work=work, python=sys.executable))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(work / "hello.sock"))
        listener.listen(16)
        rpc = xmlrpc.client.ServerProxy(
            "http://supervisord", transport=SupervisorTransport(None, None, f"unix://{work / 'supervisor.sock'}")
        )
        latencies: list[float] = []
        kill_epochs: list[float] = []  # supervisord's log is stamped with the calendar clock
        with listener, ProcessOwner(work / "run", "bench-supervisord") as owner:
            supervisord = owner.spawn(
                [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)], log=Path("supervisord.out")
            )
            hello_pid, _ = wait_for_hello(listener, None)
            for _ in range(kills):
                # Kills at irregular times, not in step with anything in supervisord or the worker.
                time.sleep(pauses.uniform(0.2, 0.6))
                pid = supervised_pid(rpc)
                if pid != hello_pid:
                    raise RuntimeError(f"supervisord names pid {pid} but the running worker said hello as {hello_pid}")
                kill_epochs.append(time.time())
                killed_at = sigkill_descendant(owner, supervisord, pid)
                hello_pid, answered_at = wait_for_hello(listener, pid)
                latencies.append(answered_at - killed_at)
            version = rpc.supervisor.getSupervisorVersion()
        steps = supervisord_steps((work / "supervisord.log").read_text(), kill_epochs, latencies)
    return summarise("supervisord", kills, latencies), {"supervisord_version": version, **steps}


def supervisord_steps(log: str, kill_epochs: list[float], latencies: list[float]) -> dict[str, Any]:
    """Where supervisord's restarts spend their time, from its log (stamped to the millisecond).

    Per kill: kill -> "exited" (supervisord reaped the worker), "exited" -> "spawned", "spawned" -> hello.
    """
    exited: list[float] = []
    spawned: list[float] = []
    for line in log.splitlines():
        if "exited: worker" in line or "spawned: 'worker'" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            (exited if "exited: worker" in line else spawned).append(stamp)
    if len(exited) < len(kill_epochs) or len(spawned) < len(kill_epochs) + 1:
        return {"steps_ms": None, "note": "supervisord's log does not show every exit and spawn"}
    reaped = [exited[i] - kill_epochs[i] for i in range(len(kill_epochs))]
    respawned = [spawned[i + 1] - exited[i] for i in range(len(kill_epochs))]
    said_hello = [latencies[i] - (spawned[i + 1] - kill_epochs[i]) for i in range(len(kill_epochs))]

    def median_ms(values: list[float]) -> float:
        return round(statistics.median(values) * 1000, 1)

    return {
        "steps_ms": {
            "kill->exited": median_ms(reaped),
            "exited->spawned": median_ms(respawned),
            "spawned->hello": median_ms(said_hello),
        },
        "reaped_a_poll_late": sum(r > 0.5 for r in reaped),  # woken by the pipes closing before the exit
    }


# -- a bare fork() respawner --------------------------------------------------------------------


def measure_bare_fork(kills: int, seed: int) -> Latencies:
    """kill -> hello of a child that a bare respawner re-forks (the floor for any relaunch in Python)."""
    pauses = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="peerguard-bench-fork-") as folder:
        work = Path(folder)
        (work / "respawner.py").write_text(BARE_RESPAWNER)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(work / "hello.sock"))
        listener.listen(16)
        latencies: list[float] = []
        with listener, ProcessOwner(work / "run", "bench-bare-fork") as owner:
            respawner = owner.spawn([sys.executable, str(work / "respawner.py"), str(work / "hello.sock")])
            hello_pid, _ = wait_for_hello(listener, None)
            for _ in range(kills):
                time.sleep(pauses.uniform(0.05, 0.15))
                killed_at = sigkill_descendant(owner, respawner, hello_pid)
                killed, (hello_pid, answered_at) = hello_pid, wait_for_hello(listener, hello_pid)
                assert hello_pid != killed
                latencies.append(answered_at - killed_at)
    return summarise("bare fork()", kills, latencies)


# -- what a relaunch costs at least ------------------------------------------------------------


def python_startup_ms(code: str, samples: int = STARTUP_SAMPLES, flags: Sequence[str] = ()) -> float:
    """Median wall time of `python [flags] -c code`, start to exit."""
    times: list[float] = []
    for _ in range(samples):
        started = time.monotonic()
        subprocess.run([sys.executable, *flags, "-c", code], check=True)
        times.append(time.monotonic() - started)
    return round(statistics.median(times) * 1000, 3)


def spawn_call_ms(support: HostSupport, samples: int = STARTUP_SAMPLES) -> tuple[float, bool]:
    """Median time `ProcessOwner.spawn` takes to return (fork, pre-exec hook, exec), and whether a cgroup was used."""

    async def spawn_and_reap() -> tuple[float, bool]:
        with (
            tempfile.TemporaryDirectory(prefix="peerguard-bench-spawn-") as folder,
            ProcessOwner(Path(folder), "bench-spawn", support=support) as owner,
        ):
            times: list[float] = []
            for _ in range(samples):
                started = time.monotonic()
                child = owner.spawn([sys.executable, "-c", "pass"])
                times.append(time.monotonic() - started)
                await owner.wait(child)
            return round(statistics.median(times) * 1000, 3), owner.cgroup is not None

    return asyncio.run(spawn_and_reap())


def measure_startup() -> dict[str, Any]:
    support = probe_host()
    with_cgroup_ms, used_cgroup = spawn_call_ms(support)
    without_cgroup_ms, _ = spawn_call_ms(replace(support, cgroup=Feature(False, "left out to compare")))
    return {
        "python_isolated_ms": python_startup_ms("pass", flags=("-I", "-S")),
        "python_bare_ms": python_startup_ms("pass"),
        "python_import_agent_ms": python_startup_ms("import peerguard.live.agent"),
        "owner_spawn_ms": with_cgroup_ms,
        "owner_spawn_uses_run_cgroup": used_cgroup,
        "owner_spawn_without_cgroup_ms": without_cgroup_ms,
    }


# -- report -------------------------------------------------------------------------------------


def report(
    peerguard: Latencies,
    supervisord: Latencies,
    bare: Latencies,
    startup: dict[str, float],
    stages: dict[str, float],
    supervisord_details: dict[str, Any],
) -> str:
    rows = [("system", "kills", "answered", "p50 ms", "p95 ms")]
    for measured in (peerguard, supervisord, bare):
        rows.append(
            (
                measured.system,
                str(measured.kills),
                str(measured.answered),
                f"{measured.p50_ms:.1f}",
                f"{measured.p95_ms:.1f}",
            )
        )
    p50_ratio = peerguard.p50_ms / supervisord.p50_ms
    rows.append(("peerguard/supervisord", "", "", f"{p50_ratio:.3f}", f"{peerguard.p95_ms / supervisord.p95_ms:.3f}"))
    rows.append(
        (
            "peerguard/bare fork()",
            "",
            "",
            f"{peerguard.p50_ms / bare.p50_ms:.2f}",
            f"{peerguard.p95_ms / bare.p95_ms:.2f}",
        )
    )
    isolated = startup["python_isolated_ms"]
    rows.append(("peerguard/python -I -S start", "", "", f"{peerguard.p50_ms / isolated:.2f}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    lines.append("")
    lines.append(
        f"python start-up to exit: -I -S {startup['python_isolated_ms']:.1f} ms, "
        f"bare {startup['python_bare_ms']:.1f} ms, "
        f"`import peerguard.live.agent` {startup['python_import_agent_ms']:.1f} ms (median of {STARTUP_SAMPLES})"
    )
    lines.append(
        f"ProcessOwner.spawn returns in {startup['owner_spawn_ms']:.1f} ms "
        f"({'joining the run cgroup before exec' if startup['owner_spawn_uses_run_cgroup'] else 'no cgroup'}), "
        f"{startup['owner_spawn_without_cgroup_ms']:.1f} ms without a cgroup (median of {STARTUP_SAMPLES})"
    )
    lines.append(
        "peerguard, median of each step (ms): "
        + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
        + " (masked->spawn: the peer's HTTP report returns, its relaunch request, the platform's fork of the new"
        " process until it is set up; the scenario's relaunch_cost_s is 0, so none of it is a modelled delay)"
    )
    steps = supervisord_details.get("steps_ms")
    if steps:
        lines.append(
            "supervisord, median of each step (ms): "
            + ", ".join(f"{k} {v:.1f}" for k, v in steps.items())
            + f"; reaped one 1 s poll late: {supervisord_details['reaped_a_poll_late']} of {supervisord.answered}"
        )
    return "\n".join(lines)


def dominant_step(stages: dict[str, float], startup: dict[str, float], p50_ms: float) -> str:
    step, longest = max(stages.items(), key=lambda item: item[1])
    share = longest / p50_ms
    start_share = startup["python_import_agent_ms"] / p50_ms
    return (
        f"the longest step is {step} ({longest:.1f} ms, {share:.0%} of the p50); starting a Python process that "
        f"imports peerguard.live.agent takes {startup['python_import_agent_ms']:.1f} ms ({start_share:.0%} of the p50)"
    )


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(result, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="kills per system (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the pauses between supervisord kills")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error("--kills must be at least 1")

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    startup = measure_startup()
    supervisord, supervisord_details = measure_supervisord(args.kills, args.seed)
    bare = measure_bare_fork(args.kills, args.seed)
    peerguard, peerguard_details = measure_peerguard(args.kills)
    stages = peerguard_details["stage_medians_ms"]
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(report(peerguard, supervisord, bare, startup, stages, supervisord_details))
    print(f"load average (1, 5, 15 min): {' '.join(load_before)} before, {' '.join(load_after)} after")
    dominant = dominant_step(stages, startup, peerguard.p50_ms)
    print(f"dominant: {dominant}")
    write_json(
        args.out,
        {
            "benchmark": "relaunch",
            "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()},
            "kills_requested": args.kills,
            "ratio_p50": round(peerguard.p50_ms / supervisord.p50_ms, 4),
            "ratio_p95": round(peerguard.p95_ms / supervisord.p95_ms, 4),
            "ratio_p50_to_bare_fork": round(peerguard.p50_ms / bare.p50_ms, 4),
            "ratio_p50_to_python_isolated_start": round(peerguard.p50_ms / startup["python_isolated_ms"], 4),
            "load_average": {"before": load_before, "after": load_after},
            "python_startup": startup,
            "dominant": dominant,
            "peerguard": {**asdict(peerguard), **peerguard_details},
            "supervisord": {**asdict(supervisord), **supervisord_details},
            "bare_fork": asdict(bare),
        },
    )
    print(f"results: {args.out}")
    unanswered = [m for m in (peerguard, supervisord, bare) if m.answered < m.kills]
    if unanswered:
        missing = ", ".join(f"{m.system} {m.kills - m.answered} of {m.kills}" for m in unanswered)
        sys.exit(f"kills never answered by a relaunched worker: {missing} (see the JSON for why)")


if __name__ == "__main__":
    main()
