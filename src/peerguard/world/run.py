"""What a run leaves behind, on either substrate: the ledger, the dashboard log and its setting.

A saved run is a folder of files (`run.json`, `ledger.jsonl`, `dashboard.jsonl`) that `RunRecord.load`
turns back into the run, so any tool can replay or audit it without the process that made it.

`run.json` is written when a saved run starts (`begin_save`: what is known then, status `running`) and
replaced atomically when it ends (status `complete`, with the digests of every file beside it), so a run
killed on the way still says what it was; one stopped by a signal it caught says so (`interrupted`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from peerguard.world.agents import Agent, Status
from peerguard.world.dashboard import Dashboard
from peerguard.world.errors import PeerguardError
from peerguard.world.files import write_atomic
from peerguard.world.labels import Label
from peerguard.world.ledger import Ledger
from peerguard.world.scenario import Scenario

RUN_FILE = "run.json"
LEDGER_FILE = "ledger.jsonl"
DASHBOARD_FILE = "dashboard.jsonl"
LABELS_FILE = "labels.jsonl"  # the substrate's ground truth of misbehaviour, when it kept one; detectors never read it
TRANSCRIPT_FILE = "transcript.jsonl"  # what language-model agents said; never scored, the ledger is
SIGNATURE_FILE = "signature.json"  # written beside the others when a run is signed (see peerguard.audit.signing)
SAVE_HINT = "save a run with: peerguard run SCENARIO --save FOLDER"
RUN_FILES = (LEDGER_FILE, DASHBOARD_FILE, LABELS_FILE, TRANSCRIPT_FILE, SIGNATURE_FILE)  # beside run.json
# run.json's status: the run is under way, or was killed before it ended (`running`); a signal stopped it
# and the ledger is as it left it (`interrupted`); it ended and every file is saved (`complete`).
RUNNING, INTERRUPTED, COMPLETE = "running", "interrupted", "complete"
STATUSES = (RUNNING, INTERRUPTED, COMPLETE)


def scenario_digest(scenario: Scenario) -> str:
    return dumped_scenario_digest(scenario.model_dump(mode="json"))


def dumped_scenario_digest(dumped: dict[str, Any]) -> str:
    """The digest of a scenario as `run.json` holds it, whether or not today's schema still accepts it."""
    canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def optional_file_digest(path: Path) -> str | None:
    """The file's digest, or None when the run left no such file."""
    return file_digest(path) if path.is_file() else None


class RunMetadata(BaseModel):
    """`run.json`: the run's setting and what its files were when saved. The scenario stays raw JSON here.

    Only what says which run it is (scenario, substrate, seed) is required to read it; which digests a
    run must have depends on its status, and `peerguard.audit.verify` names any that is missing.
    """

    model_config = ConfigDict(extra="allow", strict=True)  # "1" for 1 is an edit, never read as the same

    scenario: dict[str, Any]
    substrate: str
    seed: int
    status: str = COMPLETE  # runs saved before run.json had a status were saved when they ended
    duration: float | None = None  # the run's length on the ledger's clock; unknown until it ends
    ledger_entries: int | None = None
    ledger_digest: str | None = None
    dashboard_sha256: str | None = None
    labels_sha256: str | None = None  # None with the field present: the run kept no labels (no file)
    transcript_sha256: str | None = None  # the same for the transcript
    interrupted_by: int | None = None  # the signal that stopped an interrupted run
    extras: dict[str, Any] = {}

    @classmethod
    def read(cls, folder: Path) -> RunMetadata:
        """`folder/run.json`, or a PeerguardError naming the folder or file and what is wrong with it."""
        if not folder.exists():
            raise PeerguardError(f"{folder}: no such folder; give the folder a run was saved to ({SAVE_HINT})")
        if not folder.is_dir():
            raise PeerguardError(f"{folder}: not a folder; give the folder a run was saved to ({SAVE_HINT})")
        path = folder / RUN_FILE
        raw = _read_json(path, what="the run's metadata")
        if not isinstance(raw, dict):
            raise PeerguardError(f"{path}: not a peerguard run: holds a JSON {type(raw).__name__}, not an object")
        missing = [name for name, info in cls.model_fields.items() if info.is_required() and name not in raw]
        if missing:
            raise PeerguardError(f"{path}: not a peerguard run: missing {', '.join(missing)} ({SAVE_HINT})")
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise PeerguardError(f"{path}: not a peerguard run: {_first_problem(error)}") from None

    def present(self, name: str) -> bool:
        """Whether run.json holds the field at all (a digest of None still says "no such file")."""
        return name in self.model_fields_set or name in (self.model_extra or {})


