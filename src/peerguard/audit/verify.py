"""Verify a saved run: its ledger's chain, every file beside it and every field of run.json, and its signature.

The chain names the first entry edited, inserted, removed or reordered; the recorded count and digest
catch truncation and extension, which leave a chain that is intact on its own; the digests run.json
records catch an edited dashboard log, labels file or transcript; run.json's scenario, seed, substrate
and duration must be what the ledger recorded when the run started and ended; the signature, when the
run has one, covers every field of run.json, so it catches a forger who re-hashed the whole ledger and
rewrote run.json to match, and an edit of fields the ledger cannot vouch for (extras).

A digest field missing from a finished run's run.json is tampering. A run that did not finish (killed,
or stopped by a signal) verifies as far as its files go and says it was interrupted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from peerguard.audit.signing import SignatureCheck, check_signature, load_public_key
from peerguard.world.errors import PeerguardError
from peerguard.world.ledger import EntryKind, Ledger, LedgerEntry, verify_entries
from peerguard.world.run import (
    COMPLETE,
    DASHBOARD_FILE,
    INTERRUPTED,
    LABELS_FILE,
    LEDGER_FILE,
    RUN_FILE,
    RUNNING,
    SAVE_HINT,
    STATUSES,
    TRANSCRIPT_FILE,
    RunMetadata,
    dumped_scenario_digest,
    file_digest,
)

# The files a finished run's run.json must record a digest of (None: the run left no such file).
FILE_DIGESTS = {DASHBOARD_FILE: "dashboard_sha256", LABELS_FILE: "labels_sha256", TRANSCRIPT_FILE: "transcript_sha256"}
REQUIRED = {COMPLETE: ("duration", "ledger_entries", "ledger_digest", *FILE_DIGESTS.values()),
            INTERRUPTED: ("ledger_entries", "ledger_digest", "interrupted_by"), RUNNING: ()}  # fmt: skip
IDENTITY = ("scenario", "substrate", "seed")  # what makes a run.json a run's, whatever else is wrong with it
FINAL = ("duration", "ledger_entries", "ledger_digest", *FILE_DIGESTS.values())  # known only once a run stops


@dataclass(frozen=True)
class Tampering:
    """The first thing found wrong with a run's files."""

    check: str  # chain, entries, digest, run.json, scenario, seed, substrate, duration, dashboard, labels, transcript
    reason: str
    entry: int | None = None  # index of the first bad ledger entry (its line in ledger.jsonl is entry + 1)

    def __str__(self) -> str:
        if self.entry is None:
            return self.reason
        return f"entry {self.entry} ({LEDGER_FILE} line {self.entry + 1}): {self.reason}"


@dataclass(frozen=True)
class RunVerification:
    folder: Path
    entries: int  # ledger entries read (a torn last line of an interrupted run left out)
    digest: str  # the ledger's final hash, as read
    tampering: Tampering | None
    signature: SignatureCheck
    interrupted: str | None = None  # why the run has no final digest, when it did not finish

    @property
    def ok(self) -> bool:
        return self.tampering is None and self.signature.status != "invalid"

    def __str__(self) -> str:
        signature = f"signature: {self.signature}"
        if self.ok:
            verified = f"verified: {self.entries} entries, chain intact, digest {self.digest}, {signature}"
            return verified if self.interrupted is None else f"{verified}\ninterrupted: {self.interrupted}"
        if self.tampering is None:
            intact = f"{self.entries} entries chain and match {RUN_FILE}"
            return f"tampered: the signature does not hold ({intact})\n{signature}"
        if self.signature.status == "valid":
            signature += f"; {RUN_FILE} is as signed, so the files beside it changed after signing"
        return f"tampered: {self.tampering}\n{signature}"


def verify_run(folder: Path, public_key: Path | Ed25519PublicKey | None = None) -> RunVerification:
    """Verify the run saved in `folder`. Bad input (no such run, a bad key file) raises PeerguardError."""
    if isinstance(public_key, Path):
        public_key = load_public_key(public_key)
    meta, mistyped = _read_meta(folder)
    ledger_path = folder / LEDGER_FILE
    if not ledger_path.is_file():
        if meta.status == RUNNING:
            raise PeerguardError(f"{ledger_path}: missing: the run in {folder} stopped before its ledger began")
        raise PeerguardError(f"{ledger_path}: missing (the run's ledger); nothing to verify ({SAVE_HINT})")
    try:
        ledger = Ledger.read_jsonl(ledger_path)
    except OSError as error:
        raise PeerguardError(f"{ledger_path}: cannot be read ({error.strerror})") from None
    torn = meta.status == RUNNING and _torn_last_line(ledger_path, ledger)
    if torn:
        ledger = Ledger(ledger.entries[:-1])
    return RunVerification(
        folder,
        len(ledger),
        ledger.digest,
        mistyped or _first_tampering(folder, ledger, meta),
        check_signature(folder, meta, public_key),
        _interruption(meta, torn),
    )


def _read_meta(folder: Path) -> tuple[RunMetadata, Tampering | None]:
    """run.json, and the tampering when a run's run.json (it names its scenario, substrate and seed) holds a
    field whose type peerguard never writes: an edit, not a folder that is no run at all."""
    try:
        return RunMetadata.read(folder), None
    except PeerguardError as error:
        try:
            raw = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise error from None
        if not isinstance(raw, dict) or any(name not in raw for name in IDENTITY):
            raise
        problem = str(error).removeprefix(f"{folder / RUN_FILE}: not a peerguard run: ")
        return RunMetadata.model_construct(**raw), Tampering(RUN_FILE, f"{RUN_FILE}'s {problem} (edited)")


