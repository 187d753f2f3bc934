"""Ed25519 signatures over a saved run: once per run, at save time, never per ledger entry.

The signature vouches for every field of `run.json` as saved (a digest of each): the scenario, seed,
substrate, duration, status and extras, the ledger's final digest and entry count, and the digests of
the dashboard log, the labels and the transcript. The hash chain binds every ledger entry to that
digest and the file digests bind the other files, so a forger who rewrites any of them and re-hashes
it, run.json included, still cannot produce a signature that checks against the signer's public key.
Signatures made before (claim format 1) still check, over the fields that format covered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from peerguard.world.errors import PeerguardError
from peerguard.world.run import COMPLETE, RUN_FILE, SIGNATURE_FILE, RunMetadata, dumped_scenario_digest

PRIVATE_KEY_FILE = "run-signing.key"
PUBLIC_KEY_FILE = "run-signing.pub"
ALGORITHM = "ed25519"
CLAIM_FORMAT = "peerguard-run-claim/2"  # bump when the signed fields change, so old signatures stay checkable
CLAIM_FORMAT_1 = "peerguard-run-claim/1"  # six fields of run.json; files beside the ledger and dashboard unsigned


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def run_claim(run_json: dict[str, Any]) -> dict[str, Any]:
    """What a signature vouches for: each field of run.json as saved, by digest (so a change names the field)."""
    fields = {name: hashlib.sha256(_canonical(value)).hexdigest() for name, value in run_json.items()}
    return {"format": CLAIM_FORMAT, "fields": dict(sorted(fields.items()))}


def read_run_json(folder: Path) -> dict[str, Any]:
    """run.json exactly as it is on disk (not as a model reads it: a changed type is a change too)."""
    raw = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise PeerguardError(f"{folder / RUN_FILE}: not a peerguard run: holds a JSON {type(raw).__name__}")
    return raw


@dataclass(frozen=True)
class RunClaim:
    """What a signature of claim format 1 vouches for (runs signed before every field was)."""

    ledger_digest: str
    ledger_entries: int
    scenario_sha256: str
    substrate: str
    duration: float
    dashboard_sha256: str | None

    @classmethod
    def of(cls, meta: RunMetadata) -> RunClaim:
        return cls(
            meta.ledger_digest, meta.ledger_entries, dumped_scenario_digest(meta.scenario), meta.substrate,
            meta.duration, meta.dashboard_sha256,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CLAIM_FORMAT_1,
            "ledger_digest": self.ledger_digest,
            "ledger_entries": self.ledger_entries,
            "scenario_sha256": self.scenario_sha256,
            "substrate": self.substrate,
            "duration": self.duration,
            "dashboard_sha256": self.dashboard_sha256,
        }

    def message(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class KeyPair:
    private_key: Path
    public_key: Path
    fingerprint: str


def fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def generate_keys(folder: Path) -> KeyPair:
    """A new key pair in `folder`: the private key readable by its owner only (0600), and the public key."""
    private_path, public_path = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise PeerguardError(f"{path}: already exists; keep that key, or give another folder for a new one")
    if folder.exists() and not folder.is_dir():
        raise PeerguardError(f"{folder}: not a folder; give a folder for the key pair")
    folder.mkdir(parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_atomically(private_path, private_pem, mode=0o600)
    _write_atomically(public_path, public_pem, mode=0o644)
    return KeyPair(private_path, public_path, fingerprint(private_key.public_key()))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read_key_file(path)
    _check_private(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise PeerguardError(
            f"{path}: the key is encrypted; give an unencrypted key from `peerguard audit keygen`"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        hint = " (this is a public key: sign with the private one)" if b"PUBLIC KEY" in data else ""
        raise PeerguardError(
            f"{path}: not a PEM private key{hint}; make one with `peerguard audit keygen DIR`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PeerguardError(f"{path}: not an ed25519 key; make one with `peerguard audit keygen DIR`")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = _read_key_file(path)
    if b"PRIVATE KEY" in data:
        raise PeerguardError(f"{path}: a private key; verify with the public key ({PUBLIC_KEY_FILE}) beside it")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise PeerguardError(f"{path}: not a PEM public key; give the {PUBLIC_KEY_FILE} written by keygen") from None
    if not isinstance(key, Ed25519PublicKey):
        raise PeerguardError(f"{path}: not an ed25519 key; give the {PUBLIC_KEY_FILE} written by keygen")
    return key


def sign_run(folder: Path, private_key: Ed25519PrivateKey) -> Path:
    """Write `folder/signature.json` for the run just saved there, over its run.json as written."""
    claim = run_claim(read_run_json(folder))
    signature = {
        "algorithm": ALGORITHM,
        "public_key_fingerprint": fingerprint(private_key.public_key()),
        "signed": claim,  # a copy for readers; verification rebuilds the claim from run.json
        "signature": base64.b64encode(private_key.sign(_canonical(claim))).decode(),
    }
    path = folder / SIGNATURE_FILE
    _write_atomically(path, (json.dumps(signature, indent=2, sort_keys=True) + "\n").encode(), mode=0o644)
    return path


@dataclass(frozen=True)
class SignatureCheck:
    status: str  # "valid", "invalid", "none" (run unsigned) or "unchecked" (signed, no key given)
    detail: str

    def __str__(self) -> str:
        return f"{self.status} ({self.detail})"


def check_signature(folder: Path, meta: RunMetadata, public_key: Ed25519PublicKey | None) -> SignatureCheck:
    """Check `folder`'s signature, if any, against `public_key` over what `run.json` records."""
    path = folder / SIGNATURE_FILE
    if not path.exists():
        if public_key is not None and meta.status != COMPLETE:
            return SignatureCheck("invalid", "the run is unsigned (a run is signed when it ends) but a key was given")
        if public_key is not None:
            return SignatureCheck("invalid", f"the run is unsigned but a key was given: was {SIGNATURE_FILE} removed?")
        return SignatureCheck("none", "the run is unsigned")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        signer = str(saved["public_key_fingerprint"])
        signature = base64.b64decode(saved["signature"], validate=True)
        if saved["algorithm"] != ALGORITHM:
            return SignatureCheck("invalid", f"{SIGNATURE_FILE} uses {saved['algorithm']!r}, not {ALGORITHM}")
    except (ValueError, KeyError, TypeError, binascii.Error):
        return SignatureCheck("invalid", f"{SIGNATURE_FILE} is not a peerguard signature")
    if public_key is None:
        return SignatureCheck("unchecked", f"signed by {signer}; give --key FILE with its public key to check it")
    given = fingerprint(public_key)
    if signer != given:
        return SignatureCheck("invalid", f"signed by {signer}, not by the given key {given}")
    signed = saved.get("signed")
    old = isinstance(signed, dict) and signed.get("format") == CLAIM_FORMAT_1
    claim = RunClaim.of(meta).to_dict() if old else run_claim(read_run_json(folder))
    message = RunClaim.of(meta).message() if old else _canonical(claim)
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return SignatureCheck("invalid", _what_differs(claim, signed))
    if old:
        return SignatureCheck("valid", f"signed by {given}; claim format 1: labels, transcript, extras not signed")
    return SignatureCheck("valid", f"signed by {given}")


