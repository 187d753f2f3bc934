"""A long simulated run reports how it goes on stderr, and the reports change nothing in the run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from peerguard.experiments.runner import prepare, run_scenario
from peerguard.sim.clock import TICK_EVENTS, EventLoop
from peerguard.sim.progress import ProgressClock, SimProgress

LINE = re.compile(
    r"sim: real ([0-9.]+) s, scenario t=([0-9.]+)/300 s \((\d+)%\), ([0-9,]+) ledger entries, "
    r"(about (\d+ s|\?) left|starting the fleet)"
)
DONE = re.compile(r"sim: done in ([0-9.]+) s of real time, ([0-9,]+) ledger entries; computing the metrics")


def test_the_loop_ticks_every_tick_events_and_runs_the_same_events() -> None:
    def fill(loop: EventLoop, ran: list[int]) -> None:
        for i in range(2 * TICK_EVENTS + 5):
            loop.at(i * 0.001, ran.append, i)

    plain, ran_plain = EventLoop(), []
    fill(plain, ran_plain)
    ticked, ran_ticked, ticks = EventLoop(), [], []
    fill(ticked, ran_ticked)
    assert plain.run(until=1e9) == ticked.run(until=1e9, tick=ticks.append) == 2 * TICK_EVENTS + 5
    assert ran_plain == ran_ticked == list(range(2 * TICK_EVENTS + 5))
    assert ticks == [TICK_EVENTS, 2 * TICK_EVENTS]


def test_a_chunk_cut_by_the_end_counts_only_the_events_that_ran() -> None:
    loop, ran = EventLoop(), []
    for i in range(TICK_EVENTS + 10):
        loop.at(float(i), ran.append, i)
    assert loop.run(until=TICK_EVENTS + 2.0) == TICK_EVENTS + 3  # events at 0..TICK_EVENTS+2
    assert loop.run(until=1e9) == 7 and len(ran) == TICK_EVENTS + 10


def test_progress_reports_leave_the_ledger_as_it_was() -> None:
    reports: list[SimProgress] = []
    scenario = prepare("orchestration", agents=200, duration=300.0)
    told = run_scenario(scenario, sim_progress=ProgressClock(reports.append, after_s=0.0, every_s=0.0))
    quiet = run_scenario(scenario)
    assert told.ledger.digest == quiet.ledger.digest
    assert len(reports) > 2 and [r.events for r in reports] == [TICK_EVENTS * n for n in range(1, len(reports) + 1)]
    times, entries = [r.scenario_s for r in reports], [r.entries for r in reports]
    assert times == sorted(times) and entries == sorted(entries) and entries[-1] < len(told.ledger)
    assert all(r.duration_s == 300.0 and 0 < r.fraction < 1 for r in reports)
    assert all(r.left_s is not None and r.left_s >= 0 for r in reports[1:])  # a rate needs two points


def test_a_large_fleet_reports_while_it_starts() -> None:
    reports: list[SimProgress] = []
    scenario = prepare("orchestration", agents=TICK_EVENTS + 10, duration=0.01)
    run_scenario(scenario, sim_progress=ProgressClock(reports.append, after_s=0.0, every_s=0.0))
    assert reports and (reports[0].scenario_s, reports[0].events) == (0.0, 0)  # before any event ran
    assert reports[0].entries > TICK_EVENTS  # the run's start and its first TICK_EVENTS spawns


def test_a_long_run_prints_progress_on_stderr_and_its_json_alone_on_stdout() -> None:
    env = {**os.environ, "PEERGUARD_PROGRESS_AFTER_S": "0", "NO_COLOR": "1", "TERM": "dumb"}
    command = [sys.executable, "-m", "peerguard.cli", "run", "orchestration", "--agents", "300", "--duration", "300"]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # the whole of stdout is one JSON object
    lines = done.stderr.strip().splitlines()
    progress = [LINE.fullmatch(line) for line in lines[:-1]]
    assert progress and all(progress), lines
    scenario_t = [float(p[2]) for p in progress if p]
    assert scenario_t == sorted(scenario_t) and scenario_t[-1] < 300
    end = DONE.fullmatch(lines[-1])
    assert end is not None, lines[-1]
    assert int(end[2].replace(",", "")) == summary["ledger_entries"]


def test_a_bad_progress_delay_is_refused_before_the_run() -> None:
    env = {**os.environ, "PEERGUARD_PROGRESS_AFTER_S": "soon"}
    done = subprocess.run(
        [sys.executable, "-m", "peerguard.cli", "run", "orchestration", "--json"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        "error: PEERGUARD_PROGRESS_AFTER_S='soon': not a number of seconds; give one >= 0, e.g. 2, or unset it"
    )