def begin_save(folder: Path, scenario: Scenario, substrate: str) -> None:
    """Start a saved run: files of an earlier run in `folder` go, and run.json says what is known now."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:  # an earlier run's ledger or signature must never pass for this run's
        (folder / name).unlink(missing_ok=True)
    meta = {
        "status": RUNNING,
        "scenario": scenario.model_dump(mode="json"),
        "substrate": substrate,
        "seed": scenario.seed,
        "extras": {},
    }
    write_atomic(folder / RUN_FILE, json.dumps(meta, indent=2, sort_keys=True))


def mark_interrupted(folder: Path, signal_number: int) -> None:
    """A saved run a signal stopped: run.json records it, and the ledger as the run left it (count, digest)."""
    path = folder / RUN_FILE
    meta = _read_json(path, what="the run's metadata")
    ledger_path = folder / LEDGER_FILE
    ledger = Ledger.read_jsonl(ledger_path) if ledger_path.is_file() else Ledger()
    meta.update(
        status=INTERRUPTED, interrupted_by=signal_number, ledger_entries=len(ledger), ledger_digest=ledger.digest
    )
    write_atomic(path, json.dumps(meta, indent=2, sort_keys=True))


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
    transcript: list[dict[str, Any]] = field(default_factory=list)  # what language-model agents said, per message

    @property
    def seed(self) -> int:
        return self.scenario.seed

    def save(self, folder: Path, ledger_written: bool = False) -> RunMetadata:
        """Ledger, dashboard log and metadata as files another tool can replay; returns what run.json holds.
        `ledger_written`: the folder's ledger file already holds this run's ledger, streamed as it was made.

        run.json comes last and whole, with the digest of every file beside it: until it is written, the
        folder holds a run that has not ended."""
        folder.mkdir(parents=True, exist_ok=True)
        # A signature left by an earlier run in this folder would vouch for files it never saw.
        (folder / SIGNATURE_FILE).unlink(missing_ok=True)
        if not ledger_written:
            self.ledger.write_jsonl(folder / LEDGER_FILE)
        self.dashboard.write_jsonl(folder / DASHBOARD_FILE)
        (folder / LABELS_FILE).unlink(missing_ok=True)
        if self.labels:
            lines = "".join(json.dumps(label.to_dict(), sort_keys=True) + "\n" for label in self.labels)
            write_atomic(folder / LABELS_FILE, lines)
        (folder / TRANSCRIPT_FILE).unlink(missing_ok=True)
        if self.transcript:
            lines = "".join(json.dumps(line, sort_keys=True) + "\n" for line in self.transcript)
            write_atomic(folder / TRANSCRIPT_FILE, lines)
        meta = {
            "status": COMPLETE,
            "scenario": self.scenario.model_dump(mode="json"),
            "substrate": self.substrate,
            "seed": self.seed,
            "duration": self.duration,
            "ledger_entries": len(self.ledger),
            "ledger_digest": self.ledger.digest,
            "dashboard_sha256": file_digest(folder / DASHBOARD_FILE),
            "labels_sha256": optional_file_digest(folder / LABELS_FILE),
            "transcript_sha256": optional_file_digest(folder / TRANSCRIPT_FILE),
            "extras": self.extras,
        }
        write_atomic(folder / RUN_FILE, json.dumps(meta, indent=2, sort_keys=True))
        return RunMetadata.model_validate(meta)

    @classmethod
    def load(cls, folder: Path) -> RunRecord:
        """The run saved in `folder`, rebuilt from its files. It is not verified: `peerguard.audit.verify` does that."""
        meta = RunMetadata.read(folder)
        try:
            scenario = Scenario.model_validate(meta.scenario)
        except ValidationError as error:
            raise PeerguardError(
                f"{folder / RUN_FILE}: its scenario is not a valid scenario: {_first_problem(error, 'scenario')}"
            ) from None
        ledger_path = _existing(folder / LEDGER_FILE, "the run's ledger")
        try:
            ledger = Ledger.read_jsonl(ledger_path)
        except OSError as error:
            raise PeerguardError(f"{ledger_path}: cannot be read ({error.strerror})") from None
        ended = meta.status == COMPLETE
        if ended or (folder / DASHBOARD_FILE).is_file():
            dashboard = _read_dashboard(_existing(folder / DASHBOARD_FILE, "the run's dashboard log"))
        else:
            dashboard = Dashboard()  # an interrupted run saved only its ledger, as it went
        agents = scenario.build_agents()
        labels = _read_labels(folder / LABELS_FILE)
        transcript = _read_transcript(folder / TRANSCRIPT_FILE)
        duration = meta.duration
        if duration is None:
            if ended:
                raise PeerguardError(f"{folder / RUN_FILE}: not a peerguard run: missing duration ({SAVE_HINT})")
            duration = max((entry.t for entry in ledger.entries if entry.kind != "malformed"), default=0.0) or 1e-9
        return cls(scenario, meta.substrate, agents, ledger, dashboard, duration, meta.extras, labels, transcript)


def _read_labels(path: Path) -> list[Label]:
    if not path.is_file():
        return []
    labels = []
    for number, line in enumerate(_read_text(path, "the run's ground-truth labels").splitlines(), start=1):
        try:
            raw = json.loads(line)
            labels.append(Label(str(raw["kind"]), str(raw["actor"]), str(raw["subject"]), float(raw["t"])))
        except (ValueError, KeyError, TypeError):
            raise PeerguardError(f"{path}: line {number} is not a label; restore the file from the saved run") from None
    return labels


def _read_transcript(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    lines = []
    for number, line in enumerate(_read_text(path, "the run's transcript").splitlines(), start=1):
        try:
            lines.append(dict(json.loads(line)))
        except (ValueError, TypeError):
            raise PeerguardError(f"{path}: line {number} is not a transcript line; restore it from the run") from None
    return lines


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise PeerguardError(f"{path}: missing ({what}); {path.parent} is not a complete saved run ({SAVE_HINT})")
    return path


def _read_text(path: Path, what: str) -> str:
    _existing(path, what)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PeerguardError(f"{path}: not text ({what} is UTF-8 JSON); restore it from the saved run") from None
    except OSError as error:
        raise PeerguardError(f"{path}: cannot be read ({error.strerror})") from None


def _read_json(path: Path, what: str) -> Any:
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PeerguardError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "restore it from the saved run"
        ) from None


def _read_dashboard(path: Path) -> Dashboard:
    """Replay the dashboard log through `Dashboard.update`, so what it shows is rebuilt too."""
    dashboard = Dashboard()
    for number, line in enumerate(_read_text(path, "the run's dashboard log").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            dashboard.update(float(raw["t"]), str(raw["agent"]), Status(raw["status"]), str(raw["source"]))
        except (ValueError, KeyError, TypeError):
            raise PeerguardError(
                f"{path}: line {number} is not a dashboard record (needs t, agent, status, source); "
                "restore the file from the saved run"
            ) from None
    return dashboard


def _first_problem(error: ValidationError, prefix: str = "") -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in (prefix, *problem["loc"]) if part != "")
    more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
    return f"{where or 'the file'}: {problem['msg']}{more}"
