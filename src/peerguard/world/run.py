"""What a run leaves behind, on either substrate: the ledger, the dashboard log and its setting."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peerguard.world.agents import Agent
from peerguard.world.dashboard import Dashboard
from peerguard.world.labels import Label
from peerguard.world.ledger import Ledger
from peerguard.world.scenario import Scenario


def scenario_digest(scenario: Scenario) -> str:
    canonical = json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class RunRecord:
    scenario: Scenario
    substrate: str
    agents: list[Agent]
    ledger: Ledger
    dashboard: Dashboard
    duration: float
    extras: dict[str, Any] = field(default_factory=dict)  # substrate-specific facts (PIDs, URLs)
    labels: list[Label] = field(default_factory=list)  # ground truth of misbehaviour, for scoring detectors

    @property
    def seed(self) -> int:
        return self.scenario.seed

    def save(self, folder: Path) -> None:
        """Ledger, dashboard log and metadata as files another tool can replay."""
        folder.mkdir(parents=True, exist_ok=True)
        self.ledger.write_jsonl(folder / "ledger.jsonl")
        self.dashboard.write_jsonl(folder / "dashboard.jsonl")
        meta = {
            "scenario": self.scenario.model_dump(mode="json"),
            "substrate": self.substrate,
            "seed": self.seed,
            "duration": self.duration,
            "ledger_entries": len(self.ledger),
            "ledger_digest": self.ledger.digest,
            "extras": self.extras,
        }
        temporary = folder / "run.json.tmp"
        temporary.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        temporary.replace(folder / "run.json")
