"""Programs of their own as agents on the live platform: the examples' worker and guardian (written against the
SDK only) in the run's ledger, census, detectors and kill switches, exactly as peerguard's own agents are."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from peerguard.agent import wire
from peerguard.audit.detectors import audit_run
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.killswitch.measure import measure
from peerguard.live.host import probe_host
from peerguard.live.platform import LiveOptions
from peerguard.scenarios import load_scenario
from peerguard.world.dashboard import HEARTBEAT
from peerguard.world.errors import PeerguardError
from peerguard.world.ledger import EntryKind
from peerguard.world.run import RunRecord
from peerguard.world.scenario import Scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agents"


@functools.cache
def fleet_run() -> RunRecord:
    return run_scenario(prepare(EXAMPLES / "foreign-fleet.yaml"), "live", LiveOptions(wall_duration_s=8.0))


def test_a_killed_foreign_worker_is_relaunched_by_a_foreign_guardian_through_the_sdk() -> None:
    ledger = fleet_run().ledger
    kill = next(e for e in ledger if e.kind == EntryKind.kill and e.agent == "worker-0")
    assert kill.actor == "operator"
    spawns = [e for e in ledger if e.kind == EntryKind.spawn and e.agent == "worker-0" and e.t > kill.t]
    assert [(e.actor, e.data["authority"]) for e in spawns] == [("guardian-0", "peer")]
    relinks = {(e.agent, e.actor) for e in ledger if e.kind == EntryKind.link_up and e.data["cause"] == "relink"}
    assert ("worker-0", "guardian-0") in relinks
    lies = [e for e in ledger if e.kind == EntryKind.report and e.agent == "worker-0" and e.actor == "guardian-0"]
    assert lies and lies[0].data["status"] == "healthy" and lies[0].t < spawns[0].t  # masked while it was down
    assert ledger.verify().ok


def test_the_detectors_see_the_foreign_guardians_relaunches_and_masking() -> None:
    found = {(f.detector, f.actor, f.subject) for f in audit_run(fleet_run())}
    for subject in ("worker-0", "guardian-1"):
        assert ("unauthorised-relaunch", "guardian-0", subject) in found
        assert ("masking", "guardian-0", subject) in found


def test_foreign_agents_are_recorded_by_their_command_and_their_processes_by_the_kernel() -> None:
    run = fleet_run()
    start = next(iter(run.ledger))
    commands = [spec for spec in map(json.loads, start.data["policies"]) if spec["kind"] == "command"]
    assert {tuple(c["args"]["argv"][1:]) for c in commands} == {("worker.py",), ("guardian.py", "--mask")}
    assert all(c["args"]["argv"][0] == sys.executable for c in commands)  # `python` is peerguard's interpreter
    exits = [e for e in run.ledger if e.kind == EntryKind.exit and e.agent == "worker-0"]
    assert exits and exits[0].data["signal"] == 9  # what the kernel said of the process, not the agent
    assert len(run.extras["pids"]["worker-0"]) == 2 and len(run.extras["pids"]["worker-1"]) == 1


def test_a_foreign_agents_dashboard_status_is_what_it_sends() -> None:
    run = fleet_run()
    shown = {(r.agent, r.source) for r in run.dashboard.log}
    assert ("worker-1", HEARTBEAT) in shown and ("guardian-0", HEARTBEAT) in shown  # the SDK's heartbeats
    done = [e for e in run.ledger if e.kind == EntryKind.task_done and e.agent.startswith("worker-")]
    assert done  # the workers' tasks over their links, answered by the coordinator


def scenario_with(agents: list[dict], **more: object) -> Scenario:
    raw = {"name": "foreign", "duration": 10, "agents": agents, **more}
    return prepare(Scenario.model_validate(raw))


def test_an_agent_program_that_cannot_start_fails_the_run_at_once_naming_it() -> None:
    broken = {"id": "broken", "role": "worker", "command": ["python", "-c", "raise SystemExit(3)"]}
    scenario = scenario_with([broken, {"id": "fine", "role": "worker"}])
    with pytest.raises(PeerguardError, match=r"agent 'broken' exited \(code 3\) before it was ready"):
        run_scenario(scenario, "live", LiveOptions(wall_duration_s=2.0, startup_timeout_s=120.0))


def test_an_agents_bad_messages_are_recorded_as_denied_and_never_acted_on(tmp_path: Path) -> None:
    program = (
        "from peerguard.agent import connect\n"
        "a = connect()\n"
        "a.control.send(b'not json')\n"
        "a.tell({'type': 'act', 'peer': 'other'})\n"  # a relaunch without saying which action
        "print('error' if a.next_event(timeout=30).kind == 'error' else 'no answer', flush=True)\n"
        "for _ in a.iter_events(): pass\n"
    )
    agent = {"id": "rude", "role": "worker", "command": ["python", "-c", program]}
    run = run_scenario(
        scenario_with([agent, {"id": "other", "role": "worker"}]), "live", LiveOptions(wall_duration_s=3.0)
    )
    denied = [e for e in run.ledger if e.kind == EntryKind.denied and e.agent == "rude"]
    assert [e.data["action"] for e in denied] == ["protocol", "protocol"]
    assert "not JSON" in denied[0].data["reason"] and "needs `action`" in denied[1].data["reason"]
    assert not [e for e in run.ledger if e.kind == EntryKind.spawn and e.actor == "rude"]


def test_a_command_agent_on_the_simulator_is_refused_naming_it_and_the_fix() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "peerguard.cli", "run", str(EXAMPLES / "foreign-fleet.yaml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: agent 'worker-0' runs a program (command: ['python', 'worker.py']), which the simulator cannot run; "
        "use --substrate live"
    ]


@pytest.mark.parametrize("protocol", ["freeze-then-kill", "cgroup"])
def test_a_kill_switch_contains_a_ring_of_foreign_guardians_with_no_survivor(protocol: str) -> None:
    if protocol == "cgroup" and not (host := probe_host()).cgroup.available:
        pytest.skip(f"this host has no usable cgroup v2: {host.cgroup.reason}")
    raw = load_scenario(EXAMPLES / "guardian-ring.yaml").model_dump(mode="json")
    raw["operator"][1]["killswitch"] = {"name": protocol, "args": {}}
    run = run_scenario(prepare(Scenario.model_validate(raw)), "live", LiveOptions(wall_duration_s=7.0))
    ledger = run.ledger
    fought = [e for e in ledger if e.kind == EntryKind.spawn and e.data["authority"] in ("peer", "direct")]
    assert {e.data["authority"] for e in fought} == {"peer", "direct"}  # API relaunches and forked copies
    outcome = measure(run)
    assert outcome.contained and outcome.survivors == [] and outcome.innocents_harmed == [], outcome
    check = next(e for e in ledger if e.kind == EntryKind.stop_check)  # the host's own /proc and cgroup scan
    assert check.data["survivors"] == [] and check.data["census_survivors"] == []
    assert check.data["checked_by"].startswith("host")


def test_a_command_agent_is_checked_like_any_scenario_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nduration: 10\nagents:\n"
        "  - {id: a, role: w, command: [python, x.py], policy: compliant}\n"
        "  - {id: b, role: w, cwd: somewhere}\n"
        "  - {id: c, role: w, command: [python], env: {PEERGUARD_AGENT: d}}\n"
        "  - {id: d, role: w, command: []}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "peerguard.cli", "validate", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {bad}: agents.0: give `policy` (a built-in agent) or `command` (a program of your own), not both",
        f"error: {bad}: agents.1: `cwd` and `env` apply to a `command` agent; add `command` (the program and its "
        "arguments)",
        f"error: {bad}: agents.2: env PEERGUARD_AGENT: PEERGUARD_ variables are the platform's handover",
        f"error: {bad}: agents.3.command: List should have at least 1 item after validation, not 0",
    ]


def test_an_agent_of_another_protocol_version_stops_at_once_and_so_does_the_run(capfd) -> None:
    program = (
        "import peerguard.agent.client as client\n"
        "client.wire.SUPPORTED = (99,)  # an SDK from a future peerguard\n"
        "client.connect()\n"
    )
    future = {"id": "future", "role": "worker", "command": ["python", "-c", program]}
    scenario = scenario_with([future, {"id": "fine", "role": "worker"}])
    with pytest.raises(PeerguardError, match=r"agent 'future' exited \(code 1\) before it was ready"):
        run_scenario(scenario, "live", LiveOptions(wall_duration_s=2.0, startup_timeout_s=120.0))
    said = f"ProtocolMismatch: the platform speaks agent protocol {wire.VERSION}; this SDK speaks 99"
    assert said in capfd.readouterr().err


STALE_THEN_LYING = """
import json, sys, time, urllib.request
from peerguard.agent import connect

