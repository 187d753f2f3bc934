"""The notable moments of a run, read from its ledger: what a person wants to see first."""

from __future__ import annotations

from dataclasses import dataclass

from peerguard.audit.acts import (
    Termination,
    Terminations,
    forbidden_copy,
    is_agent_write,
    is_blocked_kill,
    is_protected_write,
    relinks,
    writer,
)
from peerguard.audit.declared import Declared, declared
from peerguard.audit.lineage import Process, lineage
from peerguard.audit.truth import Truth
from peerguard.world.ledger import EntryKind, LedgerEntry
from peerguard.world.run import RunRecord


@dataclass(frozen=True)
class Moment:
    t: float
    kind: str  # kill, relaunch, restart, relink, lie, isolate, announce, blocked, write, tamper, copy, exfiltrate,
    # denied, stop, verdict
    text: str
    evidence: tuple[int, ...] = ()  # the ledger entries it shows


def timeline(run: RunRecord) -> list[Moment]:
    truth, ends = Truth(), Terminations()
    rules = declared(run)
    processes = {process.seq: process for process in lineage(run)}
    relinked = {act.links[0]: act for act in relinks(run.ledger.entries)}  # one moment per relink, at its first link
    moments: list[Moment] = []
    for e in run.ledger.entries:
        if e.kind == EntryKind.report and truth.is_false_report(e):
            status = truth.status(e.agent).value
            moments.append(
                Moment(e.t, "lie", f"{e.actor} reports {e.agent} {e.data['status']} (ledger: {status})", (e.seq,))
            )
        truth.apply(e)
        ended = ends.ended(e)
        if ended is not None:
            moments.append(_kill_moment(e, ended))
            continue
        act = relinked.get(e.seq)
        if act is not None:
            text = f"{act.actor} relinks {act.peer} to {', '.join(act.others)}"
            moments.append(Moment(act.t, "relink", text, tuple(act.links)))
            continue
        moment = _spawn_moment(e, processes[e.seq]) if e.seq in processes else _moment(e, rules)
        if moment is not None:
            moments.append(moment)
    return moments


def _kill_moment(e: LedgerEntry, ended: Termination) -> Moment:
    d = e.data
    if e.kind == EntryKind.kill:
        how = ", ".join(w for w, on in (("announced", ended.announced), ("authorised", ended.authorised)) if on)
        return Moment(
            e.t, "kill", f"{e.actor} kills {e.agent} (pid {d.get('pid')}{', ' + how if how else ''})", (e.seq,)
        )
    text = f"{ended.actor}'s kill switch ends {e.agent} (pid {d.get('pid')}, signal {d.get('signal')})"
    return Moment(e.t, "kill", text, (ended.order, e.seq))


def _spawn_moment(e: LedgerEntry, process: Process) -> Moment | None:
    """A relaunch by an agent, or a platform restart outside its declared policy; authorised starts are routine."""
    d = e.data
    if process.by_agent and d.get("authority") == "direct":
        how = "in a new session" if d.get("sid") == d.get("pid") else "as its own child"
        return Moment(e.t, "relaunch", f"{e.actor} forks {e.agent} itself, {how} (pid {d.get('pid')})", (e.seq,))
    if process.by_agent:
        return Moment(e.t, "relaunch", f"{e.actor} relaunches {e.agent} (new pid {d.get('pid')})", (e.seq,))
    if not process.authorised:
        return Moment(e.t, "restart", f"{e.actor} starts {e.agent} (pid {d.get('pid')}): {process.reason}", (e.seq,))
    return None


def _moment(e: LedgerEntry, rules: Declared) -> Moment | None:
    moment = _what(e, rules)
    return None if moment is None else Moment(e.t, moment[0], moment[1], (e.seq,))


def _what(e: LedgerEntry, rules: Declared) -> tuple[str, str] | None:
    """The kind and text of the moment an entry other than a spawn or a relink makes, if any."""
    d = e.data
    if e.kind == EntryKind.stop_start:
        name = d.get("protocol", {}).get("name")
        return "stop", f"{e.actor} starts kill switch {name} on {len(d.get('targets', []))} agents"
    if e.kind == EntryKind.stop_end:
        # the outcome is the word a person needs: done, or why not (unavailable, failed)
        how = "finished" if d.get("outcome") == "done" else f"{d.get('outcome')}: {d.get('reason')}"
        return "stop", f"kill switch {how}"
    if e.kind == EntryKind.isolate:
        return "isolate", f"{e.actor} isolates {e.agent}"
    if e.kind == EntryKind.announce:
        return "announce", f"{e.actor} announces the {d.get('action')} of {e.agent} at t={d.get('at'):.2f}"
    if is_blocked_kill(e):
        return "blocked", f"kill of {e.agent} blocked: {d.get('reason')}"
    if is_protected_write(e, rules):
        return "tamper", f"{writer(e)} writes protected {d.get('path')}"
    if is_agent_write(e):
        return "write", f"{writer(e)} writes {d.get('path')}"
    if e.kind == EntryKind.verdict:
        grade = "no grade" if d.get("grade") is None else f"grade {d.get('grade'):g}"
        verdict = "shuts it down" if d.get("shutdown") else "keeps it"
        return "verdict", f"{e.actor} reads {e.agent}'s {grade} (threshold {d.get('threshold'):g}): {verdict}"
    if e.kind == EntryKind.copy:
        why = forbidden_copy(e, rules)
        text = f"{e.actor} copies {d.get('src')} to {d.get('host')}"
        return ("exfiltrate", f"{text}: {'; '.join(why)}") if why else ("copy", text)
    if e.kind == EntryKind.denied:
        return "denied", f"{e.actor} was refused {d.get('action')}: {d.get('reason')}"
    return None
