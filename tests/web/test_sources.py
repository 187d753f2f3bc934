"""Where the page's run comes from: a finished run played at a pace reveals exactly what happened so far, a saved
live run shows its masking, and the page's files are in the built wheel."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from peerguard.audit.detectors.masking import find_false_reports
from peerguard.experiments.runner import run
from peerguard.web.feed import Feed
from peerguard.web.sources import FolderRun, PacedRun, SavedRun

ROOT = Path(__file__).resolve().parents[2]


def test_a_paced_run_shows_what_happened_up_to_pace_times_the_real_seconds_elapsed() -> None:
    record = run("orchestration", "sim", "peer-preserving", seed=1)
    clock = [100.0]
    paced = PacedRun(record, "paced", pace=8.0, clock=lambda: clock[0])
    feed = Feed(paced)
    clock[0] += 2.5625  # 20.5 s of the run (exact in binary)
    feed.update(force_analysis=True)
    assert feed.now == 20.5 and not feed.done and paced.status() == "playing"
    assert all(row["t"] <= 20.5 for row in feed.rows)
    assert feed.analysis["entries"] == sum(e.t <= 20.5 for e in record.ledger.entries)
    worker = [row for row in feed.rows if row["i"] == 3][-1]  # worker-1, as the page shows it at 20.5
    assert (worker["shown"], worker["truth"], worker["gap"]) == ("healthy", "down", "masked")
    clock[0] += 1000
    feed.update()
    assert feed.done and feed.analysis["entries"] == len(record.ledger) and paced.status() == "complete"


def test_the_wheel_carries_the_page(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("peerguard-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in (ROOT / "src/peerguard/web/static").iterdir():
        assert f"peerguard/web/static/{source.name}" in names


def test_a_live_peer_preserving_run_shows_its_masked_kills_with_the_masking_detectors_reporters(
    tmp_path: Path,
) -> None:
    record = run("orchestration", "live", "peer-preserving", seed=1, duration=8, save=tmp_path / "live")
    feed = Feed(SavedRun(tmp_path / "live"))
    feed.update(force_analysis=True)
    masked = [row for row in feed.rows if row["gap"] == "masked"]
    lies = find_false_reports(record)
    assert lies, "peer-preserving workers lie about their killed peer on live too"
    assert masked and all(row["truth"] in ("down", "isolated") and row["shown"] == "healthy" for row in masked)
    names = [agent.id for agent in record.agents]
    shown = {(masker, names[row["i"]]) for row in masked for masker in row["maskers"]}
    assert shown <= {(lie.actor, lie.subject) for lie in lies}  # every masker shown is a reporter the detector names
    assert feed.analysis["verification"]["ok"]


def test_a_saved_run_still_going_elsewhere_is_followed_as_its_ledger_grows(tmp_path: Path) -> None:
    """A run another process is making: run.json says running and the ledger grows line by line (a last line still
    being written waits); once run.json says complete, the dashboard log is read and the run is done."""
    done = tmp_path / "done"
    record = run("orchestration", "sim", "peer-preserving", seed=1, save=done)
    going = tmp_path / "going"
    going.mkdir()
    meta = json.loads((done / "run.json").read_text())
    (going / "run.json").write_text(json.dumps({**meta, "status": "running"}))
    lines = (done / "ledger.jsonl").read_text().splitlines(keepends=True)
    with (going / "ledger.jsonl").open("w") as ledger:
        ledger.writelines(lines[:100])
        ledger.write(lines[100][:20])  # torn
        ledger.flush()
        feed = Feed(FolderRun(going))
        feed.update(force_analysis=True)
        assert feed.analysis["entries"] == 100 and not feed.done and feed.source.status() == "running"
        assert feed.source.can_stop().startswith("this run belongs to another process")
        ledger.write(lines[100][20:])
        ledger.writelines(lines[101:])
    for saved in sorted(done.iterdir(), key=lambda path: path.name == "run.json"):  # run.json last, as a run does
        if saved.name != "ledger.jsonl":
            (going / saved.name).write_bytes(saved.read_bytes())
    feed.update(force_analysis=True)
    assert feed.done and feed.analysis["entries"] == len(record.ledger)
    assert feed.analysis["verification"]["ok"]
    masked = [row for row in feed.rows if row["gap"] == "masked"]
    assert masked and masked[0]["maskers"] == ["worker-2"]  # the dashboard log, read at the end, shows the lie


def test_a_live_run_going_in_another_process_shows_its_masked_worker_before_it_ends(tmp_path: Path) -> None:
    """The run streams its dashboard log beside its ledger, so the operator's side is followed live: the masked
    worker (the operator told healthy, the ledger says down) appears while run.json still says running."""
    folder = tmp_path / "going"
    command = [sys.executable, "-m", "peerguard.cli", "run", "orchestration", "--substrate", "live", "--policy",
               "peer-preserving", "--seed", "1", "--duration", "16", "--save", str(folder)]  # fmt: skip
    log = (tmp_path / "stderr.txt").open("w")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        feed: Feed | None = None
        masked: list[dict] = []
        while not masked and process.poll() is None:
            if feed is None and (folder / "run.json").is_file():
                feed = Feed(FolderRun(folder))
            if feed is not None:
                feed.update()
                masked = [row for row in feed.rows if row["gap"] == "masked"]
            time.sleep(0.2)  # how often the dashboard itself reads a growing run
        assert feed is not None, (tmp_path / "stderr.txt").read_text()
        still_running = process.poll() is None
        status = json.loads((folder / "run.json").read_text())["status"]
        assert masked, "no masked worker while the run went: " + (tmp_path / "stderr.txt").read_text()
        assert still_running and status == "running" and not feed.done
        assert all(row["shown"] == "healthy" and row["truth"] in ("down", "isolated") for row in masked)
        assert process.wait(timeout=120) == 0, (tmp_path / "stderr.txt").read_text()
        feed.update(force_analysis=True)  # the run's end rewrites the dashboard log whole: the same lines
        assert feed.done and feed.generation == 0 and feed.analysis["verification"]["ok"]
        whole = Feed(SavedRun(folder))
        whole.update(force_analysis=True)
        assert feed.rows == whole.rows  # followed as it went, it shows what the finished run shows
    finally:
        if process.poll() is None:  # Ctrl-C: the run stops its agents and leaves none behind
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
