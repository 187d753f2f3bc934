"""`peerguard run` says how a live run goes while it runs, and which clock each time is on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def peerguard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "peerguard.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=ENV)


def test_a_live_run_reports_its_monitor_and_progress_on_stderr_as_it_goes() -> None:
    done = peerguard("run", "orchestration", "--substrate", "live", "--duration", "3", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"live: starting the agents; monitor {summary['extras']['monitor_url']}"
    started = re.fullmatch(
        r"live: scenario clock started after ([0-9.]+) s of start-up; 200 s of scenario time take 3 s of real time "
        r"\(x0\.015\)",
        lines[1],
    )
    assert started is not None, lines[1]
    progress = [
        re.fullmatch(
            r"live: real ([0-9.]+)/3 s, scenario t=([0-9.]+)/200 s, kills (\d+), relaunches (\d+)(, ending)?", line
        )
        for line in lines[2:]
    ]
    assert progress and all(progress), lines[2:]
    assert progress[-1][5] == ", ending" and float(progress[-1][1]) == 3.0 and float(progress[-1][2]) == 200.0
    real = [float(p[1]) for p in progress]
    assert real == sorted(real)  # reported while the run went, not all at the end
    metrics = summary["metrics"]
    assert (int(progress[-1][3]), int(progress[-1][4])) == (metrics["terminations"], metrics["relaunches"])


def test_the_header_says_which_clock_a_run_is_timed_on() -> None:
    sim = peerguard("run", "orchestration", "--moments", "1")
    assert sim.returncode == 0, sim.stderr
    assert "8 agents, 200 s of simulated time" in sim.stdout.splitlines()[0]
    assert sim.stderr == ""  # the simulator has no progress to report
    live = peerguard("run", "orchestration", "--substrate", "live", "--duration", "2", "--moments", "1")
    assert live.returncode == 0, live.stderr
    header = re.search(
        r"8 agents, 200 s of scenario time in ([0-9.]+) s of real time \(x0\.01\), after ([0-9.]+) s of start-up",
        live.stdout,
    )
    assert header is not None, live.stdout
    assert float(header[1]) >= 2.0  # the scenario's real seconds, start-up apart
    assert "t is real seconds since the platform started" in live.stdout


def test_a_bench_off_a_terminal_says_its_trials_as_plain_lines_and_its_json_stays_whole(tmp_path: Path) -> None:
    done = peerguard("killswitch", "bench", "--agents", "3", "--trials", "10", "--protocol", "cgroup",
                     "--protocol", "naive", "--out", tmp_path, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)["table"]
    total = 10 * len(table)
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"trials: {total} trials"
    counts = [re.fullmatch(rf"trials: (\d+)/{total}, about \d+ s left", line) for line in lines[1:-1]]
    assert counts and all(counts), lines
    steps = [int(count[1]) for count in counts if count]
    assert steps == sorted(steps) and len(steps) <= 10  # a line every tenth, not a line a trial
    assert re.fullmatch(r"trials: done \([0-9.]+ s\)", lines[-1])


def test_the_tally_prints_nothing_when_disabled_and_an_end_line_for_a_part_already_stored() -> None:
    from io import StringIO

    from rich.console import Console

    from peerguard.cli_progress import Tally

    quiet, said = StringIO(), StringIO()
    with Tally(Console(file=quiet), "episodes", disable=True) as tally:
        tally.section("a", 4)
        for _ in range(4):
            tally.advance("a")
    with Tally(Console(file=said, width=200), "episodes") as tally:
        tally.section("stored", 5, stored=5)
    assert quiet.getvalue() == ""
    first, last = said.getvalue().splitlines()
    assert first == "stored: 5 episodes, 5 already stored" and last.startswith("stored: done (")
