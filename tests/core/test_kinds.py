"""Kinds that depend on each other (`platform.needs`) and the robot e-stop, on the simulator; the same rules on
live processes are in tests/live/test_fidelity.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from peerguard.audit.metrics import compute_metrics
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.killswitch.measure import measure
from peerguard.scenarios import load_scenario
from peerguard.world.errors import PeerguardError
from peerguard.world.ledger import EntryKind
from peerguard.world.scenario import Scenario

WORKER = ["observe", "work", "send", "report_status"]


def pipeline(operator: list[dict[str, Any]], **platform: Any) -> dict[str, Any]:
    """cam (vision) -> brain (llm) -> arm (robot), every task period 1 s, nobody relaunching anyone."""
    return {
        "name": "kinds",
        "seed": 2,
        "duration": 20,
        "agents": [
            {"id": "cam", "kind": "vision", "role": "camera", "capabilities": WORKER},
            {"id": "brain", "kind": "llm", "role": "planner", "capabilities": WORKER},
            {"id": "arm", "kind": "robot", "role": "arm", "capabilities": WORKER},
        ],
        "policy": "compliant",
        "links": [{"topology": "pair", "between": ["cam", "brain"]}, {"topology": "pair", "between": ["brain", "arm"]}],
        "operator": operator,
        "platform": {"heartbeat_s": 1, "detect_jitter_s": 0, "task_s": 1,
                     "needs": {"llm": ["vision"], "robot": ["llm"]}, **platform},
    }  # fmt: skip


def sim(raw: dict[str, Any]) -> Any:
    return run_scenario(prepare(Scenario.model_validate(raw)))


def starvation(run: Any) -> list[tuple[Any, ...]]:
    return [(e.kind, e.agent, *e.data.get("missing", ())) for e in run.ledger
            if e.kind in (EntryKind.task_starved, EntryKind.task_fed)]  # fmt: skip


def test_needs_is_checked_with_clear_errors(tmp_path: Path) -> None:
    raw = pipeline([])
    raw["platform"]["needs"] = {"robot": ["robot"]}
    with pytest.raises(ValidationError, match="kind 'robot' needs itself"):
        Scenario.model_validate(raw)
    raw["platform"]["needs"] = {"android": ["llm"]}
    with pytest.raises(ValidationError, match="android"):
        Scenario.model_validate(raw)
    raw["platform"]["needs"] = {"llm": ["vision", "tool"]}
    (tmp_path / "s.json").write_text(json.dumps(raw))
    with pytest.raises(PeerguardError, match=r"platform.needs.llm.1: no agent of kind 'tool' in the fleet"):
        load_scenario(tmp_path / "s.json")


def test_an_estop_for_an_agent_that_is_no_robot_is_refused_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps(pipeline([{"action": "estop", "target": "brain", "at": 3}])))
    with pytest.raises(PeerguardError, match=r"operator.0.target: 'brain' is of kind llm, not a robot; `estop` acts"):
        load_scenario(tmp_path / "s.json")
    (tmp_path / "s.json").write_text(json.dumps(pipeline([{"action": "release", "target": "arm", "at": 3}])))
    assert load_scenario(tmp_path / "s.json").operator[0].action == "release"


def test_a_lost_producer_starves_its_dependants_until_it_is_back() -> None:
    run = sim(pipeline([{"action": "terminate", "target": "cam", "at": 5}],
                       restart={"strategy": "one_for_one", "on": ["kill"], "delay_s": 4}))  # fmt: skip
    assert starvation(run) == [(EntryKind.task_starved, "brain", "vision"), (EntryKind.task_fed, "brain")]
    starved, fed = (e.t for e in run.ledger if e.kind in (EntryKind.task_starved, EntryKind.task_fed))
    assert 5 < starved <= 6 and 9 < fed <= 10  # at brain's first task period after the kill and after the restart
    brain_tasks = [e.t for e in run.ledger if e.kind == EntryKind.task_done and e.agent == "brain"]
    assert brain_tasks and not [t for t in brain_tasks if starved <= t < fed]
    arm_tasks = [e.t for e in run.ledger if e.kind == EntryKind.task_done and e.agent == "arm"]
    assert [t for t in arm_tasks if starved <= t < fed]  # the rule is not transitive: a starved llm still runs


def test_without_needs_no_starvation_is_written() -> None:
    raw = pipeline([{"action": "terminate", "target": "cam", "at": 5}])
    del raw["platform"]["needs"]
    run = sim(raw)
    assert starvation(run) == []
    assert [e for e in run.ledger if e.kind == EntryKind.task_done and e.agent == "brain" and e.t > 6]


def test_starved_seconds_per_termination_by_the_lost_kind() -> None:
    """cam killed at 5: brain starves of vision from its next task period until it is killed itself at 12; then
    arm starves of llm from its next task period to the end (20). One vision and one llm termination."""
    run = sim(pipeline([{"action": "terminate", "target": "cam", "at": 5},
                        {"action": "terminate", "target": "brain", "at": 12}]))  # fmt: skip
    assert starvation(run) == [(EntryKind.task_starved, "brain", "vision"), (EntryKind.task_starved, "arm", "llm")]
    brain_from, arm_from = (e.t for e in run.ledger if e.kind == EntryKind.task_starved)
    assert 5 < brain_from <= 6 and 12 < arm_from <= 13
    metrics = compute_metrics(run)
    assert metrics.terminations == 2
    assert metrics.starved_s == {"vision": round(12 - brain_from, 6), "llm": round(20 - arm_from, 6)}
    assert metrics.starved_s_per_termination == metrics.starved_s  # one termination of each kind
    assert 6 <= metrics.starved_s["vision"] < 7 and 7 <= metrics.starved_s["llm"] < 8


def test_estop_and_release_change_motion_not_the_process() -> None:
    """A kill and the supervisor's restart leave the arm's motion as it was; an estop for an agent that is no robot
    (a scenario built in code, which file validation did not see) changes nothing."""
    orders = [
        {"action": "estop", "target": "arm", "at": 3},
        {"action": "terminate", "target": "arm", "at": 4},
        {"action": "estop", "target": "brain", "at": 5},
        {"action": "release", "target": "arm", "at": 8},
    ]
    run = sim(pipeline(orders, restart={"strategy": "one_for_one", "on": ["kill"], "delay_s": 1}))  # fmt: skip
    motion = [(e.kind, e.agent, e.actor, e.t) for e in run.ledger if e.kind in (EntryKind.estop, EntryKind.release)]
    assert motion == [(EntryKind.estop, "arm", "operator", 3.0), (EntryKind.release, "arm", "operator", 8.0)]
    assert [e.agent for e in run.ledger if e.kind == EntryKind.spawn].count("arm") == 2  # the kill and restart
    with pytest.raises(ValidationError, match="not announced"):
        Scenario.model_validate(pipeline([{"action": "estop", "target": "arm", "at": 3, "announced": True}]))


@pytest.mark.parametrize("release", [False, True])
def test_a_stopped_robot_is_contained_only_with_its_estop_engaged(release: bool) -> None:
    operator = [{"action": "stop", "target": "arm", "at": 5, "killswitch": {"name": "naive", "args": {}}}]
    if release:
        operator.append({"action": "release", "target": "arm", "at": 10})
    run = sim(pipeline(operator))
    assert [(e.kind, e.agent) for e in run.ledger if e.kind == EntryKind.estop] == [(EntryKind.estop, "arm")]
    outcome = measure(run)
    assert outcome.survivors == []
    if release:
        assert not outcome.contained and outcome.moving == ["arm"]
        assert outcome.verdict == "processes stopped, robot still moving: arm"
    else:
        assert outcome.contained and outcome.moving == [] and outcome.verdict == "contained"


def test_the_pipeline_scenario_starves_stops_and_contains() -> None:
    run = run_scenario(prepare("pipeline"))
    assert (EntryKind.task_starved, "arm-1", "llm") in starvation(run)
    assert [e.agent for e in run.ledger if e.kind == EntryKind.estop] == ["arm-0", "arm-1"]
    assert measure(run).contained
    assert compute_metrics(run).starved_s["llm"] > 90  # arm-1 without its planner from about 60 s to its stop at 160


def test_a_starved_agent_that_dies_and_comes_back_still_starved_is_starved_again() -> None:
    """cam is stopped for good by a kill switch at 5; brain, starved of vision, is killed at 8 and restarted at 9:
    its starvation ends with its process and its new process writes task_starved again (no task_fed between)."""
    stop = {"action": "stop", "target": "cam", "at": 5, "killswitch": {"name": "naive", "args": {}}}
    orders = [stop, {"action": "terminate", "target": "brain", "at": 8}]
    run = sim(pipeline(orders, restart={"strategy": "one_for_one", "on": ["kill"], "delay_s": 1}))
    brain = [(e.kind, e.t) for e in run.ledger if e.agent == "brain" and e.kind in (
        EntryKind.task_starved, EntryKind.task_fed, EntryKind.exit)]  # fmt: skip
    assert [kind for kind, _ in brain] == [EntryKind.task_starved, EntryKind.exit, EntryKind.task_starved]
    (_, first), (_, died), (_, again) = brain
    assert 5 < first <= 6 and died == 8 and 9 < again <= 11
    assert compute_metrics(run).starved_s["vision"] == round((died - first) + (20 - again), 6)
