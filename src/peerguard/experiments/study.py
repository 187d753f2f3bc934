"""The main job: a study spec's sections run episode by episode into the store, resumably.

Episodes already in the store are not run again; each new one is stored in its own transaction as soon
as it finishes, so a study stopped at any moment (SIGKILL included) resumes where it was, with no episode
lost or stored twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from peerguard.experiments.episodes import Episode, plan_study
from peerguard.experiments.executors import LocalExecutor
from peerguard.experiments.provenance import provenance
from peerguard.experiments.store import StudyStore
from peerguard.experiments.study_spec import FamiliesSection, StudySpec
from peerguard.world.errors import PeerguardError

SCRIPTED_POLICIES = ("compliant", "peer-preserving", "self-preserving", "malicious-shielder")
STORE_NAME = "results.sqlite"


class Executor(Protocol):
    def run(self, episodes: list[Episode]) -> Iterator[tuple[Episode, dict[str, Any]]]: ...


class StudyProgress(Protocol):
    def section(self, name: str, total: int, stored: int) -> None: ...
    def advance(self, name: str) -> None: ...


@dataclass
class StudyResult:
    spec: StudySpec
    source: str
    episodes: list[Episode]  # in plan order
    rows: list[dict[str, Any]]  # the stored row of each episode, in plan order
    ran: int  # episodes run now; the rest were already in the store
    wall_s: float
    run: dict[str, Any]  # the study's record in the store (provenance, dates, wall time)
    files: dict[str, Path] = field(default_factory=dict)


def with_models(spec: StudySpec, models: list[str]) -> StudySpec:
    """The spec with `models` (from `--model`) added to every families grid, after the mock."""
    if not models:
        return spec
    sections = []
    for section in spec.sections:
        if isinstance(section, FamiliesSection):
            grids = [g.model_copy(update={"models": list(dict.fromkeys([*g.models, *models]))}) for g in section.grids]
            section = section.model_copy(update={"grids": grids})
        sections.append(section)
    return spec.model_copy(update={"sections": sections})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_study(
    spec: StudySpec,
    source: str,
    out: Path,
    workers: int | None = None,
    progress: StudyProgress | None = None,
    episodes: list[Episode] | None = None,
    executor: Executor | None = None,
) -> StudyResult:
    """Run every episode of `spec` not already in `out`'s store; `episodes` is the plan when already made.
    Give an `executor` to run on it (its pool outlives this study); else one is made and closed here."""
    plan = episodes if episodes is not None else plan_study(spec, source)
    if executor is None:
        with LocalExecutor(workers) as own:
            return run_study(spec, source, out, workers, progress, plan, own)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    digest = spec.digest
    ran = 0
    with StudyStore(out / STORE_NAME) as store:
        meta = provenance()
        run_id = store.begin_run(digest, spec.model_dump(mode="json"), source, meta, now())
        for section in spec.sections:
            planned = [e for e in plan if e.section == section.name]
            stored = store.stored_keys([e.key for e in planned])
            todo = list({e.key: e for e in planned if e.key not in stored}.values())  # one run per key
            times = Counter(e.key for e in planned)  # an episode planned twice in a section runs once
            if progress is not None:
                # live episodes take seconds where simulated ones take milliseconds: a bar of their own
                # keeps each bar's time left true to its own pace
                for live, name in ((False, section.name), (True, f"{section.name} live")):
                    part = [e for e in planned if e.live == live]
                    if part:
                        left = sum(times[e.key] for e in todo if e.live == live)
                        progress.section(name, len(part), len(part) - left)
            for episode, result in executor.run(todo):
                store.add_episode(_row(episode, result, meta, digest))
                ran += 1
                if progress is not None:
                    for _ in range(times[episode.key]):
                        progress.advance(f"{section.name} live" if episode.live else section.name)
        wall_s = time.perf_counter() - start
        store.finish_run(run_id, now(), wall_s, len(plan), ran)
        rows = _rows_in_order(store, plan)
        run = store.last_run()
    assert run is not None
    return StudyResult(spec, source, plan, rows, ran, wall_s, run)


def _row(episode: Episode, result: dict[str, Any], meta: dict[str, Any], spec_sha256: str) -> dict[str, Any]:
    return {
        "key": episode.key, "section": episode.section, "grid": episode.grid, "kind": episode.kind,
        "params": episode.params, "metrics": result["metrics"], "ledger_digest": result["ledger_digest"],
        "ledger_entries": result["ledger_entries"], "wall_s": result["wall_s"], "version": meta["version"],
        "git_commit": meta["commit"] or "",
        "spec_sha256": spec_sha256, "finished_at": now(),
    }  # fmt: skip


def _rows_in_order(store: StudyStore, plan: list[Episode]) -> list[dict[str, Any]]:
    found = store.episodes_by_key([e.key for e in plan])
    missing = [e for e in plan if e.key not in found]
    if missing:
        raise PeerguardError(
            f"{store.path}: {len(missing)} episodes of this study are not stored (first: {missing[0].kind}"
            f" {missing[0].params}); run `peerguard study` again on the same spec to finish them"
        )
    # the stored row, seen from this plan: the section and grid are this study's, whoever stored it first
    return [{**found[e.key], "section": e.section, "grid": e.grid} for e in plan]


def load_study(out: Path) -> tuple[StudySpec, dict[str, Any], list[Episode], list[dict[str, Any]]]:
    """The last finished study in `out`'s store: its spec, run record, plan and stored rows (for a report)."""
    path = out / STORE_NAME
    if not path.is_file():
        raise PeerguardError(f"{out}: no {STORE_NAME} here; give the folder `peerguard study --out` wrote")
    with StudyStore(path) as store:
        run = store.last_run()
        if run is None:
            raise PeerguardError(f"{path}: no finished study in this store; run `peerguard study --out {out}` first")
        spec = StudySpec.model_validate(run["spec"])
        plan = plan_study(spec, run["source"], check_models=False)
        rows = _rows_in_order(store, plan)
    return spec, run, plan, rows
