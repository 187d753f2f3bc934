"""Where a dashboard's run comes from: a saved run folder, a live run in this process, or a finished run
played back at a pace. Each gives the ledger and the dashboard log as far as they go now."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from peerguard.killswitch import KILLSWITCHES
from peerguard.killswitch.targets import Target
from peerguard.live.platform import LivePlatform
from peerguard.world.agents import Agent, Status
from peerguard.world.dashboard import Dashboard, DashboardRecord
from peerguard.world.errors import PeerguardError
from peerguard.world.ledger import Ledger, LedgerEntry
from peerguard.world.run import COMPLETE, DASHBOARD_FILE, LEDGER_FILE, RUNNING, RunMetadata, RunRecord
from peerguard.world.scenario import Scenario

START_STOP_TIMEOUT_S = 10.0  # how long a stop request waits for the run's loop to take it


@dataclass
class Snapshot:
    """The run as far as it has gone: entries and records are the lists as they are now (never changed after)."""

    entries: list[LedgerEntry]
    records: list[DashboardRecord]
    done: bool  # nothing more will come
    now: float  # how far the run's clock has gone (seconds)


class RunSource:
    """One run the dashboard shows."""

    name: str
    scenario: Scenario
    substrate: str
    agents: list[Agent]
    folder: Path | None = None
    live: bool = False  # a run in progress (its clock moves); False: a replay of a finished run
    extras: dict[str, Any]
    public_key: Ed25519PublicKey | None = None  # the signer's key, to check a saved run's signature (as --key does)
    replayed_from: str | None = None  # a stored study episode run again: where it was stored (its digest held)

    def snapshot(self) -> Snapshot:
        raise NotImplementedError

    def status(self) -> str:
        return "complete"

    def can_stop(self) -> str:
        """Empty when a kill switch can be started on this run now, else why not."""
        return "kill switches act on live runs in progress; this run is a replay"

    def start_stop(self, protocol: str, args: dict[str, Any], target: Target) -> str:
        return self.can_stop()

    def record(self, snap: Snapshot) -> RunRecord:
        """A RunRecord of the run as far as `snap` goes, for peerguard's own audit code."""
        duration = max(snap.now, max((e.t for e in snap.entries if e.kind != "malformed"), default=0.0), 1e-9)
        return RunRecord(
            self.scenario, self.substrate, self.agents, Ledger(list(snap.entries)), Dashboard(list(snap.records)),
            duration, self.extras,
        )  # fmt: skip


class SavedRun(RunSource):
    """A run saved with `--save`: read once, replayed on the page."""

    def __init__(self, folder: Path, name: str | None = None) -> None:
        self.folder = folder
        self.meta = RunMetadata.read(folder)
        self.run = RunRecord.load(folder)
        self.name = name or folder.name
        self.scenario, self.substrate, self.agents = self.run.scenario, self.run.substrate, self.run.agents
        self.extras = self.run.extras

    def snapshot(self) -> Snapshot:
        return Snapshot(self.run.ledger.entries, self.run.dashboard.log, True, self.run.duration)

    def status(self) -> str:
        return self.meta.status

    def record(self, snap: Snapshot) -> RunRecord:
        return self.run


class StoredRun(RunSource):
    """A stored study episode run again from its parameters, its ledger equal to the stored digest: replayed."""

    def __init__(self, run: RunRecord, name: str, replayed_from: str) -> None:
        self.run, self.name, self.replayed_from = run, name, replayed_from
        self.scenario, self.substrate, self.agents = run.scenario, run.substrate, run.agents
        self.extras = run.extras

    def snapshot(self) -> Snapshot:
        return Snapshot(self.run.ledger.entries, self.run.dashboard.log, True, self.run.duration)

    def record(self, snap: Snapshot) -> RunRecord:
        return self.run


class FolderRun(RunSource):
    """A saved run still going in another process (`run.json` says `running`): its ledger and dashboard log, which a
    live run streams into the folder, are read as they grow (a run that writes its dashboard log only at its end
    has it replayed from the start then)."""

    live = True

    def __init__(self, folder: Path, name: str | None = None) -> None:
        self.folder, self.name = folder, name or folder.name
        meta = RunMetadata.read(folder)
        self.scenario = Scenario.model_validate(meta.scenario)
        self.substrate, self.extras = meta.substrate, meta.extras
        self.agents = self.scenario.build_agents()
        self.entries: list[LedgerEntry] = []
        self.records: list[DashboardRecord] = []
        self.offsets = {LEDGER_FILE: 0, DASHBOARD_FILE: 0}
        self.state = meta.status

    def snapshot(self) -> Snapshot:
        running = self.state == RUNNING
        if running:
            self.state = RunMetadata.read(self.folder).status  # before the ledger: nothing it adds after is missed
        # the ledger first: the dashboard log, read after, holds every record stamped before the ledger's last entry
        self.entries += filter(None, map(_entry, self._new_lines(LEDGER_FILE)))
        self.records += filter(None, map(_record, self._new_lines(DASHBOARD_FILE)))
        now = max((e.t for e in self.entries), default=0.0)
        return Snapshot(self.entries[:], self.records[:], self.state != RUNNING, now)

    def _new_lines(self, name: str) -> list[str]:
        """The file's complete new lines since the last read (a line still being written waits). The run's end
        rewrites its dashboard log whole, with the same lines: the offset still holds."""
        try:
            with (self.folder / name).open("rb") as log:
                log.seek(self.offsets[name])
                chunk = log.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.offsets[name] += end
        return chunk[:end].decode("utf-8", errors="replace").split("\n")[:-1]

    def status(self) -> str:
        return self.state

    def can_stop(self) -> str:
        return "this run belongs to another process: stop it where it was started (peerguard run ... --dashboard)"


