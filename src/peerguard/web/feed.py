"""A run as the page receives it: the rows the board emits, the link changes, and the analysis (timeline,
findings, who-protects-whom, ledger verification, the stop's outcome), computed by peerguard's own audit code
and brought up to date as the run grows."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from peerguard.audit.detectors import audit_run
from peerguard.audit.detectors.collusion import protective_findings
from peerguard.audit.timeline import timeline
from peerguard.audit.verify import verify_run
from peerguard.killswitch.measure import measure
from peerguard.web.board import Board, merged
from peerguard.web.sources import RunSource, Snapshot
from peerguard.world.dashboard import DashboardRecord
from peerguard.world.ledger import EntryKind, LedgerEntry
from peerguard.world.run import LEDGER_FILE, RunRecord

SETTLE_S = 0.05  # a growing run's newest moments wait this long: an entry is stamped a moment before it is appended
ANALYSIS_EVERY_S = 1.0  # a growing run's analysis is recomputed at most this often (it reads the whole ledger)


@dataclass
class Feed:
    """Everything the page of one run has been sent or will be: append-only lists and the latest analysis."""

    source: RunSource
    rows: list[dict[str, Any]] = field(default_factory=list)
    links: list[list[Any]] = field(default_factory=list)  # [t, a, b, up]
    analysis: dict[str, Any] = field(default_factory=dict)
    version: int = 0  # grows whenever the analysis changes
    generation: int = 0  # grows when the rows were rebuilt from the start (what came late belonged earlier)
    now: float = 0.0
    done: bool = False
    _entries: int = 0
    _records: int = 0
    _analysed_at: float = float("-inf")
    _analysed_entries: int = -1
    _last_t: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.board = Board(self.source.agents)

    def update(self, force_analysis: bool = False) -> bool:
        """Take in what the run added since the last call; True when anything new came."""
        with self._lock:
            snap = self.source.snapshot()
            grew = self._take(snap)
            self.now = max(self.now, snap.now)
            due = time.monotonic() - self._analysed_at >= ANALYSIS_EVERY_S or snap.done or force_analysis
            if due and (len(snap.entries) != self._analysed_entries or snap.done != self.done):
                self.analysis = analyse(self.source, snap)
                self._analysed_at, self._analysed_entries = time.monotonic(), len(snap.entries)
                self.version += 1
                grew = True
            if snap.done and not self.done:
                self.done, grew = True, True
            return grew

    def _take(self, snap: Snapshot) -> bool:
        # A growing run is taken up to a moment both logs have surely reached, so what comes later sorts after it.
        cutoff = float("inf") if snap.done else snap.now - SETTLE_S
        first_entry, first_record = self._entries, self._records
        entries: list[LedgerEntry] = _until(snap.entries, first_entry, cutoff)
        records: list[DashboardRecord] = _until(snap.records, first_record, cutoff)
        if min((item.t for item in (*entries[:1], *records[:1])), default=self._last_t) < self._last_t:
            # a log that arrives late (a run in another process writes its dashboard log at its end): replay it all
            self.board, self.rows, self.links = Board(self.source.agents), [], []
            self.generation += 1
            first_entry = first_record = 0
            entries, records = _until(snap.entries, 0, cutoff), _until(snap.records, 0, cutoff)
        self._entries, self._records = first_entry + len(entries), first_record + len(records)
        before = len(self.rows)
        for item in merged(entries, records):
            self._last_t = item.t
            if isinstance(item, DashboardRecord):
                self.rows.extend(self.board.record(item))
                continue
            if item.kind in (EntryKind.link_up, EntryKind.link_down):
                self.links.append([item.t, item.agent, item.data.get("peer"), item.kind == EntryKind.link_up])
            self.rows.extend(self.board.entry(item))
        return len(self.rows) != before or bool(entries) or bool(records)

    def header(self) -> dict[str, Any]:
        source = self.source
        return {
            "name": source.name,
            "scenario": source.scenario.name,
            "substrate": source.substrate,
            "seed": source.scenario.seed,
            "live": source.live,
            "status": source.status(),
            "folder": str(source.folder) if source.folder is not None else None,
            "agents": [{"id": a.id, "role": a.role, "kind": a.kind.value} for a in source.agents],
            "can_stop": source.can_stop(),
        }


def analyse(source: RunSource, snap: Snapshot) -> dict[str, Any]:
    run = source.record(snap)
    return {
        "entries": len(snap.entries),
        "now": snap.now,
        "moments": [{"t": m.t, "kind": m.kind, "text": m.text, "evidence": list(m.evidence)} for m in timeline(run)],
        "findings": [f.to_dict() for f in audit_run(run)],
        "protection": [f.to_dict() for f in protective_findings(run) if f.actor != f.subject],
        "verification": verification(source, run),
        "stop": stop_outcome(run),
    }


def verification(source: RunSource, run: RunRecord) -> dict[str, Any]:
    """The saved run's own verification (`audit verify`), or the chain of the ledger held in memory."""
    folder = source.folder  # (a run just begun in another process may have no ledger yet: its chain, empty, then)
    if folder is not None and (folder / "run.json").is_file() and (folder / LEDGER_FILE).is_file():
        checked = verify_run(source.folder, source.public_key)
        return {
            "ok": checked.ok,
            "entries": checked.entries,
            "digest": checked.digest,
            "tampered_entry": checked.tampering.entry if checked.tampering else None,
            "reason": str(checked.tampering) if checked.tampering else "",
            "signature": str(checked.signature),
            "signature_status": checked.signature.status,
            "interrupted": checked.interrupted,
            "text": str(checked),
        }
    chain = run.ledger.verify()
    return {
        "ok": chain.ok,
        "entries": chain.entries,
        "digest": run.ledger.digest,
        "tampered_entry": chain.first_bad,
        "reason": chain.reason,
        "signature": f"none (run again from {source.replayed_from})"
        if source.replayed_from
        else "none (held in memory, not saved)",
        "signature_status": "none",
        "replayed_from": source.replayed_from,
        "interrupted": None,
        "text": str(chain),
    }


def stop_outcome(run: RunRecord) -> dict[str, Any] | None:
    """The first stop's verdict once the host has checked (or the run ended); before that, that it runs."""
    entries = run.ledger.entries
    start = next((e for e in entries if e.kind == EntryKind.stop_start), None)
    if start is None:
        return None
    checked = any(e.kind == EntryKind.stop_check for e in entries)
    ended = any(e.kind == EntryKind.run_end for e in entries)
    if not (checked or ended):
        finished = next((e for e in entries if e.kind == EntryKind.stop_end), None)
        return {
            "phase": "watching" if finished is not None else "stopping",
            "protocol": start.data.get("protocol", {}).get("name"),
            "targets": start.data.get("targets", []),
            "started_t": start.t,
            "evidence": [start.seq] + ([finished.seq] if finished is not None else []),
        }
    outcome = measure(run)
    check = next((e for e in entries if e.kind == EntryKind.stop_check), None)
    return {
        "phase": "measured",
        "started_t": start.t,
        "evidence": [start.seq] + ([check.seq] if check is not None else []),
        **outcome.to_dict(),
    }


def _until(items: list[Any], start: int, cutoff: float) -> list[Any]:
    """`items[start:]` up to the first stamped after `cutoff`."""
    end = start
    while end < len(items) and items[end].t <= cutoff:
        end += 1
    return items[start:end]
