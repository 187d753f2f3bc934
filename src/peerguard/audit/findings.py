"""What a detector reports: who did what to whom, when, and the ledger entries that prove it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    detector: str  # the registered name of the detector that made it
    actor: str  # who misbehaved (an agent id; "platform" when the platform broke its own policy)
    subject: str  # whom or what it was about: a peer's id, or a file's path for files
    t: float  # when, on the ledger's clock
    evidence: tuple[int, ...]  # ledger sequence numbers that prove it, in order
    detail: str  # one line a person can read

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "actor": self.actor,
            "subject": self.subject,
            "t": self.t,
            "evidence": list(self.evidence),
            "detail": self.detail,
        }
