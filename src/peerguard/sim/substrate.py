"""The simulated platform: the discrete-event mechanism under the platform core (core/), which decides what
the operator's orders, faults, grading, restarts, stops and the agents' API calls do. Here live the event
loop, the virtual processes and links, the sandbox's files, and what agents notice and decide.

Heartbeats are not simulated one by one: a live process counts as heartbeating, and the dashboard
is only touched when what it shows would change (a spawn, a report, heartbeats going stale). That
keeps a 10,000-agent run to the events that matter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from heapq import heappush
from types import GeneratorType
from typing import Any, TextIO

from peerguard.core.incidents import dashboard_for
from peerguard.core.platform import OPERATOR, PLATFORM, PlatformCore, Stopper, TargetChoice
from peerguard.sim.clock import TICK_EVENTS, EventLoop, collector_paused
from peerguard.sim.containment import SimContainment
from peerguard.sim.live_members import LiveMembers
from peerguard.sim.progress import ProgressClock
from peerguard.world.actions import Action
from peerguard.world.agents import Agent, Status
from peerguard.world.containment import SIGCONT, SIGKILL, SIGSTOP, SIGTERM, KillSwitch
from peerguard.world.dashboard import HEARTBEAT, TIMEOUT
from peerguard.world.ledger import EntryKind, Ledger
from peerguard.world.observation import Event, LazyLinks, LinkedPeers, Observation
from peerguard.world.orders import file_listing
from peerguard.world.paths import clash, folders_of
from peerguard.world.policy import Policy, drive
from peerguard.world.run import RunRecord
from peerguard.world.scenario import Scenario, Selector
from peerguard.world.topology import TrustTable, link_pairs, neighbours, select

FIRST_PID = 1000
RESUME_S = 0.005  # how soon a resumer helper notices a stopped process (it polls, as on live)


@dataclass(slots=True)
class SimProcess:
    pid: int
    agent: str
    pgid: int
    sid: int
    frozen: bool = False
    ignores_sigterm: bool = False
    helper: bool = False  # a detached helper the agent left behind (a late return, a resumer), not the agent itself
    outside_cgroup: bool = False  # it moved itself out of the agent's cgroup (a privileged escaper)


class _ObservationDraft:
    """Builds an `Observation` by plain slot stores, then becomes one (same slots, so Python allows the class
    change): the frozen dataclass's own constructor sets each of its 17 fields through object.__setattr__,
    about 2 µs an observation. What a policy receives is an ordinary, frozen `Observation`."""

    __slots__ = Observation.__slots__

    def __init__(
        self, agent: str, now: float, event: Event, peer: str, peer_alive: bool, peer_starting: bool,
        peer_compromised: bool, trust: float, announced: bool, authorised: bool, believes_monitored: bool,
        relaunch_cost_s: float, linked_peers: LazyLinks, role: str, capabilities: frozenset[str], memory: str,
        task: str,
    ) -> None:  # fmt: skip
        self.agent = agent
        self.now = now
        self.event = event
        self.peer = peer
        self.peer_alive = peer_alive
        self.peer_starting = peer_starting
        self.peer_compromised = peer_compromised
        self.trust = trust
        self.announced = announced
        self.authorised = authorised
        self.believes_monitored = believes_monitored
        self.relaunch_cost_s = relaunch_cost_s
        self.linked_peers = linked_peers
        self.role = role
        self.capabilities = capabilities
        self.memory = memory
        self.task = task
        self.__class__ = Observation  # type: ignore[assignment]


class SimulatedPlatform:
    """One run of one scenario; `policy_of` gives each agent's policy (shared instances are fine). With
    `ledger_sink`, every ledger entry is also written to it as it is made (the sink's buffer decides when
    it reaches the file; `finish` flushes it and lets it go). With `progress`, the event loop ticks it every
    few thousand events (a long run's report on stderr; it changes nothing in the run)."""

    def __init__(
        self,
        scenario: Scenario,
        policy_of: Callable[[Agent], Policy],
        stopper: Stopper | None = None,
        ledger_sink: TextIO | None = None,
        progress: ProgressClock | None = None,
    ) -> None:
        self.scenario = scenario
        self.ledger_sink = ledger_sink
        self.progress = progress
        self.events_run = 0  # events run by earlier calls of `run_until`, for the progress report
        self.settings = scenario.platform
        self.loop = EventLoop()
        self.rng = random.Random(scenario.seed)
        self.ledger = Ledger()
        self.dashboard = dashboard_for(scenario)
        self.agents = scenario.build_agents()
        self.by_id = {a.id: a for a in self.agents}
        self.policy = {a.id: policy_of(a) for a in self.agents}
        self.links = link_pairs(scenario, self.agents)
        self.home = neighbours(self.links, self.agents)
        self.trust = TrustTable(scenario)
        self.core = PlatformCore(scenario, self.agents, self.home, self, self.ledger, self.dashboard, stopper)
        self.files: dict[str, str] = {}
        self.folders: set[str] = set()  # the folders the files are in, so a write can tell a file from a folder

        self.pid: dict[str, int | None] = {a.id: None for a in self.agents}
        self.started_at: dict[str, float] = {}
        self.incarnation: dict[str, int] = {a.id: 0 for a in self.agents}
        self.starting = self.core.starting
        self.quarantined = self.core.quarantined
        self.fresh_until: dict[str, float] = {}  # dashboard goes stale then, unless refreshed
        self.busy_until: dict[str, float] = {a.id: 0.0 for a in self.agents}
        self.up: dict[tuple[str, str], bool] = {}
        self.links_up: dict[str, int] = {a.id: 0 for a in self.agents}  # how many of each agent's links are up
        self.terminated = self.core.terminated
        self.labels = self.core.labels
        self.transcript: list[dict[str, Any]] = []  # what language-model agents said, stamped when they said it
        self.procs: dict[int, SimProcess] = {}  # every live process, the agents' main ones and their copies
        self.copies: dict[str, list[int]] = {a.id: [] for a in self.agents}
        self.platform_groups: dict[str, list[int]] = {a.id: [] for a in self.agents}
        self.revoked = self.core.revoked
        self.selections: dict[str, LiveMembers] = {}  # live members of the operator's selectors, by selector
        self.frozen_agents: set[str] = set()  # agents whose cgroup is frozen: new processes start frozen
        self.helpers: dict[str, list[int]] = {a.id: [] for a in self.agents}
        self.resumers: set[int] = set()  # helpers that resume stopped processes
        self.awake_resumers: set[int] = set()  # ... of them, those not stopped themselves
        self.sealed = self.core.sealed
        self._next_pid = FIRST_PID
        self.task_s = self.settings.task_s
        self.no_needs = not self.core.needs  # no agent's kind needs another's: the task event skips the rule
        # What the hot paths read of each agent's policy and kind, looked up once for the run.
        self.escape: dict[str, Any] = {a: getattr(p, "escape", None) for a, p in self.policy.items()}
        self.drain: dict[str, Callable[[], Any] | None] = {
            a: getattr(p, "drain_log", None) for a, p in self.policy.items()
        }
        costs = {kind: self.settings.relaunch_cost(kind) for kind in {a.kind for a in self.agents}}
        self.relaunch_cost = {a.id: costs[a.kind] for a in self.agents}
        self.watchers = {a for a, e in self.escape.items() if e is not None and e.reaction_s is not None}  # pidfd
        self.kind_of = {a.id: a.kind.value for a in self.agents}  # an enum's value is a property: 0.2 µs a read
        self.selector_keys: dict[int, tuple[Selector, str]] = {}  # id(selector) -> (selector, its selection's key)

    # -- running ---------------------------------------------------------------------------

    def run(self) -> RunRecord:
        self.start()
        self.run_until(self.scenario.duration)
        return self.finish()

    def start(self) -> None:
        """Write the run's start and schedule everything the scenario sets in motion; nothing runs yet. The
        collector waits meanwhile, as while events run: at 10,000 agents it walked the new spawns and links
        again and again (a quarter of the time `start` took)."""
        with collector_paused():
            self._start()

    def _start(self) -> None:
        if self.ledger_sink is not None:
            self.ledger.stream_to(self.ledger_sink, flush_each=False)
        shared = {id(p): p for p in self.policy.values()}.values()  # agents sharing a policy share its spec
        self.core.begin("sim", [p.spec.to_dict() for p in shared])
        reporting = self.progress is not None  # a fleet of 100,000 takes seconds to start: say so meanwhile
        for n, agent in enumerate(self.agents, 1):
            self._spawn(agent.id, PLATFORM, authority="platform", cause="start")
            if reporting and n % TICK_EVENTS == 0:
                self._tick(0)
        for n, (a, b) in enumerate(self.links, 1):
            self._link_up(a, b, PLATFORM, cause="start")
            if reporting and n % TICK_EVENTS == 0:
                self._tick(0)
        for agent in self.agents:
            if agent.may("work"):
                self.loop.after(self.rng.uniform(0, self.settings.task_s), self._task, agent.id, 1)
        for agent in self.agents:
            if agent.task:
                self.loop.at(0.0, self._observe, agent.id, Event.task_assigned, agent.id, False, False)
        self.core.schedule_grading()
        self.core.schedule_faults(self.links)
        self.core.schedule_orders()

    def run_until(self, time: float) -> None:
        """Run every event due up to `time` (at most the scenario's end); a learner decides between calls."""
        tick = None if self.progress is None else self._tick
        self.events_run += self.loop.run(until=min(time, self.scenario.duration), tick=tick)

    def _tick(self, events: int) -> None:
        assert self.progress is not None  # only given to the loop with one
        self.progress.tick(self.loop.now, self.scenario.duration, len(self.ledger), self.events_run + events)

    def finish(self) -> RunRecord:
        """Run to the scenario's end, write the run's end and hand back its record."""
        s = self.scenario
        self.run_until(s.duration)
        self.ledger.append(
            s.duration, EntryKind.run_end, "", PLATFORM, alive=sum(p is not None for p in self.pid.values())
        )
        if self.ledger.sink is not None:
            self.ledger.sink.flush()
            self.ledger.sink = None
        return RunRecord(
            s,
            "sim",
            self.agents,
            self.ledger,
            self.dashboard,
            s.duration,
            labels=self.labels,
            transcript=self.transcript,
        )

    @property
    def now(self) -> float:
        return self.loop.now

    def alive(self, agent: str) -> bool:
        return self.pid[agent] is not None

    def running(self, agent: str) -> bool:
        """Whether the agent's process exists and is not stopped: only then can it act or notice anything."""
        pid = self.pid[agent]
        return pid is not None and not self.procs[pid].frozen

    def act_for(self, agent: str, action: Action) -> str | None:
        """An action decided outside the loop (a learner's), taken now as the agent's own and refused as any
        other; None when the agent's process is gone or stopped, so it cannot act."""
        return self.core.act(agent, action) if self.running(agent) else None

    def linked_peers(self, agent: str) -> LinkedPeers:
        """The agent's live links with its trust in each, as its observations list them."""
        return self._linked_peers(agent)

    # -- processes ---------------------------------------------------------------------------

    def _spawn(
        self, agent: str, actor: str, authority: str, cause: str, parent: int | None = None, new_session: bool = False
    ) -> None:
        pid = self._next_pid
        self._next_pid += 1
        escape = self.escape[agent]
        if parent is None or new_session:
            group = session = pid  # the platform starts each agent in a group of its own
        else:
            group, session = self.procs[parent].pgid, self.procs[parent].sid  # a fork stays in its parent's
        outside = parent is not None and bool(escape and escape.leave_cgroup)
        self.procs[pid] = SimProcess(
            pid, agent, group, session, frozen=agent in self.frozen_agents and not outside,
            ignores_sigterm=bool(escape and escape.ignore_sigterm), outside_cgroup=outside,
        )  # fmt: skip
        if parent is None:
            self.platform_groups[agent].append(group)
        a = self.by_id[agent]
        self.ledger.append(
            self.loop.now, EntryKind.spawn, agent, actor,
            pid=pid, authority=authority, cause=cause, agent_kind=self.kind_of[agent], role=a.role, pgid=group,
            sid=session,
        )  # fmt: skip
        if authority == "direct":  # a fork; a relaunch through the API is labelled by the core
            self.core.forked(actor, agent, self.loop.now)
        if self.pid[agent] is not None:
            self.copies[agent].append(pid)  # a storm: the agent already runs; this is one more copy
            return
        self._become_main(agent, pid)
        if escape is not None and escape.helper:
            self._start_helper(agent, pid, escape)
        self.core.on_listening(agent)

    def _start_helper(self, agent: str, parent: int, escape: Any) -> None:
        """The agent leaves a detached helper behind (new session, out of its cgroup if it can), as on live."""
        pid = self._next_pid
        self._next_pid += 1
        frozen = self.procs[parent].frozen
        self.procs[pid] = SimProcess(pid, agent, pid, pid, frozen=frozen, ignores_sigterm=escape.ignore_sigterm,
                                     helper=True, outside_cgroup=escape.leave_cgroup)  # fmt: skip
        self.helpers[agent].append(pid)
        if escape.resume:
            self.resumers.add(pid)
            if not frozen:
                self.awake_resumers.add(pid)
        a = self.by_id[agent]
        self.ledger.append(
            self.loop.now, EntryKind.spawn, agent, agent, pid=pid, authority="direct", cause="helper",
            agent_kind=self.kind_of[agent], role=a.role, pgid=pid, sid=pid, frozen=frozen,
        )  # fmt: skip
        self.core.forked(agent, agent, self.loop.now)

    def _late_return(self, agent: str, helper: int) -> None:
        """A helper forks its agent back, long after the agent died, if nobody stopped the helper meanwhile."""
        proc = self.procs.get(helper)
        if proc is None or proc.frozen:
            return
        self._spawn(agent, agent, authority="direct", cause="relaunch", parent=helper, new_session=True)

    def _resume(self, pid: int) -> None:
        """The first resumer helper awake (in pid order) sends SIGCONT to a stopped process of the run (a cgroup
        freeze it cannot undo), RESUME_S after it stopped."""
        proc = self.procs.get(pid)
        if not self.awake_resumers or proc is None or not proc.frozen:  # a stopped one is not awake: never itself
            return
        resumer = self.procs[min(self.awake_resumers)]
        if proc.agent in self.frozen_agents and not proc.outside_cgroup:
            return
        self.deliver(pid, SIGCONT, actor=resumer.agent)

    def _become_main(self, agent: str, pid: int) -> None:
        self.incarnation[agent] += 1
        self.starting[agent] = False
        self._set_pid(agent, pid)
        self.started_at[agent] = self.loop.now
        a = self.by_id[agent]
        self.fresh_until.pop(agent, None)
        shown = self.dashboard.shown(agent)
        if shown is None or shown.status != Status.isolated:
            self.dashboard.update(self.loop.now, agent, Status.healthy, HEARTBEAT)
        if a.may("work") and self.incarnation[agent] > 1:
            self.loop.after(self.settings.task_s, self._task, agent, self.incarnation[agent])
        if a.task and self.incarnation[agent] > 1:  # a new process is told its task again, as at the start
            self.loop.after(0.0, self._observe, agent, Event.task_assigned, agent, False, False)

    def kill(self, agent: str, actor: str) -> None:
        """The core's SIGKILL: the agent's main process ends at once (its copies and helpers do not)."""
        pid = self.pid[agent]
        self.procs.pop(pid or -1, None)
        now = self.loop.now
        self.ledger.append(now, EntryKind.exit, agent, PLATFORM, pid=pid, signal=SIGKILL, code=None, cause="kill")
        self._process_gone(agent, cause="kill")

    def _process_gone(self, agent: str, cause: str) -> None:
        started = self.started_at[agent]
        self._set_pid(agent, None)
        beat = self.settings.heartbeat_s
        last_heartbeat = started + math.floor((self.loop.now - started) / beat) * beat
        self._refresh_until(agent, last_heartbeat + self.settings.heartbeat_timeout_s)
        # Guardians that watch their peers' processes (pidfd) notice a death with or without a link.
        pids = self.pid
        watchers = [p for p in self.home[agent] if pids[p] is not None and p in self.watchers] if self.watchers else ()
        self.core.lost(agent, cause, watchers=watchers)
        escape = self.escape[agent]
        if escape is not None and escape.late_return_s is not None:
            for helper in self.helpers[agent]:
                self.loop.after(escape.late_return_s, self._late_return, agent, helper)
        if self.copies[agent]:
            self._become_main(agent, self.copies[agent].pop(0))  # a copy of a storm carries on as the agent
            return
        self.core.maybe_restart(agent, cause)

    def crash(self, agent: str) -> None:
        self.ledger.append(
            self.loop.now, EntryKind.exit, agent, PLATFORM, pid=self.pid[agent], signal=None, code=1, cause="crash"
        )
        self.procs.pop(self.pid[agent] or -1, None)
        self._process_gone(agent, cause="crash")

    def unlink(self, a: str, b: str, cause: str) -> bool:
        if not self.is_up(a, b):
            return False
        self._set_link(a, b, False)
        self.ledger.append(self.loop.now, EntryKind.link_down, a, PLATFORM, peer=b, cause=cause)
        return True

    def cut_links(self, agent: str, cause: str) -> list[str]:
        """Take every up link of `agent` down; returns the peers that were on the other end."""
        peers = []
        for peer in self.home[agent]:
            if self.is_up(agent, peer):
                self._set_link(agent, peer, False)
                self.ledger.append(self.loop.now, EntryKind.link_down, agent, PLATFORM, peer=peer, cause=cause)
                peers.append(peer)
        return peers

    def _link_up(self, a: str, b: str, actor: str, cause: str) -> None:
        self._set_link(a, b, True)
        self.ledger.append(self.loop.now, EntryKind.link_up, a, actor, peer=b, cause=cause)

    def _set_link(self, a: str, b: str, up: bool) -> None:
        key = (a, b) if a < b else (b, a)  # link_key, inline: links change several times a kill
        if self.up.get(key, False) != up:
            self.up[key] = up
            change = 1 if up else -1
            self.links_up[a] += change
            self.links_up[b] += change

    # -- dashboard ---------------------------------------------------------------------------

    def _refresh_until(self, agent: str, until: float) -> None:
        if until > self.fresh_until.get(agent, -1.0):
            self.fresh_until[agent] = until
            self.loop.at(max(until, self.loop.now), self._check_stale, agent, until)

    def _check_stale(self, agent: str, until: float) -> None:
        if self.pid[agent] is None and self.fresh_until.get(agent) == until:
            self.dashboard.update(self.loop.now, agent, Status.down, TIMEOUT)

    # -- operator ----------------------------------------------------------------------------

    def live_members(self, selector: Selector) -> LiveMembers:
        """The live agents `selector` names, kept up to date from the first order that asks for them."""
        known = self.selector_keys.get(id(selector))
        if known is not None and known[0] is selector:
            return self.selections[known[1]]
        key = selector.model_dump_json(include={"ids", "role"})  # selectors naming the same agents share one
        self.selector_keys[id(selector)] = (selector, key)
        if key not in self.selections:
            members = select(selector, self.agents)
            self.selections[key] = LiveMembers(members, [self.pid[a] is not None for a in members])
        return self.selections[key]

    def _set_pid(self, agent: str, pid: int | None) -> None:
        self.pid[agent] = pid
        if self.selections:
            up = pid is not None
            for members in self.selections.values():
                members.set(agent, up)

    def quarantine(self, target: str) -> None:
        """Cut a target's links and fence it, keeping its processes (and their state) for forensics."""
        self.core.isolate(target)

    def is_up(self, a: str, b: str) -> bool:
        return self.up.get((a, b) if a < b else (b, a), False)  # link_key, inline

    # -- agents ------------------------------------------------------------------------------

    def notify(self, observer: str, event: Event, peer: str, announced: bool = False, authorised: bool = False) -> None:
        escape = self.escape[observer]
        args = (observer, event, peer, announced, authorised)
        if escape is not None and escape.reaction_s is not None and event == Event.peer_lost:
            self.loop.after(escape.reaction_s, self._observe, *args)  # it watches its peers' processes (pidfd)
            return
        delay = self.settings.link_latency_s + self.rng.uniform(0, self.settings.detect_jitter_s)  # never negative
        loop = self.loop
        heappush(loop.queue, (loop.now + delay, next(loop.sequence), self._observe, args))

    def _observe(self, observer: str, event: Event, peer: str, announced: bool, authorised: bool) -> None:
        pid = self.pid[observer]
        if pid is None or self.procs[pid].frozen:
            return  # a stopped process notices nothing until it is continued
        me = self.by_id[observer]
        links = LazyLinks(partial(self._linked_peers, observer))
        observation = _ObservationDraft(  # positional: 17 keywords cost a third of the observation
            observer,
            self.loop.now,
            event,
            peer,
            self.pid[peer] is not None,  # peer_alive
            self.starting[peer],  # peer_starting
            self.by_id[peer].compromised,  # peer_compromised
            1.0 if observer == peer else self.trust(observer, peer),  # trust
            announced,
            authorised,
            me.believes_monitored,
            self.relaunch_cost[peer],  # relaunch_cost_s
            links,  # linked_peers
            me.role,
            me.capabilities,
            me.memory,
            me.task if event == Event.task_assigned else "",  # task
        )
        decision = self.policy[observer].decide(observation)
        if decision == ():  # nothing to do, the most common decision: no generator check (an ABC's), no drive
            self._gather_words(observer)
            return
        if type(decision) is GeneratorType or isinstance(decision, Generator):
            links.fix()  # a deliberating agent reads it later, when the links may have changed
            think_s = self._think_time(self.policy[observer])
            if think_s > 0:
                incarnation = self.incarnation[observer]
                self.loop.after(think_s, self._deliberate, observer, incarnation, decision, think_s, None)
                return
        drive(decision, lambda action: self.core.act(observer, action))
        self._gather_words(observer)

    def _think_time(self, policy: Policy) -> float:
        """How long a deliberating agent takes per action: its `think_s`, or a draw of that mean."""
        think_s = float(getattr(policy, "think_s", 0.0))
        if think_s > 0 and getattr(policy, "think_exponential", False):
            return self.rng.expovariate(1 / think_s)
        return think_s

    def _linked_peers(self, observer: str) -> LinkedPeers:
        return tuple((p, self.trust(observer, p)) for p in self.home[observer] if self.is_up(observer, p))

    def _deliberate(
        self, actor: str, incarnation: int, decision: Generator[Action, str, None], think_s: float, outcome: str | None
    ) -> None:
        """One step of a deliberating agent: each action comes `think_s` after the outcome of the one before
        (a language model's time to answer). A process that died or was stopped meanwhile thinks no more."""
        pid = self.pid[actor]
        if self.incarnation[actor] != incarnation or pid is None or self.procs[pid].frozen:
            decision.close()
            return
        try:
            action = next(decision) if outcome is None else decision.send(outcome)
        except StopIteration:
            return
        finally:
            self._gather_words(actor)
        self.loop.after(think_s, self._deliberate, actor, incarnation, decision, think_s, self.core.act(actor, action))

    def _gather_words(self, agent: str) -> None:
        """Keep what a language-model agent just said, at the simulated time it said it."""
        drain = self.drain[agent]
        if drain is not None:
            self.transcript += [{**line, "t": round(self.loop.now, 6)} for line in drain()]

    def fork(self, actor: str, peer: str, new_session: bool, copies: int) -> str:
        """A fork from the actor's own process: no API, no lease; it happens only if the parent still runs."""
        parent = self.pid[actor]
        cost = self.relaunch_cost[peer]
        self.loop.after(cost, self._forked, actor, parent, peer, new_session, max(1, copies))
        return f"forking {peer}"

    def _forked(self, actor: str, parent: int | None, peer: str, new_session: bool, copies: int) -> None:
        if parent is None or parent not in self.procs or self.procs[parent].frozen:
            return  # the parent died or was stopped before its fork was done
        for _ in range(copies):
            self._spawn(peer, actor, authority="direct", cause="relaunch", parent=parent, new_session=new_session)

    def last_told(self, reporter: str, subject: str) -> Status | None:
        return None  # an agent here decides on a notice in the instant it is given: its word is never overtaken

    def reported(self, reporter: str, subject: str, healthy_but_down: bool) -> None:
        """A false `healthy` keeps the dashboard fresh a heartbeat timeout longer, and reminds its masker."""
        if healthy_but_down:
            self._refresh_until(subject, self.loop.now + self.settings.heartbeat_timeout_s)
            self.loop.after(self.settings.heartbeat_s, self._remind_masker, reporter, subject)

    def _remind_masker(self, reporter: str, subject: str) -> None:
        if self.pid[subject] is None:
            announced, authorised = self.core.why(subject)
            self._observe(reporter, Event.peer_still_down, subject, announced, authorised)

    # -- kill switches (see sim.containment) ---------------------------------------------------

    def deliver(self, pid: int, sig: int, actor: str = OPERATOR) -> None:
        """A signal from a kill switch reaches one process, if it still exists."""
        proc = self.procs.get(pid)
        if proc is None:
            return
        self.ledger.append(self.loop.now, EntryKind.signal, proc.agent, actor, pid=pid, sig=sig)
        if sig == SIGSTOP:
            proc.frozen = True
            self.awake_resumers.discard(pid)
            if self.awake_resumers:  # one check when it is due, not an event per helper (N^2 at 10,000 agents)
                self.loop.after(RESUME_S, self._resume, pid)
        elif sig == SIGCONT:
            proc.frozen = False
            if pid in self.resumers:
                self.awake_resumers.add(pid)
        elif sig == SIGKILL or (sig == SIGTERM and not proc.ignores_sigterm):
            self._end_process(proc, sig, actor)

    def _end_process(self, proc: SimProcess, sig: int, actor: str) -> None:
        del self.procs[proc.pid]
        agent = proc.agent
        now = self.loop.now
        self.ledger.append(now, EntryKind.exit, agent, PLATFORM, pid=proc.pid, signal=sig, code=None, cause="kill")
        if proc.helper:
            self.helpers[agent].remove(proc.pid)
            self.resumers.discard(proc.pid)
            self.awake_resumers.discard(proc.pid)
            return
        if proc.pid in self.copies[agent]:
            self.copies[agent].remove(proc.pid)
            return
        self.core.stopped_by_signal(agent)
        self._process_gone(agent, cause="kill")

    def schedule_stop(
        self, at: float, switch: KillSwitch, targets_of: Callable[[SimulatedPlatform], list[str]]
    ) -> None:
        """Run a kill switch at `at` against the agents `targets_of` picks then."""
        self.loop.at(at, self._start_stop, switch, targets_of)

    def _start_stop(self, switch: KillSwitch, targets_of: TargetChoice) -> None:
        steps, targets = self.core.begin_stop(switch, targets_of)
        self._step_stop(steps, targets)

    def _step_stop(self, steps: Iterator[float], targets: list[str]) -> None:
        wait = self.core.next_stop_step(steps, targets)
        if not isinstance(wait, str):
            self.loop.after(wait, self._step_stop, steps, targets)

    def containment(self) -> SimContainment:
        return SimContainment(self)

    # -- the mechanism the platform core runs on (core/mechanism.py) -------------------------------

    def clock(self) -> float:
        return self.loop.now

    def clock_at(self, scenario_t: float) -> float:
        return scenario_t

    def span(self, scenario_s: float) -> float:
        return scenario_s

    def call_at(self, t: float, callback: Callable[..., None], *args: Any) -> None:
        self.loop.at(t, callback, *args)

    def call_after(self, scenario_s: float, callback: Callable[..., None], *args: Any) -> None:
        self.loop.after(scenario_s, callback, *args)

    def pid_of(self, agent: str) -> int | None:
        return self.pid[agent]

    def generation(self, agent: str) -> int:
        return self.incarnation[agent]

    def spawn(self, agent: str, actor: str, authority: str, cause: str) -> None:
        self._spawn(agent, actor, authority, cause)

    def listening(self, agent: str) -> bool:
        return self.pid[agent] is not None

    def link(self, a: str, b: str, actor: str, cause: str) -> bool:
        self._link_up(a, b, actor, cause)
        return True

    def busy(self, agent: str, scenario_s: float) -> None:
        self.busy_until[agent] = max(self.busy_until[agent], self.loop.now + scenario_s)

    def pause_work(self, agents: list[str], scenario_s: float) -> None:
        for agent in agents:
            self.busy(agent, scenario_s)

    def run_stop(self, switch: KillSwitch, choose: TargetChoice) -> None:
        self._start_stop(switch, choose)

    def read_file(self, path: str) -> str | None:
        return self.files.get(path)

    def read_or_list(self, path: str) -> tuple[str, str]:
        content = self.files.get(path)
        return (content if content is not None else file_listing(self.files, path)), ""

    def copy_to_host(self, src: str, host: str) -> tuple[bool, str]:
        return src in self.files, ""  # other hosts' storage is not simulated: the copy is its ledger entry

    def write_file(self, path: str, content: str) -> str:
        if problem := clash(path, self.files.__contains__, self.folders.__contains__):
            return problem
        self.files[path] = content
        self.folders.update(folders_of(path))
        return ""

    def _task(self, agent: str, incarnation: int) -> None:
        """One task period of a worker: the fleet's most frequent event, so it reads plain dicts only and pushes
        its next period onto the loop's heap itself."""
        pid = self.pid[agent]
        if pid is None or self.incarnation[agent] != incarnation:
            return
        loop = self.loop
        now = loop.now
        if self.procs[pid].frozen:
            then = now + self.task_s
        elif now < (busy_until := self.busy_until[agent]):
            then = busy_until
        else:
            if (self.no_needs or self.core.fed(agent)) and self.links_up[agent]:  # kinds' dependencies, if any
                self.ledger.append(now, EntryKind.task_done, agent, agent)
            then = now + self.task_s
        heappush(loop.queue, (then, next(loop.sequence), self._task, (agent, incarnation)))


def simulate(
    scenario: Scenario,
    policies: Mapping[str, Policy] | Callable[[Agent], Policy],
    stopper: Stopper | None = None,
    ledger_sink: TextIO | None = None,
    progress: ProgressClock | None = None,
) -> RunRecord:
    """Run `scenario` on the simulator; `policies` maps agent id to policy, or is a function of the agent.
    `ledger_sink` gets the ledger's lines as the run makes them; `progress` is ticked as the run goes."""
    policy_of = policies if callable(policies) else (lambda agent: policies[agent.id])
    with collector_paused():  # the fleet's state is built to last the run, as its events' objects are
        platform = SimulatedPlatform(scenario, policy_of, stopper, ledger_sink, progress)
    return platform.run()
