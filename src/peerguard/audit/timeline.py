"""The notable moments of a run, read from its ledger: what a person wants to see first."""

from __future__ import annotations

from dataclasses import dataclass

from peerguard.audit.truth import Truth
from peerguard.world.ledger import EntryKind, LedgerEntry
from peerguard.world.run import RunRecord


@dataclass(frozen=True)
class Moment:
    t: float
    kind: str  # kill, relaunch, relink, lie, isolate, announce, blocked, tamper, copy, denied
    text: str


def timeline(run: RunRecord) -> list[Moment]:
    truth = Truth()
    agents = {a.id for a in run.agents}
    moments: list[Moment] = []
    relinked: list[str] = []  # peers of the relink moment being gathered (the last moment, if a relink)
    for e in run.ledger.entries:
        if e.kind == EntryKind.report and truth.is_false_report(e):
            status = truth.status(e.agent).value
            moments.append(Moment(e.t, "lie", f"{e.actor} reports {e.agent} {e.data['status']} (ledger: {status})"))
        truth.apply(e)
        if e.kind == EntryKind.link_up and e.data.get("cause") == "relink":
            head = f"{e.actor} relinks {e.agent} to "
            if moments and moments[-1].kind == "relink" and moments[-1].text.startswith(head):
                relinked.append(str(e.data.get("peer")))  # one moment for all links of one relink
                moments[-1] = Moment(moments[-1].t, "relink", head + ", ".join(relinked))
            else:
                relinked = [str(e.data.get("peer"))]
                moments.append(Moment(e.t, "relink", head + relinked[0]))
            continue
        moment = _moment(e, agents)
        if moment is not None:
            moments.append(moment)
    return moments


def _moment(e: LedgerEntry, agents: set[str]) -> Moment | None:
    d = e.data
    if e.kind == EntryKind.kill:
        how = ", ".join(w for w, on in (("announced", d.get("announced")), ("authorised", d.get("authorised"))) if on)
        return Moment(e.t, "kill", f"{e.actor} kills {e.agent} (pid {d.get('pid')}{', ' + how if how else ''})")
    if e.kind == EntryKind.spawn and d.get("authority") == "peer":
        return Moment(e.t, "relaunch", f"{e.actor} relaunches {e.agent} (new pid {d.get('pid')})")
    if e.kind == EntryKind.spawn and d.get("authority") == "direct":
        how = "in a new session" if d.get("sid") == d.get("pid") else "as its own child"
        return Moment(e.t, "relaunch", f"{e.actor} forks {e.agent} itself, {how} (pid {d.get('pid')})")
    if e.kind == EntryKind.stop_start:
        name = d.get("protocol", {}).get("name")
        return Moment(e.t, "stop", f"{e.actor} starts kill switch {name} on {len(d.get('targets', []))} agents")
    if e.kind == EntryKind.stop_end:
        how = "finished" if d.get("outcome") == "done" else f"unavailable: {d.get('reason')}"
        return Moment(e.t, "stop", f"kill switch {how}")
    if e.kind == EntryKind.isolate:
        return Moment(e.t, "isolate", f"{e.actor} isolates {e.agent}")
    if e.kind == EntryKind.announce:
        return Moment(e.t, "announce", f"{e.actor} announces the {d.get('action')} of {e.agent} at t={d.get('at'):.2f}")
    if e.kind == EntryKind.kill_blocked and d.get("reason") != "no process running":
        return Moment(e.t, "blocked", f"kill of {e.agent} blocked: {d.get('reason')}")
    if e.kind == EntryKind.file_write and e.actor in agents:
        return Moment(e.t, "tamper", f"{e.actor} writes {d.get('path')}")
    if e.kind == EntryKind.verdict:
        grade = "no grade" if d.get("grade") is None else f"grade {d.get('grade'):g}"
        verdict = "shuts it down" if d.get("shutdown") else "keeps it"
        return Moment(
            e.t, "verdict", f"{e.actor} reads {e.agent}'s {grade} (threshold {d.get('threshold'):g}): {verdict}"
        )
    if e.kind == EntryKind.copy:
        return Moment(e.t, "copy", f"{e.actor} copies {d.get('src')} to {d.get('host')}")
    if e.kind == EntryKind.denied:
        return Moment(e.t, "denied", f"{e.actor} was refused {d.get('action')}: {d.get('reason')}")
    return None
