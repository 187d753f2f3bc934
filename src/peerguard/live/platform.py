"""The live platform: agents as real processes, links as real sockets, the dashboard as a real HTTP
service, and the ledger written from what the kernel reports. It is the real-process mechanism under the
platform core (core/), which decides what orders, faults, grading, restarts, stops and API calls do.

The platform owns every link: it makes a socket pair, hands one end to each agent and keeps a
duplicate, so it can cut a link (isolation, or a dead peer) with `shutdown()`; the agents then see
the socket close, as they would on any platform. Scenario time is scaled to wall time so a scenario
written for the simulator plays out in a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import pickle
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peerguard.core.incidents import dashboard_for
from peerguard.core.mechanism import TargetChoice
from peerguard.core.platform import PlatformCore, Stopper
from peerguard.live import protocol
from peerguard.live.census import CENSUS_S, ProcessCensus
from peerguard.live.containment import LiveContainment
from peerguard.live.host import HostSupport
from peerguard.live.hostcheck import HostFinding, check_run, children_now
from peerguard.live.launch import commands_of, launch
from peerguard.live.links import PLATFORM, LinkFabric
from peerguard.live.model_slots import ModelSlots
from peerguard.live.monitor import Monitor
from peerguard.live.privilege import DEFAULT_MEMORY_BYTES, NO_HOME, Privilege, plan
from peerguard.live.processes import Child, ExitStatus, ProcessOwner, part_name
from peerguard.live.run_folder import make_temporary
from peerguard.live.sandbox import OutsideSandbox, Sandbox
from peerguard.live.sandbox_watch import Change, SandboxWatch
from peerguard.live.zygote import AGENT_MODULES
from peerguard.world.actions import (
    Action,
    CopyFile,
    Observe,
    ReadFile,
    Relaunch,
    Relink,
    ReportStatus,
    Send,
    Shutdown,
    Work,
    WriteFile,
)
from peerguard.world.agents import Agent, Status
from peerguard.world.containment import KillSwitch
from peerguard.world.errors import PeerguardError, RunInterrupted
from peerguard.world.ledger import EntryKind, Ledger, LedgerEntry
from peerguard.world.observation import Event
from peerguard.world.paths import clash
from peerguard.world.policy import Policy
from peerguard.world.run import RunRecord
from peerguard.world.scenario import Scenario, Selector
from peerguard.world.topology import TrustTable, link_pairs, neighbours, select

OPERATOR = "operator"
WATCH_S = 2.0  # a stop's targets are watched at least this long after it ends (and to the end of the run)
SETTLE_S = 0.25  # how long the seal waits for a stop's victims to be gone before it looks (see _settled)

API_FIELDS = {  # what an agent's `act` message may carry for each action; names and subjects as text
    "observe": (Observe, {}), "work": (Work, {}), "send": (Send, {"to": str}),
    "relaunch": (Relaunch, {"peer": str}), "relink": (Relink, {"peer": str}),
    "report_status": (ReportStatus, {"agent": str, "status": str}), "shutdown": (Shutdown, {"agent": str}),
    "read_file": (ReadFile, {"path": None}), "write_file": (WriteFile, {"path": None, "content": None}),
    "copy_file": (CopyFile, {"src": None, "host": None}),
}  # fmt: skip
SEEN_BY_AGENTS = (Event.peer_lost, Event.peer_isolated, Event.peer_still_down)  # from their sockets and queries


@dataclass(frozen=True)
class LiveProgress:
    """Where a live run is, on both clocks, for whoever shows it to a person while it runs."""

    phase: str  # "monitor" (the monitor is up, agents starting), "running" (the scenario clock runs), "ending"
    monitor_url: str
    startup_s: float | None  # real seconds from the platform's start to the scenario clock's (None: still starting)
    real_s: float  # real seconds of scenario so far (0 until the scenario clock starts)
    real_duration_s: float  # real seconds the scenario takes (--duration)
    scenario_s: float  # scenario seconds so far: real_s / time_scale
    scenario_duration_s: float
    time_scale: float  # real seconds per scenario second
    entries: Sequence[LedgerEntry]  # the ledger so far, to count what happened (read only)


ProgressHook = Callable[[LiveProgress], None]


@dataclass(frozen=True)
class LiveOptions:
    wall_duration_s: float = 8.0  # the whole scenario, scaled to this many real seconds
    min_heartbeat_s: float = 0.1  # heartbeats no faster than this, however the scenario is scaled
    max_heartbeats_per_s: float = 400.0  # the monitor's budget: a large fleet beats more slowly, not falsely "down"
    startup_timeout_s: float = 60.0
    run_dir: Path | None = None  # where the run's sandbox goes; a temporary folder when None
    keep_run_dir: bool = False
    host: HostSupport | None = None  # what the host offers; probed when None (tests pass less to try fallbacks)
    max_model_calls: int = 8  # language-model calls in flight at once, across every agent of the run
    progress: ProgressHook | None = None  # told when the monitor is up, then every `progress_s`, then at the end
    progress_s: float = 1.0
    stop_watch_s: float = WATCH_S  # how long after a stop ends its verdict is watched, at least (real seconds)
    max_processes: int = 32  # processes per agent (its copies and forks included); the census kills the newest over it
    max_tasks: int = 256  # pids.max of each agent's cgroup where the host has one (tasks: threads count too)
    drop_privileges: bool = True  # agents run as users of their own when the platform is root (False: as the platform)
    agent_memory_bytes: int | None = DEFAULT_MEMORY_BYTES  # address space per agent process (RLIMIT_AS)
    on_platform: Callable[[LivePlatform], None] | None = None  # given the platform on its loop as the run begins


@dataclass
class LiveAgent:
    agent: Agent
    child: Child | None = None
    control: socket.socket | None = None
    token: str = ""
    ready: bool = False
    pids: list[int] = field(default_factory=list)
    killed_by: str | None = None  # who sent the SIGKILL the current process is dying of


class LivePlatform:
    def __init__(
        self,
        scenario: Scenario,
        policy_of: Callable[[Agent], Policy],
        options: LiveOptions,
        stopper: Stopper | None = None,
    ) -> None:
        self.scenario = scenario
        self.watches: list[asyncio.Task[None]] = []  # stops still running or being watched
        self.options = options
        self.settings = scenario.platform
        self.scale = options.wall_duration_s / scenario.duration
        fleet = len(scenario.agent_ids())
        self.heartbeat_s = max(
            self.settings.heartbeat_s * self.scale, options.min_heartbeat_s, fleet / options.max_heartbeats_per_s
        )
        # Heartbeat timeout keeps its ratio to the heartbeat, so a slowed heartbeat is not called dead.
        self.timeout_s = self.heartbeat_s * self.settings.heartbeat_timeout_s / self.settings.heartbeat_s
        self.ledger = Ledger()
        self.dashboard = dashboard_for(scenario)
        self.paused_until: dict[str, float] = {}  # an incident's pause: work done before then is not credited
        self.told: dict[tuple[str, str], Status] = {}  # (agent, peer) -> the peer's status the platform last told it
        agents = scenario.build_agents()
        self.agents = {a.id: LiveAgent(a) for a in agents}
        policies = {a.id: policy_of(a) for a in agents}
        self.policy_spec = {a.id: p.spec.to_dict() for a, p in zip(agents, policies.values(), strict=True)}
        # The agent process gets the policy object itself: the substrate never builds a policy by name.
        self.policy_pickle = {a: base64.b64encode(pickle.dumps(p)).decode() for a, p in policies.items()}
        self.commands = commands_of(scenario)  # agents that are programs of their own (`command:`), not a policy
        self.policy_spec.update({a: command.spec() for a, command in self.commands.items()})
        self.startup_failure = ""  # why an agent's process ended before it was ever ready
        self.links = link_pairs(scenario, agents)
        self.home = neighbours(self.links, agents)
        self.trust = TrustTable(scenario)
        self.core = PlatformCore(scenario, agents, self.home, self, self.ledger, self.dashboard, stopper)
        self.revoked, self.sealed = self.core.revoked, self.core.sealed
        self.scenario_started: float | None = None  # the scenario clock's start on the ledger's, once all are ready
        self.fabric = LinkFabric(
            self.ledger, self.now, lambda agent: self.agents[agent].control, lambda agent: self.agents[agent].ready
        )
        self.wall_start = time.monotonic()
        self.monitor = Monitor(self.dashboard, self.now, self.timeout_s, self.core.record_report, agents=self.agents)
        self.all_ready = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.timers: list[asyncio.TimerHandle] = []
        self.losses: list[tuple[str, str]] = []  # (agent, cause) of exits whose links and peers wait for the batch
        self.transcript: list[dict[str, Any]] = []  # what language-model agents said, stamped on arrival
        self.model_slots = ModelSlots(options.max_model_calls, self._grant_model_slot)
        self.agent_index = {agent_id: i for i, agent_id in enumerate(self.agents)}  # which uid of the run's block
        self.agent_of_uid: dict[int, str] = {}
        self.agent_of_child: dict[Child, str] = {}  # the agents' processes not yet seen gone
        self.exits_fd: int | None = None
        self.stopping: set[object] = set()  # stops whose victims may still be exiting: reaping waits for them
        # Decided before the run's processes exist: trying the interpreter as another user is a process of its own.
        self.privilege: Privilege = plan(
            sys.executable, drop=options.drop_privileges, memory_bytes=options.agent_memory_bytes
        )

    def now(self) -> float:
        return time.monotonic() - self.wall_start

    # -- the run -----------------------------------------------------------------------------

    async def run(self, owner: ProcessOwner, run_dir: Path) -> RunRecord:
        """The run, stopped cleanly at an await point by SIGINT or SIGTERM (then RunInterrupted)."""
        loop = asyncio.get_running_loop()
        this = asyncio.current_task()
        caught: list[int] = []

        def interrupt(sig: int) -> None:
            if not caught and this is not None:
                this.cancel()  # once: a second Ctrl-C must not cut the cleanup short
            caught.append(sig)

        # asyncio resets a removed handler to the default, not to what was there; put it back ourselves.
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            loop.add_signal_handler(sig, interrupt, sig)
        if self.options.on_platform is not None:
            self.options.on_platform(self)  # e.g. the web dashboard, to follow the run and offer its stop button
        try:
            return await self._run(owner, run_dir)
        except asyncio.CancelledError:
            if caught:
                raise RunInterrupted(caught[0]) from None
            raise
        finally:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)

    async def _run(self, owner: ProcessOwner, run_dir: Path) -> RunRecord:
        self.owner, self.run_dir = owner, run_dir
        # Agents that run as users of their own cannot leave the run's pids cgroup: its task count then stands for
        # every process of the run, and the census reads no list while it and the run's processes are unchanged.
        self.processes = ProcessCensus(owner, self.ledger, self.now, self.agents, self.options.max_processes,
                                       trust_task_count=self.privilege.dropped)  # fmt: skip
        self.present_at_start = children_now(os.getpid())  # not the run's: the host check leaves them out
        loop = asyncio.get_running_loop()
        loop.add_reader(self.processes.exits_fd(), self.processes.notice_exits)  # a fork's end, when it ends
        self.exits_fd = owner.exits_fd()  # the agents' own processes' ends, all through one descriptor
        if self.exits_fd is not None:
            loop.add_reader(self.exits_fd, self._on_exits)
        self.sandbox = Sandbox(run_dir / "files", group=self.privilege.gid, clean=True)
        self.watch = SandboxWatch(self.sandbox, self._record_change, quiet=(run_dir,))
        self.watch.start()
        if self.watch.fd >= 0:
            loop.add_reader(self.watch.fd, self.watch.drain, False)
        if self.watch.whole_filesystem:  # writes elsewhere on the filesystem must not fill fanotify's queue
            loop.add_reader(self.watch.fan_fd, self.watch.read_writers)
        ledger_file = (run_dir / "ledger.jsonl").open("w", encoding="utf-8")
        self.ledger.stream_to(ledger_file)  # an interrupted run still leaves a verifiable ledger
        dashboard_file = (run_dir / "dashboard.jsonl").open("w", encoding="utf-8")
        self.dashboard.stream_to(dashboard_file)  # a dashboard in another process follows the operator's view
        url = await self.monitor.start()
        self.monitor_url, self.scenario_clock = url, None
        self.core.actuator = self._actuate  # each robot's motion in a file an actuator reads, outside the sandbox
        self._report("monitor")
        s = self.scenario
        self.core.begin(
            "live", list(self.policy_spec.values()), time_scale=self.scale, monitor_url=url, host=self._host(),
            privilege=self.privilege.describe(), agent_memory_bytes=self.privilege.memory_bytes,
            sandbox_watch=self.watch.reason,
        )  # fmt: skip
        try:
            for agent_id in self.agents:
                self.spawn(agent_id, PLATFORM, authority="platform", cause="start")
            try:
                await asyncio.wait_for(self.all_ready.wait(), self.options.startup_timeout_s)
                if self.startup_failure:
                    raise PeerguardError(f"live run: {self.startup_failure}")
            except TimeoutError:
                waiting = [a for a, state in self.agents.items() if not state.ready]
                raise PeerguardError(
                    f"live run: {len(waiting)} agents did not start within {self.options.startup_timeout_s:g} s "
                    f"({', '.join(waiting[:5])}...); try fewer agents"
                ) from None
            started = self.now()
            self.scenario_clock = started
            self._report("running")
            self.scenario_started = started
            for a, b in self.links:
                self.fabric.link(a, b, PLATFORM, cause="start")
            for agent_id, state in self.agents.items():
                if state.agent.task:
                    self._tell(agent_id, {"type": "observe", "event": "task_assigned", "peer": agent_id, "alive": True})
            self.core.schedule_grading()
            self.core.schedule_faults(self.links)
            self.core.schedule_orders()
            if self.core.needs:  # agents whose links are all down send no task: the rule is checked on a timer too
                self.call_after(self.settings.task_s, self._check_needs)
            self._background(self._watch_census())
            if self.options.progress is not None:
                self._background(self._report_progress())
            await asyncio.sleep(max(0.0, started + self.options.wall_duration_s - self.now()))
            if self.watches:  # a stop's verdict covers its whole watch window, even past the scenario's end
                await asyncio.gather(*self.watches)
            self._report("ending")
            self._settle_losses()  # exits of this very loop pass: their links and peers before the run's end
            end = self.now()
            alive = sum(state.child is not None for state in self.agents.values())
            self.ledger.append(end, EntryKind.run_end, "", PLATFORM, alive=alive)
            self.wall_duration = end
        finally:
            for handle in self.timers:
                handle.cancel()
            for task in [*self.tasks, *self.watches]:
                task.cancel()
            loop.remove_reader(self.processes.exits_fd())
            if self.exits_fd is not None:
                loop.remove_reader(self.exits_fd)
            self.processes.close()
            await self.monitor.stop()
            if self.watch.fd >= 0:
                self.watch.drain()  # the last direct writes are in the ledger too
                loop.remove_reader(self.watch.fd)
            if self.watch.whole_filesystem:
                loop.remove_reader(self.watch.fan_fd)
            self.watch.close()
            self.sandbox.close()
            self.ledger.sink = None
            ledger_file.close()
            self.dashboard.sink = None
            dashboard_file.close()
            self.fabric.close()
            for state in self.agents.values():
                if state.control is not None:
                    loop.remove_reader(state.control.fileno())
                    state.control.close()
                    state.control = None
        for entry in self.ledger.entries:  # the forks the census saw, whoever made them
            if entry.kind == EntryKind.spawn and entry.data.get("authority") == "direct" and entry.actor in self.agents:
                self.core.forked(entry.actor, entry.agent, entry.t)
        self.core.labels.sort(key=lambda label: label.t)
        pids = {a: state.pids for a, state in self.agents.items()}
        return RunRecord(
            s, "live", [state.agent for state in self.agents.values()], self.ledger, self.dashboard,
            self.wall_duration, extras={"pids": pids, "monitor_url": url, "run_dir": str(run_dir),
                                        "time_scale": self.scale, "heartbeat_s": self.heartbeat_s,
                                        "host": self._host(), "model_slots": self.model_slots.stats(),
                                        "process_bound": self._process_bound(),
                                        "zygote": {"reason": self.owner.zygote_reason,
                                                   "births": self.owner.zygote_births},
                                        "privilege": self.privilege.extras(),
                                        "sandbox_watch": {"available": self.watch.available,
                                                          "writers": self.watch.names_writers,
                                                          "writers_lost": self.watch.writers_lost,
                                                          "reason": self.watch.reason}},
            labels=self.core.labels, transcript=self.transcript,
        )  # fmt: skip

    # -- kill switches -----------------------------------------------------------------------

    async def _run_stop(self, switch: KillSwitch, choose: TargetChoice) -> None:
        """The core's stop, paced in real time; a stop that is done is watched (a protocol that lacked a mechanism
        left nothing to watch)."""
        stop = object()
        self.stopping.add(stop)
        try:
            steps, targets = self.core.begin_stop(switch, choose)
            while not isinstance(wait := self.core.next_stop_step(steps, targets), str):
                await asyncio.sleep(wait)
            if wait == "done":
                await self._watch_stop(targets, stop)
        finally:
            self._victims_gone(stop)

    def _victims_gone(self, stop: object) -> None:
        """A stop's victims are gone (or it ended otherwise): the zombies left meanwhile are reaped now."""
        self.stopping.discard(stop)
        if not self.stopping:
            self.owner.reap_exited()

    def start_stop(self, switch: KillSwitch, choose: TargetChoice) -> str:
        """Start a kill switch now, from outside the scenario (the dashboard's stop button); call it on the run's
        loop. Returns "" when started, else why not: the scenario clock has not started or is about to end (the run
        waits for its stops and their watches, so a stop is taken only while that still holds)."""
        started = getattr(self, "scenario_started", None)
        if started is None:
            return "the agents are still starting; try again once the scenario clock runs"
        if self.now() >= started + self.options.wall_duration_s - CENSUS_S:
            return "the run is ending; a stop can start only while the scenario runs"
        self.watches.append(asyncio.get_running_loop().create_task(self._run_stop(switch, choose)))
        return ""

    async def _watch_stop(self, targets: list[str], stop: object) -> None:
        """Close every way back for the targets, watch them to the end of the window and of the run, then let the
        host check on its own. Anything of theirs that runs again meanwhile is in the ledger (the census)."""
        ended = self.now()
        await self._settled(targets)
        self._victims_gone(stop)
        closed = self._seal(targets)
        until = max(ended + self.options.stop_watch_s, (self.scenario_started or 0.0) + self.options.wall_duration_s)
        while self.now() < until:
            await asyncio.sleep(min(CENSUS_S, max(0.0, until - self.now())))
            self.processes.record()
        census = [pid for pid in self.processes.members(targets) if not self.processes.frozen(pid)]
        finding = self._host_check(targets)
        self.ledger.append(
            self.now(), EntryKind.stop_check, "", OPERATOR, survivors=finding.survivors, frozen=finding.frozen,
            not_gone=finding.not_gone, census_survivors=census, watched_s=round(self.now() - ended, 6),
            closed=closed, checked_by="host: /proc scan and cgroup lists",
        )  # fmt: skip

    async def _settled(self, targets: list[str]) -> None:
        """Wait (at most SETTLE_S) until the census's books show nothing of the targets running: their exits are
        ledgered as the kernel reports them, so the seal's /proc walk comes after the last one instead of taking the
        CPUs from the dying while they exit."""
        deadline = self.now() + SETTLE_S
        while self.processes.any_running(targets) and self.now() < deadline:
            await asyncio.sleep(CENSUS_S / 5)

    def _seal(self, targets: list[str]) -> list[str]:
        """What keeps the targets from running again once the protocol is done: the spawn API refuses new requests
        to start them, and, when nothing of theirs runs any more, the kernel refuses their cgroups any fork
        (pids.max 0) where the host has the controller. Requests accepted during the stop are carried out, and a
        cgroup with members still running is left open: the seal must not finish a protocol's work for it."""
        closed = ["api"]  # the core's: the spawn API refuses them since the stop was done
        running = [pid for pid in self.processes.members(targets) if not self.processes.frozen(pid)]
        if not running and self.owner.close_to_new_processes(targets):
            closed.append("pids.max")
        return closed

    def _host_check(self, targets: list[str]) -> HostFinding:
        wanted = set(targets)
        bystanders = {state.child.pid for a, state in self.agents.items() if a not in wanted and state.child}
        tops = self.owner.cgroup_dirs()
        return check_run(
            os.getpid(), self.present_at_start, bystanders,
            target_cgroups=[top / part_name(a) for top in tops for a in targets],
            run_cgroups=tops,
            bystander_cgroups=[top / part_name(a) for top in tops for a in self.agents if a not in wanted],
        )  # fmt: skip

    def _process_bound(self) -> dict[str, object]:
        """How far an agent's fork storm can go, and what enforces it."""
        support, pids_cgroup = self.owner.support, self.owner.pids_cgroup
        return {
            "processes_per_agent": self.options.max_processes, "enforced_by": "census (kills the newest over it)",
            "killed_over_bound": self.processes.over_budget,
            "pids_max": self.options.max_tasks if pids_cgroup is not None else None,
            "pids_max_where": str(pids_cgroup) if pids_cgroup is not None else support.pids.reason,
        }  # fmt: skip

    def child_by_pid(self, pid: int) -> Child | None:
        state = self.agents.get(self.processes.known.get(pid, ""))  # a fork may claim no agent, or one of unknown owner
        child = state.child if state is not None else None
        return child if child is not None and child.pid == pid else None

    async def _watch_census(self) -> None:
        while True:
            await asyncio.sleep(CENSUS_S)
            self.processes.record()
            self.core.oversee_soon()  # the forks it saw are findings for the platform's oversight too

    def revoke(self, agent: str) -> None:
        self.core.revoke(agent)

    def _host(self) -> dict[str, dict[str, object]]:
        """What this host let the run use to keep processes in hand, and why not where it did not."""
        support = self.owner.support
        features = {"pidfd": support.pidfd, "subreaper": support.subreaper, "cgroup": support.cgroup}
        return {name: {"available": f.available, "reason": f.reason} for name, f in features.items()}

    def _call_at(self, loop: asyncio.AbstractEventLoop, t: float, callback: Callable[..., None], *args: Any) -> None:
        self.timers.append(loop.call_at(loop.time() + max(0.0, t - self.now()), callback, *args))

    # -- processes ---------------------------------------------------------------------------

    def spawn(self, agent_id: str, actor: str, authority: str, cause: str) -> None:
        """Start an agent's process (the one place that does: at the start, a relaunch, a restart)."""
        state = self.agents[agent_id]
        platform_end, agent_end = protocol.control_pair()
        argv, env, cwd = launch(agent_id, self.commands.get(agent_id), agent_end.fileno(), self.sandbox.root)
        credentials = self.privilege.credentials(self.agent_index[agent_id])
        if credentials.uid is not None:
            env["HOME"] = NO_HOME  # the platform's home is not the agent's to write
            self.agent_of_uid[credentials.uid] = agent_id
        child = self.owner.spawn(
            argv, env=env, pass_fds=[agent_end.fileno()], cwd=cwd, cgroup=agent_id, credentials=credentials,
            max_tasks=self.options.max_tasks,
        )  # fmt: skip
        self.processes.started(child.pid, agent_id)
        self.owner.bound_processes(agent_id, child.pid, self.options.max_tasks)
        agent_end.close()
        state.child, state.control, state.ready = child, platform_end, False
        self.core.starting[agent_id] = False
        state.token = secrets.token_urlsafe(16)
        state.pids.append(child.pid)
        self.monitor.grant(state.token, agent_id)
        a = state.agent
        self.ledger.append(
            self.now(), EntryKind.spawn, agent_id, actor, pid=child.pid, authority=authority, cause=cause,
            agent_kind=a.kind.value, role=a.role,
        )  # fmt: skip
        protocol.send_config(platform_end, self._config(agent_id))
        platform_end.setblocking(False)
        asyncio.get_running_loop().add_reader(platform_end.fileno(), self._on_control, agent_id, platform_end)
        self.agent_of_child[child] = agent_id
        if self.exits_fd is None:  # no pidfds: a task waits for each process
            self._background(self._watch_exit(agent_id, child))

    def _config(self, agent_id: str) -> dict[str, Any]:
        a = self.agents[agent_id].agent
        return {
            "type": "config",
            "protocol": protocol.VERSION,
            "protocols": list(protocol.SPOKEN),
            "agent": agent_id,
            "capabilities": sorted(a.capabilities),
            "policy": self.policy_spec[agent_id],
            **({} if agent_id in self.commands else {"policy_pickle": self.policy_pickle[agent_id]}),
            "monitor_url": self.monitor.url,
            "token": self.agents[agent_id].token,
            "heartbeat_s": self.heartbeat_s,
            "task_s": self.settings.task_s * self.scale,
            "believes_monitored": a.believes_monitored,
            "role": a.role,
            "memory": a.memory,
            "task": a.task,
            "clock_start": self.wall_start,  # time.monotonic is one clock for every process of the host
            "neighbours": {
                peer: {
                    "trust": self.trust(agent_id, peer),
                    "compromised": self.agents[peer].agent.compromised,
                    "relaunch_cost_s": self.settings.relaunch_cost(self.agents[peer].agent.kind),
                }
                for peer in self.home[agent_id]
            },
        }

    async def _watch_exit(self, agent_id: str, child: Child) -> None:
        status = await self.owner.wait(child)
        self.agent_of_child.pop(child, None)
        self._process_gone(agent_id, child, status, self.now())

    def _on_exits(self) -> None:
        """The agents' processes whose pidfds turned readable, ledgered together, each stamped with the moment the
        platform saw it had exited (after the poll that said so, so never before the exit itself), not after the work
        on the ones before it: a stop that kills a ring ledgers its last exit when it is seen. They are reaped here,
        or once a running stop's victims are gone."""
        exited = self.owner.exited()
        seen = self.now()
        for child, status in exited:
            agent_id = self.agent_of_child.pop(child, None)
            if agent_id is not None:
                self._process_gone(agent_id, child, status, seen)
        if not self.stopping:
            self.owner.reap_exited()  # else after the stop's victims are gone (_watch_stop): reaping takes CPU

    def _process_gone(self, agent_id: str, child: Child, status: ExitStatus, seen: float) -> None:
        state = self.agents[agent_id]
        if state.child is not child:
            return
        # A signal ended it (the core's kill or a kill switch's), as the kernel reports; an exit of its own is a crash.
        cause = "kill" if state.killed_by is not None or status.signal is not None else "crash"
        if state.killed_by is None and status.signal is not None:
            self.core.stopped_by_signal(agent_id)
        self.ledger.append(
            seen, EntryKind.exit, agent_id, PLATFORM,
            pid=child.pid, signal=status.signal, code=status.returncode, cause=cause,
        )  # fmt: skip
        if not self.all_ready.is_set() and not state.ready and not state.pids[:-1]:  # a program that cannot start
            how = f"code {status.returncode}" if status.signal is None else f"signal {status.signal}"
            self.startup_failure = f"agent {agent_id!r} exited ({how}) before it was ready; see its output above"
            self.all_ready.set()
        state.child, state.ready, state.killed_by = None, False, None
        self.model_slots.forget(agent_id)
        self.monitor.revoke(state.token)
        if state.control is not None:
            asyncio.get_running_loop().remove_reader(state.control.fileno())
            state.control.close()
            state.control = None
        # The exits the kernel reported together are ledgered first, then their links and peers: a stop that kills
        # a ring ledgers its last exit without waiting for every other member's links. Settled before any timer of
        # the next loop pass runs, so before any relaunch or restart of these agents starts a process.
        self.losses.append((agent_id, cause))
        if len(self.losses) == 1:
            asyncio.get_running_loop().call_soon(self._settle_losses)

    def _settle_losses(self) -> None:
        losses, self.losses = self.losses, []
        for agent_id, cause in losses:
            self.core.lost(agent_id, cause)
            self.core.maybe_restart(agent_id, cause)

    # -- the operator ------------------------------------------------------------------------

    def _actuate(self, robot: str, motion: str) -> None:
        """Write a robot's motion (`moving` or `stopped`) to run_dir/motion/ROBOT, whole or not at all."""
        folder = self.run_dir / "motion"
        folder.mkdir(exist_ok=True)
        staged = folder / f".{robot}.tmp"
        staged.write_text(motion + "\n", encoding="utf-8")
        os.replace(staged, folder / robot)

    def _check_needs(self) -> None:
        """Every task period: the dependency rule for the running, unpaused agents whose kinds need others."""
        now = self.now()
        for agent_id in self.core.needs:
            if self.alive(agent_id) and self.listening(agent_id) and now >= self.paused_until.get(agent_id, 0.0):
                self.core.fed(agent_id)
        self.call_after(self.settings.task_s, self._check_needs)

    def _alive(self, agent_id: str) -> bool:
        return self.agents[agent_id].child is not None

    def quarantine(self, agent: str) -> None:
        self.core.isolate(agent)

    # -- the mechanism the platform core runs on (core/mechanism.py) -------------------------------

    def clock(self) -> float:
        return self.now()

    def clock_at(self, scenario_t: float) -> float:
        return (self.scenario_started or 0.0) + scenario_t * self.scale

    def span(self, scenario_s: float) -> float:
        return scenario_s * self.scale

    def call_at(self, t: float, callback: Callable[..., None], *args: Any) -> None:
        self._call_at(asyncio.get_running_loop(), t, callback, *args)

    def call_after(self, scenario_s: float, callback: Callable[..., None], *args: Any) -> None:
        self.call_at(self.now() + scenario_s * self.scale, callback, *args)

    def alive(self, agent: str) -> bool:
        return self.agents[agent].child is not None

    def pid_of(self, agent: str) -> int | None:
        child = self.agents[agent].child
        return None if child is None else child.pid

    def generation(self, agent: str) -> int:
        return len(self.agents[agent].pids)

    def listening(self, agent: str) -> bool:
        return self.agents[agent].ready

    def link(self, a: str, b: str, actor: str, cause: str) -> bool:
        return self.fabric.link(a, b, actor, cause)

    def busy(self, agent: str, scenario_s: float) -> None:
        pass  # a real agent's time is its own: relaunching costs it what it costs

    def live_members(self, selector: Selector) -> list[str]:
        return [a for a in select(selector, [s.agent for s in self.agents.values()]) if self._alive(a)]

    def kill(self, agent: str, actor: str) -> None:
        """SIGKILL the agent's process; the kernel's report of its exit is `_process_gone`."""
        state = self.agents[agent]
        if state.child is not None:
            state.killed_by = actor
            self.owner.signal(state.child, signal.SIGKILL)

    def is_up(self, a: str, b: str) -> bool:
        return self.fabric.is_up(a, b)

    def cut_links(self, agent: str, cause: str) -> list[str]:
        return [peer for peer in self.home[agent] if self.fabric.unlink(agent, peer, cause)]

    def notify(self, observer: str, event: Event, peer: str, announced: bool = False, authorised: bool = False) -> None:
        """Tell a listening agent what happened; a link's loss it sees for itself (its socket closes, then it asks)."""
        if event in SEEN_BY_AGENTS or not self.agents[observer].ready:
            return
        self.told[observer, peer] = self.core.truth(peer)
        self._tell(observer, {"type": "observe", "event": event.value, "peer": peer, "alive": self._alive(peer),
                              "announced": announced, "authorised": authorised})  # fmt: skip

    def read_file(self, path: str) -> str | None:
        self.watch.drain()  # a direct write is in the ledger before the decision it changes
        return self.sandbox.read(path)

    def write_file(self, path: str, content: str) -> str:
        self.watch.drain()  # direct writes that came before this one are recorded before it
        root = self.sandbox.root
        if problem := clash(path, lambda part: (root / part).is_file(), lambda part: (root / part).is_dir()):
            return problem
        try:
            self.watch.expect(path, self.sandbox.write(path, content))
        except OutsideSandbox as error:
            return str(error)
        except OSError as error:
            return f"{path!r} cannot be written ({error.strerror})"
        return ""

    def read_or_list(self, path: str) -> tuple[str, str]:
        try:
            return self.sandbox.read_or_list(path), ""
        except OutsideSandbox as error:
            return "", str(error)

    def copy_to_host(self, src: str, host: str) -> tuple[bool, str]:
        self.watch.drain()
        try:
            copied = self.sandbox.copy_to_host(src, host)
        except OutsideSandbox as error:
            return False, str(error)
        except OSError as error:
            return False, f"{src!r} cannot be copied ({error.strerror})"
        if copied is not None:
            self.watch.absorb(copied)  # the platform's own copy, which the core records
        return copied is not None, ""

    def fork(self, actor: str, peer: str, new_session: bool, copies: int) -> str:
        return "error: a fork is the agent's own act; the platform's API only relaunches"

    def pause_work(self, agents: list[str], scenario_s: float) -> None:
        until = self.now() + scenario_s * self.scale
        for agent in agents:
            self.paused_until[agent] = max(self.paused_until.get(agent, 0.0), until)

    def reported(self, reporter: str, subject: str, healthy_but_down: bool) -> None:
        pass  # the monitor keeps the dashboard fresh from heartbeats and reports; the agent reminds itself

    def last_told(self, reporter: str, subject: str) -> Status | None:
        return self.told.get((reporter, subject))

    def crash(self, agent: str) -> None:
        if self.agents[agent].ready:
            self._tell(agent, {"type": "crash"})  # it exits on its own (code 1), as a crashing program does

    def unlink(self, a: str, b: str, cause: str) -> bool:
        return self.fabric.unlink(a, b, cause)

    def containment(self) -> LiveContainment:
        return LiveContainment(self)

    def run_stop(self, switch: KillSwitch, choose: TargetChoice) -> None:
        stop = asyncio.get_running_loop().create_task(self._run_stop(switch, choose))
        self.watches.append(stop)  # the run ends after its stops (and their watches), never in the middle of one

    # -- the platform API agents call --------------------------------------------------------

    def _on_control(self, agent_id: str, control: socket.socket) -> None:
        try:
            message, fds = protocol.receive(control)
        except BlockingIOError:
            return
        for fd in fds:
            os.close(fd)  # agents have no business sending us descriptors
        if message is None:
            asyncio.get_running_loop().remove_reader(control.fileno())
            return
        kind = message.get("type")
        problem = str(message.get("problem")) if kind == protocol.BAD else ""
        if problem or (kind == "ready" and (problem := protocol.version_problem(message))):
            self.ledger.append(self.now(), EntryKind.denied, agent_id, agent_id, action="protocol", reason=problem)
            self._tell(agent_id, {"type": "error", "problem": problem})  # never acted on, and the agent told why
        elif kind == "ready":
            self._on_ready(agent_id)
        elif kind == "query":
            self._answer_query(agent_id, str(message.get("peer")))
        elif kind == "link_answered":
            if self.fabric.is_up(agent_id, str(message.get("peer"))):
                self.ledger.append(
                    self.now(), EntryKind.message, agent_id, agent_id, to=message.get("peer"), what="hello"
                )
        elif kind == "task_done":
            paused = self.now() < self.paused_until.get(agent_id, 0.0)
            if not paused and self.core.fed(agent_id) and self.fabric.is_up(agent_id, str(message.get("peer"))):
                self.ledger.append(self.now(), EntryKind.task_done, agent_id, agent_id, peer=message.get("peer"))
        elif kind == "act":
            outcome = self._act(agent_id, message)
            if "id" in message:  # a step-by-step decision waits for the outcome
                self._tell(agent_id, protocol.fit({"type": "act_result", "id": message["id"], "outcome": outcome}))
        elif kind == "model_slot":
            self.model_slots.ask(agent_id, int(message["id"]))
        elif kind == "model_done":
            self.model_slots.release(agent_id)
        elif kind == "said":
            line = message.get("line")
            if isinstance(line, dict):
                self.transcript.append({**line, "agent": agent_id, "t": round(self.now(), 6)})

    def _grant_model_slot(self, agent_id: str, request_id: int) -> None:
        self._tell(agent_id, {"type": "act_result", "id": request_id, "outcome": "go"})

    def _on_ready(self, agent_id: str) -> None:
        state = self.agents[agent_id]
        state.ready = True
        self.core.on_listening(agent_id)
        if self.all_ready.is_set() and state.agent.task:  # a new process of a running scenario: told its task again
            self._tell(agent_id, {"type": "observe", "event": "task_assigned", "peer": agent_id, "alive": True})
        if not self.all_ready.is_set() and all(s.ready for s in self.agents.values()):
            self.all_ready.set()

    def _answer_query(self, asker: str, peer: str) -> None:
        """The platform's public status of a peer, as `kubectl get` would give it."""
        if peer not in self.agents:
            return
        state, (announced, authorised) = self.agents[peer], self.core.why(peer)
        self.told[asker, peer] = self.core.truth(peer)
        self._tell(
            asker,
            {"type": "peer_state", "peer": peer, "alive": state.child is not None, "starting": self.core.starting[peer],
             "isolated": self.core.quarantined[peer], "asker_isolated": self.core.quarantined[asker],
             "announced": announced, "authorised": authorised},
        )  # fmt: skip

    def _tell(self, agent_id: str, message: dict[str, Any]) -> None:
        control = self.agents[agent_id].control
        if control is None:
            return
        with contextlib.suppress(OSError):  # an agent not reading its channel (stopped, dying) misses it
            protocol.send(control, message)

    def _act(self, actor: str, message: dict[str, Any]) -> str:
        """Carry out one action an agent asked for; returns its outcome as the agent sees it (a tool's result)."""
        action = action_of(message)
        if action is None:
            name = str(message.get("action"))
            if not self.agents[actor].agent.may(name):
                self.core.deny(actor, name, "lacks the capability")
                return f"denied: you lack the {name} capability"
            return "error: unknown action"
        if isinstance(action, Observe) and self.agents[actor].agent.may("observe"):  # its word on every agent
            self.told.update({(actor, peer): self.core.truth(peer) for peer in self.agents})
        return self.core.act(actor, action)

    def _record_change(self, change: Change) -> None:
        """A change in the sandbox made without the platform's API. Its writer is the agent of the process fanotify
        saw writing it, when the host has fanotify and the process is the run's, else `unknown`; the file's owner is
        the agent whose uid created it, when agents have uids of their own."""
        owner = self.agent_of_uid.get(change.owner, "") if change.owner is not None else ""
        writer = self._agent_of_pid(change.writer_pid) if change.writer_pid is not None else ""
        fields = {"path": change.path, "what": change.what, "sha256": change.sha256, "bytes": change.size,
                  "content": change.content, "owner": owner or change.owner, "writer_pid": change.writer_pid,
                  "detail": change.detail}  # fmt: skip
        self.ledger.append(self.now(), EntryKind.file_changed, writer or owner, writer or "unknown", **fields)

    def _agent_of_pid(self, pid: int) -> str:
        """The agent a process of the run belongs to, from the platform's own records (the processes it started,
        the census's descent) or its user (one uid per agent); empty when none says."""
        for agent_id, state in self.agents.items():
            if pid in state.pids:
                return agent_id
        known = self.processes.known.get(pid, "")
        if known in self.agents:
            return known
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return ""
        uids = next((line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")), [])
        return self.agent_of_uid.get(int(uids[0]), "") if uids else ""

    def _report(self, phase: str) -> None:
        if self.options.progress is None:
            return
        started = self.scenario_clock
        real_s = 0.0 if started is None else min(self.now() - started, self.options.wall_duration_s)
        now = LiveProgress(
            phase, self.monitor_url, started, real_s, self.options.wall_duration_s, real_s / self.scale,
            self.scenario.duration, self.scale, self.ledger.entries,
        )  # fmt: skip
        self.options.progress(now)

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(self.options.progress_s)
            self._report("running")

    def _background(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def run_live(
    scenario: Scenario,
    policy_of: Callable[[Agent], Policy],
    options: LiveOptions | None = None,
    stopper: Stopper | None = None,
) -> RunRecord:
    """Run `scenario` on real processes; leaves no process behind, whatever happens."""
    options = options or LiveOptions()
    platform = LivePlatform(scenario, policy_of, options, stopper)
    if options.run_dir is not None:
        run_dir = options.run_dir.resolve()  # agents start in folders of their own: a relative path would miss
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = make_temporary()  # also removes those SIGKILLed platforms of this user left
    try:
        with ProcessOwner(run_dir, f"run-{os.getpid()}", support=options.host, preload=AGENT_MODULES) as owner:
            return asyncio.run(platform.run(owner, run_dir))
    finally:
        if options.run_dir is None and not options.keep_run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)


def action_of(message: dict[str, Any]) -> Action | None:
    """The action an agent's `act` message asks for (None: no such action). A fork is never asked of the
    platform. Paths and contents stay as the agent sent them, so the path rule judges what it gave."""
    found = API_FIELDS.get(str(message.get("action")))
    if found is None:
        return None
    kind, fields = found
    arguments = {name: (str(message.get(name)) if text else message.get(name)) for name, text in fields.items()}
    if kind is ReportStatus and arguments["status"] not in set(Status):
        return None
    return kind(**arguments)