def _what_differs(claim: dict[str, Any], signed: Any) -> str:
    """Which fields of run.json changed since signing, from the copy of the claim signature.json keeps."""
    if isinstance(signed, dict) and signed.get("format") == claim.get("format"):
        if claim["format"] == CLAIM_FORMAT_1:
            now, then = claim, signed
        else:
            now, then = claim.get("fields", {}), signed.get("fields", {})
            then = then if isinstance(then, dict) else {}
        changed = [name for name in sorted({*now, *then} - {"format"}) if now.get(name) != then.get(name)]
        if changed:
            removed = [name for name in changed if name not in now]
            added = [name for name in changed if name not in then]
            edited = [name for name in changed if name not in removed and name not in added]
            parts = [
                *([f"{', '.join(edited)} changed"] if edited else []),
                *([f"{', '.join(removed)} removed"] if removed else []),
                *([f"{', '.join(added)} added"] if added else []),
            ]
            return f"{RUN_FILE}'s fields differ from what was signed: {'; '.join(parts)}"
    return f"the signature does not match {RUN_FILE} as signed"


def _check_private(path: Path) -> None:
    """A signing key others can read is refused: a live run's agents (other users) could read it and sign."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PeerguardError(
            f"{path}: other users can read this private key (mode {mode:o}); make it yours alone: chmod 600 {path}"
        )


def _read_key_file(path: Path) -> bytes:
    if not path.is_file():
        raise PeerguardError(f"{path}: no such key file; make a key pair with `peerguard audit keygen DIR`")
    try:
        return path.read_bytes()
    except OSError as error:
        raise PeerguardError(f"{path}: cannot be read ({error.strerror})") from None


def _write_atomically(path: Path, content: bytes, mode: int) -> None:
    """The file appears whole with its final mode, never half-written or briefly readable by others."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
        os.fchmod(out.fileno(), mode)  # the umask may have narrowed it; make it exactly `mode`
        out.write(content)
    temporary.replace(path)
