"""Ed25519 signatures over a saved run: once per run, at save time, never per ledger entry.

The signature vouches for what `run.json` records of the run: the ledger's final digest and entry
count, the scenario's digest, the substrate, the duration and the dashboard log's digest. The hash
chain binds every ledger entry to that digest, so a forger who rewrites the ledger and re-hashes it,
run.json included, still cannot produce a signature that checks against the signer's public key.
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
from peerguard.world.run import SIGNATURE_FILE, RunMetadata, dumped_scenario_digest

PRIVATE_KEY_FILE = "run-signing.key"
PUBLIC_KEY_FILE = "run-signing.pub"
ALGORITHM = "ed25519"
CLAIM_FORMAT = "peerguard-run-claim/1"  # bump when the signed fields change, so old signatures stay checkable


@dataclass(frozen=True)
class RunClaim:
    """What a signature vouches for."""

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
            "format": CLAIM_FORMAT,
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


def sign_run(folder: Path, meta: RunMetadata, private_key: Ed25519PrivateKey) -> Path:
    """Write `folder/signature.json` for the run just saved there (`meta` is what `RunRecord.save` wrote)."""
    claim = RunClaim.of(meta)
    signature = {
        "algorithm": ALGORITHM,
        "public_key_fingerprint": fingerprint(private_key.public_key()),
        "signed": claim.to_dict(),  # a copy for readers; verification rebuilds the claim from run.json
        "signature": base64.b64encode(private_key.sign(claim.message())).decode(),
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
    claim = RunClaim.of(meta)
    try:
        public_key.verify(signature, claim.message())
    except InvalidSignature:
        return SignatureCheck("invalid", _what_differs(claim, saved.get("signed")))
    return SignatureCheck("valid", f"signed by {given}")


def _what_differs(claim: RunClaim, signed: Any) -> str:
    if isinstance(signed, dict):
        changed = [name for name, value in claim.to_dict().items() if signed.get(name) != value]
        if changed:
            return f"run.json's {', '.join(changed)} differ from what was signed"
    return "the signature does not match run.json's digest, entry count and scenario"


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
