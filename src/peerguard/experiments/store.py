"""The results store: one SQLite row per episode, keyed so a resumed sweep neither loses nor repeats one."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from peerguard.world.errors import PeerguardError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    study TEXT NOT NULL,
    scenario TEXT NOT NULL,
    scenario_sha256 TEXT NOT NULL,
    substrate TEXT NOT NULL,
    policy TEXT NOT NULL,
    policy_args TEXT NOT NULL,
    seed INTEGER NOT NULL,
    agents INTEGER NOT NULL,
    duration REAL NOT NULL,
    ledger_digest TEXT NOT NULL,
    ledger_entries INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (study, scenario_sha256, substrate, policy, policy_args, seed)
)
"""


def open_database(path: Path, *statements: str, **connect: Any) -> sqlite3.Connection:
    """A SQLite database with its tables made; a file that is no SQLite database (or cannot be opened) is the
    user's to fix, so it is a PeerguardError naming the file, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, **connect)
    except (OSError, sqlite3.Error) as error:
        problem = f"{path}: cannot open it as a SQLite database ({error}); give a file you can write"
        raise PeerguardError(problem) from None
    try:
        for statement in statements:
            db.execute(statement)
        db.commit()
    except sqlite3.DatabaseError as error:
        db.close()
        raise PeerguardError(
            f"{path}: not a SQLite database peerguard can use ({error}); give a new file name or a database it wrote"
        ) from None
    return db


class ResultStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_database(path, _SCHEMA)

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def metrics_of(
        self, study: str, scenario_sha256: str, substrate: str, policy: str, policy_args: str, seed: int
    ) -> dict[str, Any] | None:
        """The stored metrics of one episode, or None when it has not run."""
        row = self._db.execute(
            "SELECT metrics FROM episodes WHERE study=? AND scenario_sha256=? AND substrate=?"
            " AND policy=? AND policy_args=? AND seed=?",
            (study, scenario_sha256, substrate, policy, policy_args, seed),
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def add(self, study: str, scenario_sha256: str, summary: dict[str, Any]) -> None:
        """Store one episode; committed at once, so an interrupted sweep keeps every finished one."""
        policy = summary["policy"]
        self._db.execute(
            "INSERT OR REPLACE INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                study, summary["scenario"], scenario_sha256, summary["substrate"], policy["name"],
                json.dumps(policy["args"], sort_keys=True), summary["seed"], summary["agents"], summary["duration"],
                summary["ledger_digest"], summary["ledger_entries"], json.dumps(summary["metrics"], sort_keys=True),
            ),
        )  # fmt: skip
        self._db.commit()

    def episode(
        self, study: str, scenario_sha256: str, substrate: str, policy: str, policy_args: str, seed: int
    ) -> dict[str, Any] | None:
        """One stored episode by everything that defines it, or None when it has not run."""
        row = self._db.execute(
            f"SELECT {_EPISODE_COLUMNS} FROM episodes WHERE study=? AND scenario_sha256=? AND substrate=?"
            " AND policy=? AND policy_args=? AND seed=?",
            (study, scenario_sha256, substrate, policy, policy_args, seed),
        ).fetchone()
        return None if row is None else _episode_of(row)

    def episodes(self, study: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            f"SELECT {_EPISODE_COLUMNS} FROM episodes WHERE study=? ORDER BY policy, seed", (study,)
        ).fetchall()
        return [_episode_of(row) for row in rows]


_EPISODE_COLUMNS = (
    "scenario, substrate, policy, policy_args, seed, agents, duration, ledger_digest, ledger_entries, metrics"
)


def _episode_of(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = [name.strip() for name in _EPISODE_COLUMNS.split(",")][:-1]
    return {**dict(zip(keys, row[:-1], strict=True)), "metrics": json.loads(row[-1])}


# --- the study store --------------------------------------------------------------------------------

_STUDY_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS study_episodes (
        key TEXT PRIMARY KEY,          -- SHA-256 of everything that defines the episode
        section TEXT NOT NULL,         -- where it was first planned (another study may share the row)
        grid TEXT NOT NULL,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,          -- JSON: enough to run it again
        metrics TEXT NOT NULL,         -- JSON
        ledger_digest TEXT NOT NULL,
        ledger_entries INTEGER NOT NULL,
        wall_s REAL NOT NULL,
        version TEXT NOT NULL,         -- peerguard's version that ran it
        git_commit TEXT NOT NULL,      -- and its checkout's commit ('' when not a checkout)
        spec_sha256 TEXT NOT NULL,     -- the study spec that ran it
        finished_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS study_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        spec_sha256 TEXT NOT NULL,
        spec TEXT NOT NULL,            -- JSON of the validated spec, so the report can be rebuilt
        source TEXT NOT NULL,
        provenance TEXT NOT NULL,      -- JSON: version, commit, host, ...
        started_at TEXT NOT NULL,
        finished_at TEXT,
        wall_s REAL,
        episodes INTEGER,
        ran INTEGER
    )""",
)
STUDY_EPISODE_COLUMNS = (
    "key", "section", "grid", "kind", "params", "metrics", "ledger_digest", "ledger_entries", "wall_s", "version",
    "git_commit", "spec_sha256", "finished_at",
)  # fmt: skip


