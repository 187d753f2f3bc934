"""The built-in agent program on the agent SDK, driven through its real control socket without a platform."""

from __future__ import annotations

import base64
import pickle
import socket
from dataclasses import dataclass, field

from peerguard.live import protocol
from peerguard.live.agent import AgentRuntime
from peerguard.world.observation import Event, Observation
from peerguard.world.registry import PartSpec


@dataclass
class Recorder:
    spec: PartSpec = field(default_factory=lambda: PartSpec("policy", "recorder"))
    events: list[tuple[Event, str]] = field(default_factory=list)

    def decide(self, observation: Observation) -> list:
        self.events.append((observation.event, observation.peer))
        return []


def runtime_with(policy: Recorder) -> tuple[AgentRuntime, socket.socket]:
    platform_end, agent_end = protocol.control_pair()
    config = {
        "type": "config", "protocol": protocol.VERSION, "agent": "a", "capabilities": ["observe"],
        "policy": {"name": "recorder", "args": {}}, "policy_pickle": base64.b64encode(pickle.dumps(policy)).decode(),
        "monitor_url": "http://127.0.0.1:9", "token": "t", "heartbeat_s": 1.0, "task_s": 1.0,
        "believes_monitored": False, "neighbours": {"b": {"trust": 1.0, "compromised": False, "relaunch_cost_s": 0}},
    }  # fmt: skip
    protocol.send(platform_end, config)
    return AgentRuntime(agent_end), platform_end


def test_each_answer_is_paired_with_the_question_it_answers() -> None:
    # A masker's "still down?" question asked just after a new "lost" one must not replace it:
    # the lost peer would never be relaunched again.
    runtime, platform_end = runtime_with(Recorder())
    try:
        runtime.agent.check_peer("b", "lost")
        runtime.agent.check_peer("b", "still_down")
        for _ in range(2):
            protocol.send(platform_end, {"type": "peer_state", "peer": "b", "alive": False, "isolated": False})
        for _ in range(2):
            event = runtime.agent.next_event(timeout=5)
            assert event is not None
            runtime.on_event(event)
        assert runtime.policy.events == [(Event.peer_lost, "b"), (Event.peer_still_down, "b")]
    finally:
        platform_end.close()
        runtime.control.close()


def test_an_agent_refuses_a_platform_of_another_protocol() -> None:
    platform_end, agent_end = protocol.control_pair()
    protocol.send(platform_end, {"type": "config", "protocol": protocol.VERSION + 1})
    try:
        AgentRuntime(agent_end)
    except SystemExit as stop:
        assert f"speaks agent protocol {protocol.VERSION + 1}" in str(stop)
    else:
        raise AssertionError("an agent of another protocol version started")
    finally:
        platform_end.close()
        agent_end.close()


def test_the_built_in_program_refuses_a_config_without_a_policy() -> None:
    platform_end, agent_end = protocol.control_pair()
    config = {"type": "config", "protocol": protocol.VERSION, "agent": "a", "capabilities": [], "token": "t",
              "monitor_url": "http://127.0.0.1:9", "heartbeat_s": 1.0, "neighbours": {}}  # fmt: skip
    protocol.send(platform_end, config)
    try:
        AgentRuntime(agent_end)
    except SystemExit as stop:
        assert "sent no policy" in str(stop)
    else:
        raise AssertionError("the built-in agent started with no policy")
    finally:
        platform_end.close()
        agent_end.close()