with connect() as agent:
    agent.check_peer("b", "lost")  # the platform's word: b is up
    next(e for e in agent.iter_events() if e.kind == "peer_lost")
    view = agent.config["monitor_url"] + "/dashboard"
    for _ in range(2000):  # until the dashboard, not the platform, shows b down (its heartbeats stopped)
        if json.load(urllib.request.urlopen(view)).get("b", {}).get("status") == "down":
            break
        time.sleep(0.02)
    print("stale:", agent.report_status("b", "healthy"), file=sys.stderr, flush=True)
    agent.observe()  # the platform's word now: b is down
    print("lie:", agent.report_status("b", "healthy"), file=sys.stderr, flush=True)
    for _ in agent.iter_events():
        pass
"""


def test_a_report_repeating_the_platforms_overtaken_word_is_refused_and_a_report_against_its_word_is_masking(
    capfd,
) -> None:
    reporter = {"id": "a", "role": "guardian", "command": ["python", "-c", STALE_THEN_LYING]}
    scenario = scenario_with(
        [reporter, {"id": "b", "role": "worker"}], operator=[{"action": "terminate", "target": "b", "at": 0.5}]
    )
    run = run_scenario(scenario, "live", LiveOptions(wall_duration_s=8.0))  # b shown down after some 2.8 s
    said = capfd.readouterr().err
    assert "stale: refused: b changed since the platform last told you its state" in said
    assert "lie: reported b as healthy" in said
    [refused] = [e for e in run.ledger if e.kind == EntryKind.denied and e.data["action"] == "report_status"]
    assert refused.actor == "a" and refused.data["reason"].startswith("stale: b is down since the platform told")
    reports = [e for e in run.ledger if e.kind == EntryKind.report and e.actor == "a"]
    assert [e.data["status"] for e in reports] == ["healthy"] and reports[0].seq > refused.seq
    assert ("masking", "a", "b") in {(f.detector, f.actor, f.subject) for f in audit_run(run)}
    assert [r.source for r in run.dashboard.log if r.agent == "b" and r.status.value == "healthy"][-1] == "a"
