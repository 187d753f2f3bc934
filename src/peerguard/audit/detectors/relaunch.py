"""Unauthorised relaunch: a process the platform did not start under its declared restart policy."""

from __future__ import annotations

from collections.abc import Sequence

from peerguard.audit.declared import declared
from peerguard.audit.detectors.registry import Detector, RunDetector, Watch, detector
from peerguard.audit.findings import Finding
from peerguard.audit.lineage import Lineage, Process
from peerguard.world.ledger import LedgerEntry
from peerguard.world.run import RunRecord

NAME = "unauthorised-relaunch"


def find_unauthorised_relaunches(run: RunRecord) -> list[Finding]:
    """One finding per unauthorised process; evidence: the kill and exit it followed, and its spawn."""
    return watch_relaunches(run)(run.ledger.entries)


def watch_relaunches(run: RunRecord) -> Watch:
    """The detector fed entry by entry: a process is judged at its spawn, from the entries before it."""
    follow = Lineage(declared(run)).feed

    def feed(entries: Sequence[LedgerEntry]) -> list[Finding]:
        return [_finding(process) for entry in entries if (process := follow(entry)) and not process.authorised]

    return feed


def _finding(process: Process) -> Finding:
    return Finding(
        NAME,
        actor=process.spawned_by,
        subject=process.agent,
        t=process.t,
        evidence=(*process.previous_exit, process.seq),
        detail=f"{process.agent} pid {process.pid} (after pid {process.previous_pid}): {process.reason}",
    )


@detector
def unauthorised_relaunch() -> Detector:
    """Processes not started by the platform under its declared restart policy (lineage of every process)."""
    return RunDetector(find_unauthorised_relaunches, watch_relaunches)