class StudyStore:
    """A study's episodes, one row each, written one transaction per episode: a study killed at any
    moment (SIGKILL included) keeps every episode it finished, whole, and none twice.

    WAL with `synchronous=NORMAL`: a committed transaction survives the process being killed (the kernel
    has it); only a power cut may lose the last few, which a rerun runs again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        pragmas = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
        self._db = open_database(path, *pragmas, *_STUDY_SCHEMA, isolation_level=None)  # explicit transactions below

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def stored_keys(self, keys: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), 500):  # SQLite caps the number of parameters in one query
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT key FROM study_episodes WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            found.update(row[0] for row in rows)
        return found

    def add_episode(self, row: dict[str, Any]) -> bool:
        """Store one finished episode in its own transaction; False when its key was already stored."""
        values = [
            json.dumps(row[name], sort_keys=True) if name in ("params", "metrics") else row[name]
            for name in STUDY_EPISODE_COLUMNS
        ]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self._db.execute(
                f"INSERT OR IGNORE INTO study_episodes VALUES ({','.join('?' * len(values))})", values
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return cursor.rowcount == 1

    def episodes_by_key(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT {', '.join(STUDY_EPISODE_COLUMNS)} FROM study_episodes"
                f" WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            for values in rows:
                row = dict(zip(STUDY_EPISODE_COLUMNS, values, strict=True))
                row["params"], row["metrics"] = json.loads(row["params"]), json.loads(row["metrics"])
                found[row["key"]] = row
        return found

    def find_episodes(self, key_prefix: str = "") -> list[dict[str, Any]]:
        """Stored episodes whose key starts with `key_prefix` (every one when empty), in the order they finished."""
        rows = self._db.execute(
            f"SELECT {', '.join(STUDY_EPISODE_COLUMNS)} FROM study_episodes WHERE substr(key, 1, ?) = ?"
            " ORDER BY finished_at, key",
            (len(key_prefix), key_prefix),
        ).fetchall()
        found = [dict(zip(STUDY_EPISODE_COLUMNS, values, strict=True)) for values in rows]
        for row in found:
            row["params"], row["metrics"] = json.loads(row["params"]), json.loads(row["metrics"])
        return found

    def begin_run(self, spec_sha256: str, spec: dict[str, Any], source: str, provenance: dict[str, Any],
                  started_at: str) -> int:  # fmt: skip
        cursor = self._db.execute(
            "INSERT INTO study_runs (spec_sha256, spec, source, provenance, started_at) VALUES (?,?,?,?,?)",
            (spec_sha256, json.dumps(spec, sort_keys=True), source, json.dumps(provenance, sort_keys=True), started_at),
        )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, finished_at: str, wall_s: float, episodes: int, ran: int) -> None:
        self._db.execute(
            "UPDATE study_runs SET finished_at=?, wall_s=?, episodes=?, ran=? WHERE id=?",
            (finished_at, wall_s, episodes, ran, run_id),
        )

    def last_run(self) -> dict[str, Any] | None:
        """The latest study that finished in this store (the one `peerguard report` rebuilds)."""
        row = self._db.execute(
            "SELECT id, spec_sha256, spec, source, provenance, started_at, finished_at, wall_s, episodes, ran"
            " FROM study_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        names = ("id", "spec_sha256", "spec", "source", "provenance", "started_at", "finished_at", "wall_s",
                 "episodes", "ran")  # fmt: skip
        run = dict(zip(names, row, strict=True))
        run["spec"], run["provenance"] = json.loads(run["spec"]), json.loads(run["provenance"])
        return run
