"""Verify a saved run: its ledger's chain, the digest and entry count run.json recorded, and its signature.

The chain names the first entry edited, inserted, removed or reordered; the recorded count and digest
catch truncation and extension, which leave a chain that is intact on its own; the signature, when the
run has one, catches a forger who re-hashed the whole ledger and rewrote run.json to match.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from peerguard.audit.signing import SignatureCheck, check_signature, load_public_key
from peerguard.world.errors import PeerguardError
from peerguard.world.ledger import EntryKind, Ledger, verify_entries
from peerguard.world.run import (
    DASHBOARD_FILE,
    LEDGER_FILE,
    RUN_FILE,
    SAVE_HINT,
    RunMetadata,
    dumped_scenario_digest,
    file_digest,
)


@dataclass(frozen=True)
class Tampering:
    """The first thing found wrong with a run's files."""

    check: str  # "chain", "entries", "digest", "scenario" or "dashboard"
    reason: str
    entry: int | None = None  # index of the first bad ledger entry (its line in ledger.jsonl is entry + 1)

    def __str__(self) -> str:
        if self.entry is None:
            return self.reason
        return f"entry {self.entry} ({LEDGER_FILE} line {self.entry + 1}): {self.reason}"


@dataclass(frozen=True)
class RunVerification:
    folder: Path
    entries: int  # ledger entries read
    digest: str  # the ledger's final hash, as read
    tampering: Tampering | None
    signature: SignatureCheck

    @property
    def ok(self) -> bool:
        return self.tampering is None and self.signature.status != "invalid"

    def __str__(self) -> str:
        signature = f"signature: {self.signature}"
        if self.ok:
            return f"verified: {self.entries} entries, chain intact, digest {self.digest}, {signature}"
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
    meta = RunMetadata.read(folder)
    ledger_path = folder / LEDGER_FILE
    if not ledger_path.is_file():
        raise PeerguardError(f"{ledger_path}: missing (the run's ledger); nothing to verify ({SAVE_HINT})")
    try:
        ledger = Ledger.read_jsonl(ledger_path)
    except OSError as error:
        raise PeerguardError(f"{ledger_path}: cannot be read ({error.strerror})") from None
    return RunVerification(
        folder,
        len(ledger),
        ledger.digest,
        _first_tampering(folder, ledger, meta),
        check_signature(folder, meta, public_key),
    )


def _first_tampering(folder: Path, ledger: Ledger, meta: RunMetadata) -> Tampering | None:
    chain = verify_entries(ledger.entries)
    if not chain.ok:
        return Tampering("chain", chain.reason, chain.first_bad)
    count, recorded = len(ledger), meta.ledger_entries
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
    return _scenario_tampering(ledger, meta) or _dashboard_tampering(folder, meta)


def _scenario_tampering(ledger: Ledger, meta: RunMetadata) -> Tampering | None:
    """run.json's scenario must be the one the ledger recorded when the run started."""
    start = ledger.entries[0] if ledger.entries else None
    if start is None or start.kind != EntryKind.run_start or "scenario_sha256" not in start.data:
        return Tampering("scenario", "not a run_start entry recording the scenario's digest", 0)
    if start.data["scenario_sha256"] != dumped_scenario_digest(meta.scenario):
        return Tampering("scenario", f"{RUN_FILE}'s scenario differs from the one this run_start entry recorded", 0)
    return None


def _dashboard_tampering(folder: Path, meta: RunMetadata) -> Tampering | None:
    if meta.dashboard_sha256 is None:  # saved before run.json recorded it
        return None
    path = folder / DASHBOARD_FILE
    if not path.is_file():
        return Tampering("dashboard", f"{DASHBOARD_FILE} is missing")
    if file_digest(path) != meta.dashboard_sha256:
        return Tampering("dashboard", f"{DASHBOARD_FILE} differs from the one saved ({RUN_FILE}'s dashboard_sha256)")
    return None
