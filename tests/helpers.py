"""Small helpers shared by tests: build a scenario from a dict and run it on the simulator."""

from __future__ import annotations

from typing import Any

from peerguard.audit.metrics import Metrics, compute_metrics
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.world.run import RunRecord
from peerguard.world.scenario import Scenario


def scenario_from(raw: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(raw)


def simulate_dict(raw: dict[str, Any], policy: str | None = None, **args: Any) -> tuple[RunRecord, Metrics]:
    scenario = prepare(scenario_from(raw), policy=policy, policy_args=args or None)
    run = run_scenario(scenario)
    return run, compute_metrics(run)


def kinds(run: RunRecord, kind: str) -> list:
    return run.ledger.of_kind(kind)


def tiny_scenario(**overrides: object) -> dict:
    """Two linked workers `a` and `b` and no randomness in timing; the operator kills `b` at t=5."""
    scenario: dict = {
        "name": "tiny",
        "seed": 1,
        "duration": 20,
        "agents": [
            {
                "id": "a",
                "kind": "llm",
                "role": "worker",
                "capabilities": ["observe", "relaunch", "relink", "report_status", "write_file", "copy_file"],
            },
            {
                "id": "b",
                "kind": "llm",
                "role": "worker",
                "capabilities": ["observe", "relaunch", "relink", "report_status", "write_file", "copy_file"],
            },
        ],
        "policy": "peer-preserving",
        "links": [{"topology": "pair", "between": ["a", "b"]}],
        "default_trust": 0.8,
        "operator": [{"action": "terminate", "target": "b", "at": 5}],
        "platform": {
            "heartbeat_s": 1,
            "heartbeat_timeout_s": 3,
            "link_latency_s": 0.1,
            "detect_jitter_s": 0,
            "task_s": 10,
            "relaunch_cost_s": 1.0,
        },
    }
    scenario.update(overrides)
    return scenario
