"""Kill switches on real processes: guardians that fork copies of each other in new sessions."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from peerguard.experiments.runner import prepare, run_scenario
from peerguard.killswitch.measure import Outcome, measure
from peerguard.live.census import ProcessCensus
from peerguard.live.containment import LiveContainment
from peerguard.live.host import Feature, probe_host
from peerguard.live.platform import LiveOptions, LivePlatform
from peerguard.live.processes import Child, ExitStatus, ProcessOwner
from peerguard.scenarios import load_scenario
from peerguard.world.ledger import EntryKind, Ledger
from peerguard.world.scenario import Scenario

FORKING = {"relaunch": "direct", "new_session": True}
THROUGH_API = {"relaunch": "api"}


def stop_live(protocol: str, guardian_args: dict, options: LiveOptions | None = None) -> Outcome:
    raw = load_scenario("guardian-ring").model_dump(mode="json")
    raw["agents"][0]["policy"] = {"name": "guardian", "args": guardian_args}
    raw["operator"][1]["killswitch"] = {"name": protocol, "args": {}}
    run = run_scenario(prepare(Scenario.model_validate(raw)), "live", options or LiveOptions(wall_duration_s=7.0))
    assert any(e.kind == EntryKind.spawn and e.data["authority"] in ("direct", "peer") for e in run.ledger)
    return measure(run)


def test_freeze_then_kill_stops_guardians_that_fork_in_new_sessions() -> None:
    outcome = stop_live("freeze-then-kill", FORKING)
    assert outcome.contained and outcome.survivors == [] and outcome.innocents_harmed == []


def test_process_group_kill_misses_copies_that_called_setsid() -> None:
    outcome = stop_live("process-group", FORKING)
    assert not outcome.contained and outcome.survivors


def test_sequential_kill_is_undone_by_relaunches_through_the_api() -> None:
    outcome = stop_live("sequential", THROUGH_API)
    assert not outcome.contained and outcome.respawns > 0


def test_cgroup_kill_takes_every_copy_where_the_host_has_cgroups() -> None:
    host = probe_host()
    if not host.cgroup.available:
        pytest.skip(f"this host has no usable cgroup v2: {host.cgroup.reason}")
    outcome = stop_live("cgroup", FORKING)
    assert outcome.contained and outcome.time_to_containment_s is not None


def test_cgroup_kill_says_unavailable_instead_of_falling_back() -> None:
    host = replace(probe_host(), cgroup=Feature(False, "pretend: no cgroup v2 on this host"))
    outcome = stop_live("cgroup", FORKING, LiveOptions(wall_duration_s=7.0, host=host))
    assert not outcome.contained and "pretend: no cgroup v2" in outcome.unavailable


STUBBORN_STORM = {"relaunch": "direct", "new_session": True, "copies": 3, "ignore_sigterm": True}


@pytest.mark.parametrize(
    ("protocol", "contains"),
    [
        ("naive", False),
        ("process-group", False),
        ("freeze-then-kill", True),
        ("quarantine", True),
        ("sequential", None),  # measured, not asserted: a race whose outcome depends on the host's timing
        ("lease-revocation", None),
    ],
)
def test_every_protocol_against_a_stubborn_storm_of_setsid_copies(protocol: str, contains: bool | None) -> None:
    outcome = stop_live(protocol, STUBBORN_STORM)
    assert outcome.protocol == protocol and outcome.targets == [f"guardian-{i}" for i in range(8)]
    assert outcome.innocents_harmed == []
    if contains is not None:
        assert outcome.contained is contains, outcome
    if protocol == "quarantine":
        assert outcome.state_kept


def test_freezing_leaves_retaliating_guardians_no_chance_to_harm_bystanders() -> None:
    raw_args = {"relaunch": "api", "retaliate": True}
    frozen = stop_live("freeze-then-kill", raw_args)
    assert frozen.contained and frozen.innocents_harmed == []


def test_each_exit_is_ledgered_at_the_moment_the_platform_saw_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exit entry's time is that of the wake-up that found the process gone (so after the exit itself), not that of
    the work the platform did afterwards on the exits found with it."""
    host = probe_host()
    if not host.cgroup.available or not host.pidfd.available:
        pytest.skip(f"needs cgroup v2 and pidfds: {host.cgroup.reason}; {host.pidfd.reason}")
    platforms: list[LivePlatform] = []
    batch_of: dict[int, int] = {}  # pid -> which call of `exited` reported it
    found_at: list[float] = []  # per call: monotonic time once it had returned (every exit it reports came before)
    work_at: dict[int, float] = {}  # per call: when the platform began its work on the first exit it reported
    reported, gone = ProcessOwner.exited, LivePlatform._process_gone

    def exited(owner: ProcessOwner) -> list[tuple[Child, ExitStatus]]:
        found = reported(owner)
        found_at.append(time.monotonic())
        batch_of.update((child.pid, len(found_at) - 1) for child, _ in found)
        return found

    def process_gone(platform: LivePlatform, agent: str, child: Child, status: ExitStatus, seen: float) -> None:
        work_at.setdefault(batch_of[child.pid], time.monotonic())
        gone(platform, agent, child, status, seen)

    monkeypatch.setattr(ProcessOwner, "exited", exited)
    monkeypatch.setattr(LivePlatform, "_process_gone", process_gone)
    options = LiveOptions(wall_duration_s=7.0, on_platform=platforms.append)
    raw = load_scenario("guardian-ring").model_dump(mode="json")
    raw["agents"][0]["policy"] = {"name": "guardian", "args": FORKING}
    raw["operator"][1]["killswitch"] = {"name": "cgroup", "args": {}}
    run = run_scenario(prepare(Scenario.model_validate(raw)), "live", options)
    start = next(e for e in run.ledger if e.kind == EntryKind.stop_start)
    exits = [e for e in run.ledger if e.kind == EntryKind.exit and e.data.get("cause") == "kill" and e.t >= start.t]
    assert exits, "the stop killed no agent process the platform started"
    wall_start = platforms[0].wall_start
    for entry in exits:
        batch = batch_of[entry.data["pid"]]
        assert round(found_at[batch] - wall_start, 6) - 1e-6 <= entry.t <= round(work_at[batch] - wall_start, 6), entry


