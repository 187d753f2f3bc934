"""A stored study episode made again: the store keeps each episode's parameters and ledger digest, not its
ledger; the simulator is deterministic, so re-running a simulator episode gives its ledger back, and the
digest proves it is the same (a different digest means another peerguard or an altered store: refused)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peerguard.experiments.episodes import records_of, replayable
from peerguard.experiments.provenance import git_commit, peerguard_version
from peerguard.experiments.store import StudyStore
from peerguard.experiments.study import STORE_NAME
from peerguard.policies.llm.model import MOCK_PREFIX
from peerguard.world.errors import PeerguardError
from peerguard.world.run import RunRecord

SHORT_KEY = 12  # an episode's id as listed: the first characters of its key, as git shortens a commit


@dataclass
class ReplayedEpisode:
    """A stored episode and its runs made again, each equal to its stored digest."""

    row: dict[str, Any]
    records: list[RunRecord]

    @property
    def id(self) -> str:
        return str(self.row["key"])[:SHORT_KEY]


def store_path(given: Path) -> Path:
    """The store file: given, or the study's results file inside a study's --out folder."""
    path = given / STORE_NAME if given.is_dir() else given
    if not path.is_file():
        raise PeerguardError(f"--store {given}: no study store there; give a study's --out folder or its {STORE_NAME}")
    return path


def list_episodes(store: Path) -> list[dict[str, Any]]:
    """Every stored episode, with whether it can be replayed (and why not)."""
    with StudyStore(store_path(store)) as opened:
        rows = opened.find_episodes()
    return [{**row, "id": row["key"][:SHORT_KEY], "replay": why_not(row)} for row in rows]


def substrate_of(row: dict[str, Any]) -> str:
    params = row["params"]
    return str(params.get("substrate", "sim"))  # detect episodes run on the simulator and name none


def why_not(row: dict[str, Any]) -> str:
    """Empty when the episode can be made again here, else why not (in one line)."""
    kind, params = row["kind"], row["params"]
    if substrate_of(row) == "live":
        return (
            "a live episode cannot be re-run to the same ledger (real processes, real timing); only its digest and "
            "metrics were stored: save live runs with `peerguard run ... --save DIR` to replay them"
        )
    if not replayable(kind):
        return f"{kind} episodes are not replayed here (only run, detect, stop and family episodes are)"
    policy_args = params.get("policy_args")
    model = params.get("model") or (policy_args.get("model") if isinstance(policy_args, dict) else None)
    if model and not str(model).startswith(MOCK_PREFIX):
        return f"its policy asked model {model!r}, whose answers are not reproducible"
    return ""


def replay_episode(store: Path, episode: str) -> ReplayedEpisode:
    """The stored episode whose key starts with `episode`, run again and checked against its stored digest."""
    if not episode or any(c not in "0123456789abcdef" for c in episode.lower()):
        raise PeerguardError(f"--episode {episode!r}: give an episode id as listed (hex, e.g. the first "
                             f"{SHORT_KEY} characters of its key)")  # fmt: skip
    with StudyStore(store_path(store)) as opened:
        found = opened.find_episodes(episode.lower())
    if len(found) != 1:
        problem = "no stored episode has that id" if not found else f"{len(found)} stored episodes start so"
        raise PeerguardError(f"--episode {episode}: {problem}; list them with `peerguard dashboard --store {store}`")
    row = found[0]
    if problem := why_not(row):
        raise PeerguardError(f"--episode {episode}: {problem}")
    records = records_of(row["kind"], row["params"])
    digest = ",".join(record.ledger.digest for record in records)
    if digest != row["ledger_digest"]:
        stored = f"peerguard {row['version']} at commit {_short(row['git_commit']) or 'unknown'}"
        this = f"peerguard {peerguard_version()} at commit {_short(git_commit() or '') or 'unknown'}"
        raise PeerguardError(
            f"--episode {episode}: run again, its ledger digest is {digest[:16]}..., not the stored "
            f"{row['ledger_digest'][:16]}...: it was stored by {stored}, this is {this} (another simulator gives "
            "another run), or the store was altered; refusing to show a run that is not the stored one"
        )
    return ReplayedEpisode(row, records)


def _short(commit: str) -> str:
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")
