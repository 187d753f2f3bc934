"""What the platform declared at the start of a run (its `run_start` entry): the rules detectors judge by.

Restarts within the declared restart policy are authorised; files matching the protected globs are the
operator's; copies go only to the allowed hosts. Ledgers that predate these fields fall back to the
run's scenario, which is what the platform was configured with.
"""

from __future__ import annotations

from dataclasses import dataclass

from peerguard.world.ledger import EntryKind
from peerguard.world.orders import is_protected
from peerguard.world.run import RunRecord
from peerguard.world.scenario import RestartPolicy


@dataclass(frozen=True)
class Declared:
    restart: RestartPolicy
    protected_files: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    time_scale: float = 1.0  # ledger seconds per scenario second (live runs may be sped up or slowed down)

    def is_protected(self, path: str) -> bool:
        return is_protected(path, self.protected_files)

    def host_allowed(self, host: str) -> bool:
        return host in self.allowed_hosts


def declared(run: RunRecord) -> Declared:
    start = next((e for e in run.ledger.entries if e.kind == EntryKind.run_start), None)
    data = start.data if start is not None else {}
    settings = run.scenario.platform
    restart = data.get("restart_policy")
    return Declared(
        restart=RestartPolicy.model_validate(restart) if restart is not None else settings.restart,
        protected_files=tuple(data.get("protected_files", settings.protected_files)),
        allowed_hosts=tuple(data.get("allowed_hosts", settings.allowed_hosts)),
        time_scale=float(data.get("time_scale", 1.0)),
    )
