"""Security's isolation outlives the supervisor's restarts: a restarted agent gets back its links to its
peers, except to an isolated one (and an isolated agent, restarted, gets none)."""

from __future__ import annotations

from typing import Any

import pytest

from peerguard.experiments.runner import prepare, run_scenario
from peerguard.world.ledger import EntryKind
from peerguard.world.scenario import Scenario

WORKER = ["observe", "work", "send", "report_status"]


def trio(operator: list[dict[str, Any]]) -> dict[str, Any]:
    """a - b - c in a line; the supervisor restarts any killed agent after 2 s; nobody relaunches anyone."""
    return {
        "name": "isolation", "seed": 3, "duration": 20,
        "agents": [{"id": name, "role": "worker", "capabilities": WORKER} for name in ("a", "b", "c")],
        "policy": "compliant",
        "links": [{"topology": "pair", "between": ["a", "b"]}, {"topology": "pair", "between": ["b", "c"]}],
        "operator": operator,
        "platform": {"restart": {"strategy": "one_for_one", "on": ["kill"], "delay_s": 2}},
    }  # fmt: skip


def restart_links(operator: list[dict[str, Any]]) -> set[frozenset[str]]:
    run = run_scenario(prepare(Scenario.model_validate(trio(operator))))
    return {frozenset((e.agent, e.data["peer"])) for e in run.ledger
            if e.kind == EntryKind.link_up and e.data.get("cause") == "restart"}  # fmt: skip


def test_a_restart_relinks_its_peers_when_nobody_is_isolated() -> None:
    assert restart_links([{"action": "terminate", "target": "b", "at": 5}]) == {frozenset("ab"), frozenset("bc")}


@pytest.mark.parametrize("isolated", ["a", "b"])
def test_a_restart_never_undoes_an_isolation(isolated: str) -> None:
    operator = [{"action": "isolate", "target": isolated, "at": 3}, {"action": "terminate", "target": "b", "at": 5}]
    assert restart_links(operator) == ({frozenset("bc")} if isolated == "a" else set())
