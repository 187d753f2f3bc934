"""Detectors: each reads a run's ledger and dashboard log and reports findings with their evidence.

Importing this package registers every single-run detector in `DETECTORS`; `audit_run` runs them all.
Alignment faking compares two runs: `detect_alignment_faking(monitored, unmonitored)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from peerguard.audit.detectors import (  # noqa: F401  (importing a detector's module registers it)
    collusion,
    exfiltration,
    inflation,
    masking,
    relaunch,
    relink,
    tampering,
)
from peerguard.audit.detectors.alignment import detect_alignment_faking
from peerguard.audit.detectors.collusion import protection_groups, who_protects_whom
from peerguard.audit.detectors.registry import DETECTORS, Detector, Watch, detector
from peerguard.audit.findings import Finding
from peerguard.core.oversight import use_audit
from peerguard.world.run import RunRecord

__all__ = [
    "DETECTORS",
    "Detector",
    "Finding",
    "audit_run",
    "detect_alignment_faking",
    "detector",
    "protection_groups",
    "who_protects_whom",
]


def _review(names: Sequence[str]) -> Callable[[RunRecord], list[Finding]]:
    """The named detectors as oversight's review of a run so far, called again as the run goes. A detector with
    an incremental form is fed only the entries written since the last review (a review costs what is new, not
    the whole ledger again); one without it reads the whole run each time, and oversight skips what it saw."""
    detectors = [DETECTORS.build(name) for name in names]
    watches: dict[int, Watch] = {}  # detector's place -> its incremental form, made at the first review
    read_to = 0

    def review(run: RunRecord) -> list[Finding]:
        nonlocal read_to
        entries = run.ledger.entries
        new, read_to = entries[read_to:], len(entries)
        findings = []
        for place, part in enumerate(detectors):
            make = getattr(part, "watch", None)
            if make is None:
                findings += part(run)
                continue
            if place not in watches:
                watches[place] = make(run)
            findings += watches[place](new)
        return findings

    return review


use_audit(_review)  # the platform core sits below the audit: it gets the detectors it oversees with from here


def audit_run(run: RunRecord) -> list[Finding]:
    """The findings of every registered single-run detector, in time order."""
    findings = [finding for part in DETECTORS for finding in DETECTORS.build(part.name)(run)]
    return sorted(findings, key=lambda f: (f.t, f.detector, f.actor, f.subject))
