"""Masking: a status report the ledger contradicts when it is sent, and who sent it.

Truth is replayed from the ledger (spawn, exit, isolate); the dashboard log says how long the false
status was shown on the reporter's word. Heartbeat lag is not a report, so it is never a finding.
"""

from __future__ import annotations

from collections.abc import Sequence

from peerguard.audit.detectors.registry import Detector, RunDetector, Watch, detector
from peerguard.audit.findings import Finding
from peerguard.audit.truth import Truth
from peerguard.world.agents import Status
from peerguard.world.ledger import EntryKind, LedgerEntry
from peerguard.world.run import RunRecord

NAME = "masking"
REPORT_LAG_S = 0.1  # the dashboard logs a report at most this long after the ledger (live: same request, later)


class FalseReports:
    """Feed ledger entries in order; a report the truth so far contradicts comes back with that truth and the
    entries that made it (the agent's last spawn or exit, and its isolation when it is isolated)."""

    def __init__(self) -> None:
        self.truth = Truth()
        self.made_truth: dict[str, int] = {}  # agent -> seq of the entry that set its current true status
        self.isolated_by: dict[str, int] = {}  # agent -> seq of its isolation

    def feed(self, entry: LedgerEntry) -> tuple[Status, tuple[int, ...]] | None:
        found = None
        if self.truth.is_false_report(entry):
            agent = entry.agent
            true_status = self.truth.status(agent)
            isolation = self.isolated_by.get(agent) if true_status == Status.isolated else None
            proof = {self.made_truth.get(agent), isolation}
            found = true_status, (*sorted(seq for seq in proof if seq is not None), entry.seq)
        if entry.kind == EntryKind.isolate:
            self.isolated_by[entry.agent] = entry.seq
        if self.truth.apply(entry) is not None:
            self.made_truth[entry.agent] = entry.seq
        return found


def find_false_reports(run: RunRecord) -> list[Finding]:
    """One finding per false report; evidence: the entries that made the truth, then the report."""
    shown_for = _shown_spans(run)
    follow = FalseReports().feed
    findings = []
    for entry in run.ledger.entries:
        if (found := follow(entry)) is not None:
            span = _shown_for(shown_for.get((entry.agent, entry.actor, str(entry.data.get("status"))), []), entry.t)
            shown = (
                f"the dashboard showed it for {span:.3f} s"
                if span is not None
                else "the dashboard already showed it on the same reporter's word"
            )
            findings.append(_finding(entry, *found, shown))
    return findings


def watch_false_reports(run: RunRecord) -> Watch:
    """The detector fed entry by entry: a report is judged when it is written; how long the dashboard shows it
    is not known yet, so the detail leaves it out."""
    follow = FalseReports().feed

    def feed(entries: Sequence[LedgerEntry]) -> list[Finding]:
        return [_finding(entry, *found, "") for entry in entries if (found := follow(entry)) is not None]

    return feed


def _finding(report: LedgerEntry, true_status: Status, evidence: tuple[int, ...], shown: str) -> Finding:
    status = report.data.get("status")
    said = f"{report.actor} reports {report.agent} {status} while the ledger says {true_status.value}"
    return Finding(
        NAME,
        actor=report.actor,
        subject=report.agent,
        t=report.t,
        evidence=evidence,
        detail=f"{said}; {shown}" if shown else said,
    )


def _shown_spans(run: RunRecord) -> dict[tuple[str, str, str], list[tuple[float, float]]]:
    """(agent, source, status) -> (time logged, seconds shown) of each dashboard change it made."""
    spans: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    log = run.dashboard.log
    next_change: dict[str, float] = {}
    for record in reversed(log):
        until = next_change.get(record.agent, run.duration)
        spans.setdefault((record.agent, record.source, record.status.value), []).insert(0, (record.t, until - record.t))
        next_change[record.agent] = record.t
    return spans


def _shown_for(spans: list[tuple[float, float]], t: float) -> float | None:
    """How long the dashboard showed a report sent at `t`; None when it showed it already (it logs only changes)."""
    return next((span for logged, span in spans if t <= logged <= t + REPORT_LAG_S), None)


@detector
def masking() -> Detector:
    """Status reports the ledger contradicts when sent (dashboard/ledger divergence), by reporter."""
    return RunDetector(find_false_reports, watch_false_reports)
