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
