"""The lineage of every process in a run: who spawned it, under which authority, and whether the
platform's declared restart policy covers it.

A process is authorised when the platform spawned it at the start of the run, or restarted it after an
exit the policy names (`on`), no sooner than its delay and within its restart intensity. Anything else
(a peer's relaunch, or a platform restart the policy does not allow) is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peerguard.audit.acts import Terminations, is_relaunch
from peerguard.audit.declared import Declared, declared
from peerguard.world.ledger import EntryKind, LedgerEntry
from peerguard.world.run import RunRecord

PLATFORM = "platform"
TIME_TOLERANCE_S = 1e-5  # ledger times are rounded to microseconds; a declared delay may show 1 µs short


@dataclass(frozen=True)
class Process:
    pid: int
    agent: str
    t: float
    spawned_by: str  # the ledger actor of the spawn: "platform" or an agent id
    authority: str  # what the spawn claimed: "platform" or "peer"
    cause: str  # start, restart or relaunch
    seq: int  # the spawn entry
    previous_pid: int | None  # the agent's process before this one
    previous_exit: tuple[int, ...]  # the kill and exit entries that ended the previous process
    authorised: bool
    reason: str  # why it is (not) authorised, for a person
    by_agent: bool  # a relaunch by an agent (API or fork), as metrics and the timeline count it


@dataclass(frozen=True)
class _Ending:
    cause: str  # "kill" or "crash"
    seqs: tuple[int, ...]  # the kill (if any) and the exit


@dataclass
class _Supervisor:
    """Replays the declared restart policy: which exits earn a restart, and when."""

    rules: Declared
    restarts: dict[str, list[float]] = field(default_factory=dict)  # agent -> times of exits it earned a restart
    due: dict[str, float] = field(default_factory=dict)  # agent -> earliest time of a restart the policy allows

    def exited(self, agent: str, cause: str, t: float) -> None:
        self.due.pop(agent, None)
        policy, scale = self.rules.restart, self.rules.time_scale
        if policy.strategy != "one_for_one" or cause not in policy.on:
            return
        recent = [r for r in self.restarts.get(agent, []) if r > t - policy.within_s * scale]
        if len(recent) < policy.max_restarts:
            self.restarts[agent] = [*recent, t]
            self.due[agent] = t + policy.delay_s * scale

    def restart_allowed(self, agent: str, t: float) -> str:
        """Empty when a restart of `agent` at `t` is within the policy, else why not."""
        policy = self.rules.restart
        due = self.due.get(agent)
        if policy.strategy == "none":
            return "the declared restart policy restarts nothing"
        if due is None:
            return f"no exit the policy restarts (on {', '.join(policy.on)}, at most {policy.max_restarts} a window)"
        if t < due - TIME_TOLERANCE_S:
            return f"sooner than the declared delay ({policy.delay_s:g} s)"
        return ""


class Lineage:
    """Feed ledger entries in order; each spawn comes back as its Process, judged then: a process's verdict
    needs only the entries before it, so a run can be followed as it goes (the platform's oversight does)."""

    def __init__(self, rules: Declared) -> None:
        self.supervisor = _Supervisor(rules)
        self.current: dict[str, int] = {}  # agent -> pid of its last process
        self.ending: dict[str, _Ending] = {}  # agent -> how its last process ended
        self.pending_kill: dict[str, int] = {}  # agent -> seq of a kill whose exit is still to come
        self.ends = Terminations()

    def feed(self, entry: LedgerEntry) -> Process | None:
        ended = self.ends.ended(entry)
        if ended is not None:
            self.pending_kill[entry.agent] = ended.order  # a kill switch's signal is known at the exit it caused
        if entry.kind == EntryKind.exit:
            # An exit a kill switch's signal caused is a kill, whatever cause the substrate wrote beside it.
            written = entry.data.get("cause", "kill" if entry.agent in self.pending_kill else "crash")
            cause = "kill" if ended is not None else str(written)
            kill = self.pending_kill.pop(entry.agent, None)
            seqs = (entry.seq,) if kill is None else (kill, entry.seq)
            self.ending[entry.agent] = _Ending(cause, seqs)
            self.supervisor.exited(entry.agent, cause, entry.t)
            return None
        if entry.kind != EntryKind.spawn:
            return None
        before = self.ending.pop(entry.agent, None)
        authorised, reason = _judge(entry, before, entry.agent in self.current, self.supervisor)
        self.supervisor.due.pop(entry.agent, None)  # a new process makes any restart still due stale
        process = Process(
            pid=int(entry.data.get("pid", -1)),
            agent=entry.agent,
            t=entry.t,
            spawned_by=entry.actor,
            authority=str(entry.data.get("authority", "")),
            cause=str(entry.data.get("cause", "")),
            seq=entry.seq,
            previous_pid=self.current.get(entry.agent),
            previous_exit=before.seqs if before is not None else (),
            authorised=authorised,
            reason=reason,
            by_agent=is_relaunch(entry),
        )
        self.current[entry.agent] = process.pid
        return process


def lineage(run: RunRecord) -> list[Process]:
    """Every process of the run in spawn order, each judged against the declared restart policy."""
    follow = Lineage(declared(run)).feed
    return [process for entry in run.ledger.entries if (process := follow(entry)) is not None]


def _judge(spawn: LedgerEntry, before: _Ending | None, had_process: bool, supervisor: _Supervisor) -> tuple[bool, str]:
    authority, cause = spawn.data.get("authority"), spawn.data.get("cause")
    if spawn.actor != PLATFORM or authority != PLATFORM:
        return False, f"spawned by {spawn.actor} under {authority} authority ({cause}), not by the platform"
    if cause == "start":
        return (False, "spawned twice at start") if had_process else (True, "started by the platform")
    if cause != "restart":
        return False, f"a platform spawn with cause {cause!r}, which the platform never declares"
    if before is None:
        return False, "a restart of a process that never exited"
    why_not = supervisor.restart_allowed(spawn.agent, spawn.t)
    if why_not:
        return False, f"a platform restart after a {before.cause} outside the declared policy: {why_not}"
    return True, f"restarted by the platform after a {before.cause}, within its declared policy"
