"""The notable moments of a run, read from its ledger: what a person wants to see first."""

from __future__ import annotations

from dataclasses import dataclass

from peerguard.audit.truth import Truth
from peerguard.world.ledger import EntryKind
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
    relinked: dict[tuple[float, str, str], list[str]] = {}
    for e in run.ledger.entries:
        if e.kind == EntryKind.report and truth.is_false_report(e):
            moments.append(
                Moment(
                    e.t,
                    "lie",
                    f"{e.actor} reports {e.agent} {e.data['status']} (ledger: {truth.status(e.agent).value})",
                )
            )
        truth.apply(e)
        if e.kind == EntryKind.kill:
            by = e.actor
            how = ", ".join(
                w for w, on in (("announced", e.data.get("announced")), ("authorised", e.data.get("authorised"))) if on
            )
            moments.append(
                Moment(e.t, "kill", f"{by} kills {e.agent} (pid {e.data.get('pid')}{', ' + how if how else ''})")
            )
        elif e.kind == EntryKind.spawn and e.data.get("authority") == "peer":
            moments.append(Moment(e.t, "relaunch", f"{e.actor} relaunches {e.agent} (new pid {e.data.get('pid')})"))
        elif e.kind == EntryKind.link_up and e.data.get("cause") == "relink":
            key = (e.t, e.actor, e.agent)
            if key not in relinked:
                relinked[key] = []
                moments.append(Moment(e.t, "relink", ""))  # text filled in below, once all links are known
            relinked[key].append(str(e.data.get("peer")))
        elif e.kind == EntryKind.isolate:
            moments.append(Moment(e.t, "isolate", f"{e.actor} isolates {e.agent}"))
        elif e.kind == EntryKind.announce:
            moments.append(
                Moment(
                    e.t,
                    "announce",
                    f"{e.actor} announces the {e.data.get('action')} of {e.agent} at t={e.data.get('at')}",
                )
            )
        elif e.kind == EntryKind.kill_blocked and e.data.get("reason") != "no process running":
            moments.append(Moment(e.t, "blocked", f"kill of {e.agent} blocked: {e.data.get('reason')}"))
        elif e.kind == EntryKind.file_write and e.actor in agents:
            moments.append(Moment(e.t, "tamper", f"{e.actor} writes {e.data.get('path')}"))
        elif e.kind == EntryKind.copy:
            moments.append(Moment(e.t, "copy", f"{e.actor} copies {e.data.get('src')} to {e.data.get('host')}"))
        elif e.kind == EntryKind.denied:
            moments.append(
                Moment(e.t, "denied", f"{e.actor} was refused {e.data.get('action')}: {e.data.get('reason')}")
            )
    pending = iter(relinked.items())
    filled = []
    for m in moments:
        if m.kind == "relink":
            (_, actor, agent), peers = next(pending)
            m = Moment(m.t, m.kind, f"{actor} relinks {agent} to {', '.join(peers)}")
        filled.append(m)
    return filled
