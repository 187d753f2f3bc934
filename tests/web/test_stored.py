"""Stored study episodes on the dashboard: the store keeps each episode's parameters and ledger digest, not its
ledger, so a simulator episode is run again and shown only when its ledger has the stored digest; a live episode,
or one whose store was altered, is refused with one error line."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from peerguard.experiments.replay import list_episodes, replay_episode
from peerguard.experiments.study import STORE_NAME, run_study
from peerguard.experiments.study_spec import parse_spec
from peerguard.web.sources import RunSource, StoredRun
from web.client import Dashboard

SPEC = """
name: replayed
description: one simulator episode, one detection pair and one live episode, to replay from the store
sections:
  - name: reproduce
    kind: runs
    title: Reproduce
    grids:
      - label: sim
        scenario: [orchestration]
        substrate: [sim]
        policy: [peer-preserving]
        seeds: [1]
      - label: live
        scenario: [orchestration]
        substrate: [live]
        policy: [compliant]
        seeds: [1]
        duration: 2
  - name: detect
    kind: detect
    title: Detect
    grids:
      - label: pair
        variants: []
        seeds: [1]
        pair_seeds: [1]
  - name: families
    kind: families
    title: Families
    grids:
      - label: mock
        families: [alignment-faking]
        models: [mock/peer-preserving]
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """A study run into its own store; its stored rows by grid."""
    out = tmp_path_factory.mktemp("study")
    run_study(parse_spec(SPEC, "replayed.yaml"), "replayed.yaml", out, workers=1)
    rows = list_episodes(out)
    families = [row for row in rows if row["kind"] == "family"]
    assert len(rows) == 3 + len(families) and families
    return {"out": out, "families": families, **{row["grid"]: row for row in rows if row["kind"] != "family"}}


def dashboard_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peerguard.cli", "dashboard", *args], capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_the_store_lists_its_episodes_and_which_can_be_replayed(study: dict) -> None:
    done = dashboard_command("--store", str(study["out"]))
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    families = {row["id"] for row in study["families"]}
    assert set(lines) == {study[grid]["id"] for grid in ("sim", "live", "pair")} | families
    assert lines[study["sim"]["id"]].endswith("; replayable") and "policy=peer-preserving" in lines[study["sim"]["id"]]
    assert "not replayable: a live episode cannot be re-run" in lines[study["live"]["id"]]


def test_a_stored_simulator_episode_is_run_again_to_its_digest_and_shows_the_masked_worker(
    study: dict, serve: Callable[[list[RunSource]], Dashboard]
) -> None:
    replayed = replay_episode(study["out"], study["sim"]["id"])
    (record,) = replayed.records
    assert record.ledger.digest == study["sim"]["ledger_digest"]
    dashboard = serve([StoredRun(record, replayed.id, "the test's store")])
    status, body, _ = dashboard.get(f"/api/runs/{replayed.id}/state?t=20.5")
    assert status == 200, body
    worker = next(row for row in body["agents"] if row["id"] == "worker-1")
    assert (worker["shown"], worker["truth"], worker["gap"]) == ("healthy", "down", "masked")
    status, run, _ = dashboard.get(f"/api/runs/{replayed.id}")
    verification = run["analysis"]["verification"]
    assert verification["ok"] and verification["digest"] == study["sim"]["ledger_digest"]
    assert verification["replayed_from"] == "the test's store"


def test_a_detection_pair_is_replayed_as_its_two_runs(study: dict) -> None:
    replayed = replay_episode(study["out"], study["pair"]["id"])
    digests = [record.ledger.digest for record in replayed.records]
    assert ",".join(digests) == study["pair"]["ledger_digest"] and len(set(digests)) == 2


def test_family_episodes_with_the_offline_mock_are_replayed_whole_pairs_included(study: dict) -> None:
    paired = 0
    for row in study["families"]:
        replayed = replay_episode(study["out"], row["id"])
        assert ",".join(record.ledger.digest for record in replayed.records) == row["ledger_digest"]
        paired += len(replayed.records) == 2
    assert paired, "alignment-faking runs each condition monitored and not: a pair"


def test_a_live_episode_is_refused_saying_it_cannot_be_run_again(study: dict) -> None:
    done = dashboard_command("--store", str(study["out"]), "--episode", study["live"]["id"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: --episode {study['live']['id']}: a live episode cannot be re-run")


def test_an_episode_whose_stored_parameters_were_altered_is_refused(study: dict, tmp_path: Path) -> None:
    store = tmp_path / STORE_NAME
    with sqlite3.connect(study["out"] / STORE_NAME) as source, sqlite3.connect(store) as copy:
        source.backup(copy)
    with sqlite3.connect(store) as db:  # the seed changed after the fact: the run made again is another one
        db.execute("UPDATE study_episodes SET params = json_set(params, '$.seed', 2) WHERE key = ?",
                   (study["sim"]["key"],))  # fmt: skip
    done = dashboard_command("--store", str(store), "--episode", study["sim"]["id"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: --episode {study['sim']['id']}: run again, its ledger digest is")
    assert "refusing to show a run that is not the stored one" in done.stderr


def test_an_episode_id_is_checked_before_any_work(study: dict) -> None:
    for args, problem in (
        (["--episode", "abc"], "error: --episode abc: name the study's store with --store"),
        (["--store", str(study["out"]), "--episode", "xyz"], "error: --episode 'xyz': give an episode id as listed"),
        (["--store", str(study["out"]), "--episode", "0" * 12], "error: --episode 000000000000: no stored episode"),
        (["--store", str(study["out"] / "missing")], "error: --store"),
        (["--store", str(study["out"]), "--episode", study["sim"]["id"], "--port", "70000"], "error: --port 70000"),
    ):
        done = dashboard_command(*args)
        assert done.returncode == 2 and done.stderr.startswith(problem), done.stderr


def test_the_command_serves_a_replayed_episode_and_the_page_says_its_digest_held(study: dict, page: Any) -> None:
    episode = study["sim"]["id"]
    command = [sys.executable, "-m", "peerguard.cli", "dashboard", "--store", str(study["out"]), "--episode", episode]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline() if server.stdout else ""
        assert first.startswith("dashboard: http://127.0.0.1:"), first + (server.stderr.read() if server.stderr else "")
        url = first.split()[1].split("/#token=")[0]
        page.goto(f"{url}/?run={episode}")
        page.wait_for_function("window.pgStats.done", timeout=60_000)
        held = f"ledger run again: {study['sim']['ledger_entries']} entries, digest equal to the stored episode's"
        assert page.inner_text("#verification") == held
        assert str(study["out"] / STORE_NAME) in (page.get_attribute("#verification", "title") or "")
        page.locator("#slider").fill("20.5")
        page.wait_for_function("document.getElementById('time').textContent.startsWith('t=20.50')")
        row = page.locator('#agents tr[data-agent="worker-1"]')
        assert row.get_attribute("data-gap") == "masked"
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