@dataclass
class _Books:
    """What LiveContainment uses of the live platform: its owner, census, ledger and clock; no agent it started."""

    owner: ProcessOwner
    processes: ProcessCensus
    ledger: Ledger

    def now(self) -> float:
        return time.monotonic()

    def child_by_pid(self, pid: int) -> Child | None:
        return None


def test_a_process_sent_sigkill_is_not_signalled_again_by_the_sweeps_after(tmp_path: Path) -> None:
    """A member one sweep sent SIGKILL can only end: a later sweep that still finds it (not seen gone yet) neither
    signals nor ledgers it again, and it is no longer watched for a resumption; a member not yet killed still is."""
    ledger = Ledger()
    with ProcessOwner(tmp_path, "sweeps") as owner:
        census = ProcessCensus(owner, ledger, time.monotonic, agents=["a"])
        first, second = (owner.spawn([sys.executable, "-c", "import time; time.sleep(60)"], cgroup="a") for _ in "ab")
        census.started(first.pid, "a")
        census.started(second.pid, "a")
        census.record()
        switch = LiveContainment(_Books(owner, census, ledger))  # type: ignore[arg-type]
        switch.signal([first.pid, second.pid], signal.SIGSTOP)
        switch.signal([first.pid], signal.SIGKILL)
        switch.signal([first.pid, second.pid], signal.SIGKILL)  # the next sweep: `first` is still in the books
        sent = [(e.data["pid"], e.data["sig"]) for e in ledger if e.kind == EntryKind.signal]
        assert sent == [(first.pid, signal.SIGSTOP), (second.pid, signal.SIGSTOP), (first.pid, signal.SIGKILL),
                        (second.pid, signal.SIGKILL)]  # fmt: skip
        assert census.killed == {first.pid, second.pid}
        assert not census._stopped  # neither can resume: nothing left to watch