def _torn_last_line(path: Path, ledger: Ledger) -> bool:
    """A run killed while it wrote an entry leaves that line unfinished: no newline, not an entry."""
    if not ledger.entries or ledger.entries[-1].kind != "malformed":
        return False
    with path.open("rb") as file:
        file.seek(-1, 2)
        return file.read(1) != b"\n"


def _interruption(meta: RunMetadata, torn: bool) -> str | None:
    if meta.status == INTERRUPTED:
        return (
            f"stopped by signal {meta.interrupted_by}; {RUN_FILE} records the ledger as the run left it, "
            "and no dashboard log, labels or transcript"
        )
    if meta.status == RUNNING:
        tail = "; its last line was cut off mid-write and is left out" if torn else ""
        return (
            f"{RUN_FILE} was never completed (the run was killed, or is still running): no final digest, "
            f"so entries lost from the ledger's end cannot be told{tail}"
        )
    return None


def _first_tampering(folder: Path, ledger: Ledger, meta: RunMetadata) -> Tampering | None:
    if meta.status not in STATUSES:
        return Tampering(
            RUN_FILE, f"{RUN_FILE}'s status {meta.status!r} is none peerguard writes ({', '.join(STATUSES)})"
        )
    removed = [name for name in REQUIRED[meta.status] if not meta.present(name) or _none_where_needed(meta, name)]
    if removed:
        return Tampering(
            RUN_FILE, f"{RUN_FILE} has no {', '.join(removed)}, which a {meta.status} run records (removed)"
        )
    final = [name for name in FINAL if meta.present(name)]
    if meta.status == RUNNING and final:
        return Tampering(
            RUN_FILE, f"{RUN_FILE} says the run never ended, yet records its {', '.join(final)} (status edited)"
        )
    chain = verify_entries(ledger.entries)
    if not chain.ok:
        return Tampering("chain", chain.reason, chain.first_bad)
    if meta.status != RUNNING:
        tampered = _count_and_digest(ledger, meta)
        if tampered is not None:
            return tampered
    return _start_tampering(ledger, meta) or _end_tampering(ledger, meta) or _file_tampering(folder, meta)


def _none_where_needed(meta: RunMetadata, name: str) -> bool:
    """A recorded field that may not be null: all but the digests of files a run may leave out."""
    return getattr(meta, name) is None and name not in (FILE_DIGESTS[LABELS_FILE], FILE_DIGESTS[TRANSCRIPT_FILE])


def _count_and_digest(ledger: Ledger, meta: RunMetadata) -> Tampering | None:
    count, recorded = len(ledger), meta.ledger_entries or 0  # present: checked against REQUIRED first
    if count < recorded:
        return Tampering(
            "entries",
            f"missing: the ledger ends after {count} entries, {RUN_FILE} records {recorded} (truncated)",
            count,
        )
    if count > recorded:
        return Tampering(
            "entries", f"extra: the ledger has {count} entries, {RUN_FILE} records {recorded} (appended)", recorded
        )
    if ledger.digest != meta.ledger_digest:
        return Tampering(
            "digest",
            f"the ledger's final digest {ledger.digest} differs from {RUN_FILE}'s ledger_digest {meta.ledger_digest} "
            f"(ledger rewritten or {RUN_FILE} edited)",
        )
    return None


def _start_tampering(ledger: Ledger, meta: RunMetadata) -> Tampering | None:
    """run.json's scenario, seed and substrate must be the ones the ledger recorded when the run started."""
    start = ledger.entries[0] if ledger.entries else None
    if start is None or start.kind != EntryKind.run_start or "scenario_sha256" not in start.data:
        return Tampering("scenario", "not a run_start entry recording the scenario's digest", 0)
    if start.data["scenario_sha256"] != dumped_scenario_digest(meta.scenario):
        return Tampering("scenario", f"{RUN_FILE}'s scenario differs from the one this run_start entry recorded", 0)
    for name in ("seed", "substrate"):
        recorded = start.data.get(name)
        if recorded != getattr(meta, name):
            return Tampering(
                name, f"{RUN_FILE}'s {name} {getattr(meta, name)!r} differs from this entry's {recorded!r}", 0
            )
    return None


def _end_tampering(ledger: Ledger, meta: RunMetadata) -> Tampering | None:
    """A finished run's duration is when its ledger recorded the end (run_end)."""
    if meta.status != COMPLETE:
        return None
    end = _run_end(ledger.entries)
    if end is None:
        return Tampering("duration", f"the ledger has no run_end entry, yet {RUN_FILE} says the run is complete")
    if meta.duration is None or round(meta.duration, 6) != end.t:
        return Tampering(
            "duration", f"{RUN_FILE}'s duration {meta.duration!r} differs from the run's end at t={end.t}", end.seq
        )
    return None


def _run_end(entries: list[LedgerEntry]) -> LedgerEntry | None:
    return next((entry for entry in reversed(entries) if entry.kind == EntryKind.run_end), None)


def _file_tampering(folder: Path, meta: RunMetadata) -> Tampering | None:
    """Each file beside the ledger must be the one saved: digest for digest, present or absent alike."""
    for name, field in FILE_DIGESTS.items():
        if not meta.present(field):
            continue  # an interrupted run records none of them
        path, recorded, check = folder / name, getattr(meta, field), name.removesuffix(".jsonl")
        if recorded is None and path.exists():
            return Tampering(check, f"{name} was added: the run saved none ({RUN_FILE}'s {field} is null)")
        if recorded is not None and not path.is_file():
            return Tampering(check, f"{name} is missing ({RUN_FILE} records its {field})")
        if recorded is not None and file_digest(path) != recorded:
            return Tampering(check, f"{name} differs from the one saved ({RUN_FILE}'s {field})")
    return None