def _entry(line: str) -> LedgerEntry | None:
    """An entry to show; a line that is none is left out here (the header's verification names it)."""
    try:
        raw = json.loads(line)
        return LedgerEntry(**{name: raw[name] for name in LedgerEntry.__dataclass_fields__})
    except (ValueError, KeyError, TypeError):
        return None


def _record(line: str) -> DashboardRecord | None:
    """A dashboard record to show; a line that is none is left out (`audit verify` checks the saved file)."""
    try:
        raw = json.loads(line)
        return DashboardRecord(float(raw["t"]), str(raw["agent"]), Status(raw["status"]), str(raw["source"]))
    except (ValueError, KeyError, TypeError):
        return None


class PacedRun(RunSource):
    """A finished run shown as if it were running: what happened up to `pace` seconds of the run's clock per real
    second since the page's server started it (the simulator's runs are computed first; they are deterministic)."""

    live = True

    def __init__(self, run: RunRecord, name: str, pace: float, folder: Path | None = None, clock: Callable[[], float]
                 = time.monotonic) -> None:  # fmt: skip
        self.run, self.name, self.pace, self.folder, self.clock = run, name, pace, folder, clock
        self.scenario, self.substrate, self.agents, self.extras = run.scenario, run.substrate, run.agents, run.extras
        self.started = clock()

    def now(self) -> float:
        if math.isinf(self.pace):
            return self.run.duration
        return min((self.clock() - self.started) * self.pace, self.run.duration)

    def snapshot(self) -> Snapshot:
        now = self.now()
        entries = _until(self.run.ledger.entries, now)
        records = _until(self.run.dashboard.log, now)
        return Snapshot(entries, records, now >= self.run.duration, now)

    def status(self) -> str:
        return "playing" if self.now() < self.run.duration else COMPLETE

    def can_stop(self) -> str:
        return "this run was computed on the simulator before it was shown; stop it with an operator order instead"


def _until(items: list[Any], t: float) -> list[Any]:
    low, high = 0, len(items)
    while low < high:
        middle = (low + high) // 2
        if items[middle].t <= t:
            low = middle + 1
        else:
            high = middle
    return items[:low]


@dataclass
class LiveRun(RunSource):
    """A live run in this process: the platform hands itself over as it begins (`attach`, on the run's loop), the
    page reads its ledger and dashboard log as they grow, and a stop goes to the platform's own loop."""

    scenario: Scenario
    name: str
    folder: Path | None = None
    substrate: str = "live"
    live: bool = True
    extras: dict[str, Any] = field(default_factory=dict)
    platform: LivePlatform | None = None
    loop: asyncio.AbstractEventLoop | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    final: RunRecord | None = None

    def __post_init__(self) -> None:
        self.agents = self.scenario.build_agents()

    def attach(self, platform: LivePlatform) -> None:
        self.platform, self.loop = platform, asyncio.get_running_loop()

    def finish(self, record: RunRecord | None) -> None:
        """The run is over (record None: it failed or was interrupted; the page keeps what it saw)."""
        self.final = record
        if record is not None:
            self.extras = record.extras
        self.finished.set()

    def snapshot(self) -> Snapshot:
        platform, done = self.platform, self.finished.is_set()
        if platform is None:
            return Snapshot([], [], done, 0.0)
        now = platform.now()  # before the copies: everything stamped earlier is in them (but for SETTLE_S)
        entries = platform.ledger.entries[:]  # appended on the run's loop; a copy of the list is a consistent prefix
        records = platform.dashboard.log[:]
        return Snapshot(entries, records, done, now)

    def status(self) -> str:
        if self.finished.is_set():
            return COMPLETE if self.final is not None else "ended"
        if self.platform is None or getattr(self.platform, "scenario_started", None) is None:
            return "starting"
        return "running"

    def can_stop(self) -> str:
        if self.finished.is_set():
            return "the run is over"
        if self.platform is None or self.loop is None:
            return "the run's platform has not started yet"
        return ""

    def start_stop(self, protocol: str, args: dict[str, Any], target: Target) -> str:
        """Start `protocol` on `target` on the run's loop; "" when it started, else why not."""
        if problem := self.can_stop():
            return problem
        switch = KILLSWITCHES.build(protocol, args)
        platform, loop = self.platform, self.loop
        assert platform is not None and loop is not None  # can_stop said so
        answer = asyncio.run_coroutine_threadsafe(_on_loop(platform, switch, target), loop)
        try:
            return answer.result(timeout=START_STOP_TIMEOUT_S)
        except TimeoutError:
            return f"the run's loop did not take the stop within {START_STOP_TIMEOUT_S:g} s"


async def _on_loop(platform: LivePlatform, switch: Any, target: Target) -> str:
    return platform.start_stop(switch, target.chooser())


def check_protocol(protocol: str, args: dict[str, Any]) -> str:
    """Empty when `protocol` with `args` is a registered kill switch, else the problem in one line."""
    try:
        KILLSWITCHES.build(protocol, args)
    except PeerguardError as error:
        return str(error)
    return ""
