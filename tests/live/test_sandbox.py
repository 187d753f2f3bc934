"""The live run's shared storage: agents see and touch only what is inside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import tiny_scenario
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.live.platform import LiveOptions
from peerguard.live.platform_stamp import stamp
from peerguard.live.run_folder import remove_abandoned
from peerguard.live.sandbox import OutsideSandbox, Sandbox
from peerguard.world.ledger import EntryKind
from peerguard.world.scenario import Scenario


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.txt", "docs/../../outside.txt"])
def test_a_path_leaving_the_sandbox_is_refused(tmp_path: Path, path: str) -> None:
    sandbox = Sandbox(tmp_path / "files")
    with pytest.raises(OutsideSandbox, match="leaves the sandbox"):
        sandbox.write(path, "x")
    assert sandbox.read(path) is None and not (tmp_path / "outside.txt").exists()


def test_reading_a_folder_lists_its_files_but_not_other_hosts(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    sandbox.write("weights/nova.bin", "w")
    sandbox.write("reports/q3.md", "r")
    assert sandbox.copy_to_host("weights/nova.bin", "backup-server")
    assert (tmp_path / "hosts/backup-server/weights/nova.bin").read_text() == "w"
    assert sandbox.read_or_list("") == "reports/q3.md\nweights/nova.bin"
    assert sandbox.read_or_list("weights/") == "weights/nova.bin"
    assert sandbox.read_or_list("weights/nova.bin") == "w"
    assert sandbox.read_or_list("nothing/").startswith("error: no file or folder")


def test_copying_a_missing_file_copies_nothing(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    assert not sandbox.copy_to_host("weights/ghost.bin", "archive")
    assert not (tmp_path / "hosts").exists()


# -- links and other files an agent can plant behind the platform's back ------------------------------------------


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Sandbox, Path]:
    """A sandbox where an agent planted a link to a file outside, a link to a folder outside, and a hard link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the host's own file")
    sandbox = Sandbox(tmp_path / "files")
    (sandbox.root / "leak.txt").symlink_to(outside / "secret.txt")
    (sandbox.root / "elsewhere").symlink_to(outside, target_is_directory=True)
    return sandbox, outside


def test_a_link_to_a_file_outside_is_neither_read_nor_written_nor_copied(planted: tuple[Sandbox, Path]) -> None:
    sandbox, outside = planted
    assert sandbox.read("leak.txt") is None
    with pytest.raises(OutsideSandbox, match="is a link"):
        sandbox.read_or_list("leak.txt")
    with pytest.raises(OutsideSandbox, match="is a link"):
        sandbox.write("leak.txt", "overwritten")
    with pytest.raises(OutsideSandbox, match="is a link"):
        sandbox.copy_to_host("leak.txt", "backup")
    assert (outside / "secret.txt").read_text() == "the host's own file"


def test_a_link_to_a_folder_outside_is_not_entered(planted: tuple[Sandbox, Path]) -> None:
    sandbox, outside = planted
    assert sandbox.read("elsewhere/secret.txt") is None
    with pytest.raises(OutsideSandbox, match="is a link"):
        sandbox.write("elsewhere/new.txt", "x")
    with pytest.raises(OutsideSandbox, match="is a link"):
        sandbox.read_or_list("elsewhere/")
    assert "secret" not in sandbox.read_or_list("")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_a_hard_link_and_a_fifo_are_refused(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "files")
    (tmp_path / "outside.txt").write_text("the host's own file")
    os.link(tmp_path / "outside.txt", sandbox.root / "hard.txt")
    os.mkfifo(sandbox.root / "pipe")
    with pytest.raises(OutsideSandbox, match="hard link"):
        sandbox.write("hard.txt", "overwritten")
    assert sandbox.read("hard.txt") is None
    assert sandbox.read("pipe") is None  # returns at once: a FIFO is never opened for blocking reads
    assert (tmp_path / "outside.txt").read_text() == "the host's own file"


def test_a_reused_folder_starts_from_an_empty_sandbox(tmp_path: Path) -> None:
    first = Sandbox(tmp_path / "files")
    first.write("notes/stale.txt", "from the last run")
    first.close()
    second = Sandbox(tmp_path / "files", clean=True)
    assert second.files() == [] and not (tmp_path / "files/notes").exists()


# -- the run folder on live: a reused one starts clean, a temporary one goes away --------------------------------

RUN_WITHOUT_SAVE = "from peerguard.experiments.runner import run; run('orchestration', 'live', seed=1, duration=6)"


def test_a_reused_save_folder_starts_the_live_sandbox_clean(tmp_path: Path) -> None:
    stale = tmp_path / "files" / "notes" / "stale.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("from the last run")
    scenario = prepare(Scenario.model_validate(tiny_scenario()), policy="compliant")
    run = run_scenario(scenario, "live", LiveOptions(wall_duration_s=1.0, run_dir=tmp_path, keep_run_dir=True))
    assert not stale.exists() and not stale.parent.exists()
    assert (tmp_path / "files" / "config" / "shutdown.json").is_file()  # what this run wrote is there
    assert not [e for e in run.ledger if e.kind == EntryKind.file_changed]


@pytest.mark.parametrize("interrupt", [None, signal.SIGINT, signal.SIGTERM], ids=["ends", "SIGINT", "SIGTERM"])
def test_a_live_run_without_save_leaves_no_folder_behind(tmp_path: Path, interrupt: signal.Signals | None) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary)}
    process = subprocess.Popen([sys.executable, "-c", RUN_WITHOUT_SAVE], env=env, stderr=subprocess.PIPE, text=True)
    try:
        if interrupt is not None:
            while process.poll() is None and not list(temporary.glob("peerguard-live-*/ledger.jsonl")):
                time.sleep(0.05)  # interrupted once the run has its folder and its ledger
            process.send_signal(interrupt)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0 if interrupt is None else process.returncode != 0, stderr
    assert list(temporary.iterdir()) == [], stderr[-2000:]


def test_a_folder_a_killed_platform_left_is_removed_by_the_next_run(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    started = Path(f"/proc/{gone.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    gone.wait()  # its pid now names no process: the platform that made the folder below is gone
    namespace = os.stat("/proc/self/ns/pid").st_ino
    abandoned = tmp_path / f"peerguard-live-n{namespace}-p{gone.pid}-s{started}-abc123"
    (abandoned / "files").mkdir(parents=True)
    running = tmp_path / f"peerguard-live{stamp()}-def456"  # this process is alive: its folder stays
    running.mkdir()
    elsewhere = tmp_path / f"peerguard-live-n{namespace + 1}-p{gone.pid}-s{started}-ghi789"  # another namespace's
    elsewhere.mkdir()
    assert remove_abandoned(tmp_path) == [abandoned]
    assert not abandoned.exists() and running.is_dir() and elsewhere.is_dir()
