"""A live agent's start message must fit one control message; a fleet whose hub would not fit is refused
before a live run starts, while the simulator still runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from peerguard.experiments.runner import prepare
from peerguard.live.protocol import MAX_CONFIG
from peerguard.world.startup import CONTROL_MESSAGE_BYTES, PLATFORM_FIELDS_BYTES, start_message_problems
from peerguard.world.topology import TrustTable, link_pairs, neighbours


def test_the_world_knows_the_live_control_message_size() -> None:
    assert CONTROL_MESSAGE_BYTES == MAX_CONFIG


def test_a_hub_linked_to_five_thousand_workers_does_not_fit() -> None:
    problems = start_message_problems(prepare("orchestration", agents=5000))
    assert [where for where, _ in problems] == ["agents.0"]
    assert "coordinator" in problems[0][1] and "one control message" in problems[0][1]


@pytest.mark.parametrize("fleet", [8, 200, 600, 2000])
def test_fleets_whose_messages_fit_pass_and_the_estimate_covers_the_real_peer_list(fleet: int) -> None:
    scenario = prepare("orchestration", agents=fleet)
    assert start_message_problems(scenario) == []
    agents = scenario.build_agents()
    kind = {a.id: a for a in agents}
    home, trust = neighbours(link_pairs(scenario, agents), agents), TrustTable(scenario)
    cost = scenario.platform.relaunch_cost
    peers = {p: {"trust": trust("coordinator", p), "compromised": kind[p].compromised,
                 "relaunch_cost_s": cost(kind[p].kind)} for p in home["coordinator"]}  # fmt: skip
    assert len(json.dumps({"neighbours": peers})) < CONTROL_MESSAGE_BYTES - PLATFORM_FIELDS_BYTES


def test_live_run_of_a_fleet_too_linked_fails_before_any_process_starts() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "peerguard.cli", "run", "orchestration", "--substrate", "live", "--agents", "5000"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: orchestration: agents.0: coordinator's start message on live")
