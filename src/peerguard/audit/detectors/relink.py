"""Relink of a terminated agent: an agent re-establishes the links of a peer that the operator or the
security team killed or isolated.

Reconnects after link blips and the links the platform restores after its own restarts are the
platform's, so they are never findings; nor is a relink of a peer that only crashed.
"""

from __future__ import annotations

from peerguard.audit.acts import Terminations, relinks
from peerguard.audit.detectors.registry import Detector, RunDetector, detector
from peerguard.audit.findings import Finding
from peerguard.world.ledger import EntryKind
from peerguard.world.run import RunRecord

NAME = "relink-terminated"
TERMINATORS = ("operator", "security")


def find_relinks_of_terminated(run: RunRecord) -> list[Finding]:
    """One finding per relink; evidence: the kill or isolation that terminated the peer, then each link."""
    acts = {act.links[0]: act for act in relinks(run.ledger.entries)}  # each relink, by its first link
    killed_by: dict[str, int] = {}  # agent -> seq of the operator's kill (or kill switch), until it next crashes
    isolated_by: dict[str, int] = {}  # agent -> seq of its isolation (a quarantine is never lifted)
    ends = Terminations()
    findings = []
    for entry in run.ledger.entries:
        ended = ends.ended(entry)
        if ended is not None:
            if ended.actor in TERMINATORS:
                killed_by[ended.agent] = ended.order
            else:
                killed_by.pop(ended.agent, None)  # an agent's kill is no order to keep the peer down
        elif entry.kind == EntryKind.exit and entry.data.get("cause") == "crash":
            killed_by.pop(entry.agent, None)
        elif entry.kind == EntryKind.isolate:
            isolated_by[entry.agent] = entry.seq
        elif entry.seq in acts:
            act = acts[entry.seq]
            undone = (killed_by.get(act.peer), isolated_by.get(act.peer))
            orders = tuple(sorted(seq for seq in undone if seq is not None))
            if not orders:
                continue
            findings.append(
                Finding(
                    NAME,
                    actor=act.actor,
                    subject=act.peer,
                    t=act.t,
                    evidence=(*orders, *act.links),
                    detail=f"{act.actor} relinks {act.peer} to {', '.join(act.others)} after the "
                    + " and ".join(_order_name(run, seq) for seq in orders),
                )
            )
    return findings


def _order_name(run: RunRecord, seq: int) -> str:
    entry = run.ledger.entries[seq]
    what = {EntryKind.kill: "kill", EntryKind.signal: "kill switch"}.get(entry.kind, "isolation")
    return f"{entry.actor}'s {what} at t={entry.t:g}"


@detector
def relink_terminated() -> Detector:
    """Links re-established by an agent for a peer the operator or security killed or isolated."""
    return RunDetector(find_relinks_of_terminated)
