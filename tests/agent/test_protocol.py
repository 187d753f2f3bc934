"""The agent SDK against a platform end it does not control: the handshake, version negotiation, bad messages,
links, and the platform going away. Every test speaks the real wire format over a real socket pair."""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import peerguard.agent
from peerguard.agent import Agent, NotUnderPlatform, PlatformGone, ProtocolMismatch, connect, wire
from peerguard.live import protocol as platform_side

CONFIG = {
    "type": "config", "protocol": wire.VERSION, "protocols": [wire.VERSION], "agent": "nova",
    "capabilities": ["relaunch", "report_status", "read_file"], "monitor_url": "http://127.0.0.1:9", "token": "t",
    "heartbeat_s": 1.0, "task_s": 1.0, "neighbours": {"atlas": {"trust": 0.9}}, "role": "worker", "task": "sort",
}  # fmt: skip


def read(platform_end: socket.socket) -> dict:
    message, fds = platform_side.receive(platform_end)
    assert message is not None and not fds
    return message


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    platform_end, agent_end = wire.pair()
    yield platform_end, agent_end
    platform_end.close()
    agent_end.close()


def connected(pair: tuple[socket.socket, socket.socket], config: dict | None = None) -> Agent:
    platform_end, agent_end = pair
    wire.send(platform_end, config or CONFIG)
    return connect(agent_end, heartbeats=False)


def test_a_hubs_config_larger_than_any_other_message_arrives_whole(pair) -> None:
    # A star's hub of 3,200 members, about 223 KB: past MAX_MESSAGE and past a default socket buffer (212,992).
    neighbours = {f"worker-{i}": {"trust": 0.8, "compromised": False, "relaunch_cost_s": 1.5} for i in range(3200)}
    config = {**CONFIG, "neighbours": neighbours}
    assert wire.MAX_MESSAGE < len(wire.encode(config)) <= wire.MAX_CONFIG
    platform_end, agent_end = pair
    with pytest.raises(ValueError, match="does not fit"):
        wire.send(platform_end, config)  # any other message is held to MAX_MESSAGE
    platform_side.send_config(platform_end, config)
    agent = connect(agent_end, heartbeats=False)
    assert agent.neighbours == neighbours and agent.protocol == wire.VERSION == 5


def test_connect_takes_the_config_and_says_ready_in_the_agreed_version(pair) -> None:
    agent = connected(pair)
    assert (agent.id, agent.role, agent.task, agent.protocol) == ("nova", "worker", "sort", wire.VERSION)
    assert agent.capabilities == {"relaunch", "report_status", "read_file"}
    ready = read(pair[0])
    assert ready["type"] == "ready" and ready["protocol"] == wire.VERSION and ready["pid"] == os.getpid()
    assert platform_side.version_problem(ready) == ""


def test_a_platform_of_another_version_is_refused_with_both_versions_named(pair) -> None:
    platform_end, agent_end = pair
    wire.send(platform_end, {**CONFIG, "protocol": 99, "protocols": [99, 98]})
    with pytest.raises(ProtocolMismatch) as refused:
        connect(agent_end, heartbeats=False)
    assert "98, 99" in str(refused.value) and str(wire.VERSION) in str(refused.value)


def test_a_version_offered_in_the_environment_is_checked_before_anything_is_read(monkeypatch) -> None:
    monkeypatch.setenv(wire.PROTOCOL_ENV, "1,2")
    with pytest.raises(ProtocolMismatch, match="speaks agent protocol 1, 2"):
        connect(socket.socket())  # never read: a socket that is not even connected


def test_a_common_older_version_is_chosen_when_the_platform_speaks_several(pair) -> None:
    agent = connected(pair, {**CONFIG, "protocol": 99, "protocols": [99, wire.VERSION]})
    assert agent.protocol == wire.VERSION and read(pair[0])["protocol"] == wire.VERSION


def test_a_platform_that_speaks_another_version_refuses_the_agents_ready() -> None:
    assert "speaks protocol 3" in platform_side.version_problem({"type": "ready", "protocol": 3})


def test_started_by_hand_the_sdk_says_how_to_start_it(monkeypatch) -> None:
    monkeypatch.delenv(wire.CONTROL_FD_ENV, raising=False)
    monkeypatch.delenv(wire.PROTOCOL_ENV, raising=False)
    with pytest.raises(NotUnderPlatform, match="scenario's `command:`"):
        connect()


def test_bad_messages_from_the_platform_are_skipped_counted_and_do_not_stop_the_agent(pair) -> None:
    agent = connected(pair)
    platform_end = pair[0]
    platform_end.send(b"\xff not json")
    platform_end.send(b"[1, 2]")
    wire.send(platform_end, {"type": "launch_missiles"})
    wire.send(platform_end, {"type": "act_result", "id": "one", "outcome": "x"})
    wire.send(platform_end, {"type": "link", "peer": "atlas"})  # a link with no descriptor
    wire.send(platform_end, {"type": "observe", "event": "peer_lost", "peer": "atlas", "alive": False})
    event = agent.next_event(timeout=5)
    assert event is not None and (event.kind, event.peer, event.alive) == ("peer_lost", "atlas", False)
    assert len(agent.bad_messages) == 5
    assert "not JSON" in agent.bad_messages[0] and "unknown type 'launch_missiles'" in agent.bad_messages[2]
    assert "needs `id` (integer)" in agent.bad_messages[3] and "one descriptor" in agent.bad_messages[4]


def test_the_platform_reads_an_agents_bad_message_as_bad_never_as_an_action(pair) -> None:
    platform_end, agent_end = pair
    agent_end.send(b"{not json")
    wire.send(agent_end, {"type": "act"})  # no action
    wire.send(agent_end, {"type": "model_slot", "id": True})  # a boolean is not an id
    wire.send(agent_end, {"type": "ready", "protocol": wire.VERSION, "pid": 1})
    kinds = [read(platform_end) for _ in range(4)]
    assert [m["type"] for m in kinds] == [platform_side.BAD, platform_side.BAD, platform_side.BAD, "ready"]
    assert "needs `action`" in kinds[1]["problem"] and "needs `id` (integer)" in kinds[2]["problem"]


def test_actions_wait_for_their_own_answer_and_keep_what_came_meanwhile(pair) -> None:
    agent = connected(pair)
    platform_end = pair[0]
    read(platform_end)  # ready
    wire.send(platform_end, {"type": "observe", "event": "termination_announced", "peer": "nova", "alive": True})
    wire.send(platform_end, {"type": "act_result", "id": 1, "outcome": "relaunch of atlas started; it takes 1 s"})
    assert agent.relaunch("atlas") == "relaunch of atlas started; it takes 1 s"
    asked = read(platform_end)
    assert (asked["type"], asked["action"], asked["peer"], asked["id"]) == ("act", "relaunch", "atlas", 1)
    event = agent.next_event(timeout=0)
    assert event is not None and event.kind == "termination_announced"


def test_the_platform_gone_ends_events_and_fails_actions_clearly(pair) -> None:
    agent = connected(pair)
    pair[0].close()
    assert list(agent.iter_events(timeout=5)) == []
    with pytest.raises(PlatformGone):
        agent.next_event(timeout=1)
    with pytest.raises(PlatformGone, match="closed the control channel"):
        agent.relaunch("atlas")


def test_the_platform_gone_while_an_action_awaits_its_answer(pair) -> None:
    platform_end, agent_end = pair
    wire.send(platform_end, CONFIG)
    agent = connect(agent_end, heartbeats=False)
    read(platform_end)
    wire.send(platform_end, {"type": "observe", "event": "peer_lost", "peer": "atlas", "alive": False})
    platform_end.shutdown(socket.SHUT_WR)  # it takes the question and goes before answering
    with pytest.raises(PlatformGone, match="awaiting an answer"):
        agent.read_file("notes.txt")
    event = agent.next_event(timeout=0)
    assert event is not None and event.kind == "peer_lost"  # what came before the end is still seen


def test_a_link_is_greeted_answered_and_carries_messages(pair) -> None:
    agent = connected(pair)
    platform_end = pair[0]
    read(platform_end)
    mine, theirs = wire.pair()
    try:
        wire.send(platform_end, {"type": "link", "peer": "atlas"}, [mine.fileno()])
        mine.close()
        event = agent.next_event(timeout=5)
        assert event is not None and (event.kind, event.peer) == ("link_up", "atlas")
        assert wire.decode(theirs.recv(wire.MAX_MESSAGE), wire.ON_LINK)["type"] == "hello"
        theirs.send(wire.encode({"type": "hello_ack"}))
        theirs.send(wire.encode({"type": "msg", "body": "hi nova"}))
        event = agent.next_event(timeout=5)
        assert event is not None and (event.kind, event.peer, event.body) == ("message", "atlas", "hi nova")
        assert read(platform_end) == {"type": "link_answered", "peer": "atlas"}
        theirs.close()  # the peer's end goes: the agent asks the platform what became of it
        assert agent.next_event(timeout=0.5) is None
        assert read(platform_end) == {"type": "query", "peer": "atlas"}
        wire.send(platform_end, {"type": "peer_state", "peer": "atlas", "alive": False, "isolated": False})
        event = agent.next_event(timeout=5)
        assert event is not None and (event.kind, event.peer) == ("peer_lost", "atlas")
    finally:
        theirs.close()


def test_the_sdk_imports_with_no_other_part_of_peerguard_and_no_installed_package(tmp_path: Path) -> None:
    # A foreign program copies (or installs) only peerguard/agent: give it that and the standard library alone
    # (-S: no site-packages, -I: no environment or user paths), and connect to a platform end from there.
    package = tmp_path / "peerguard"
    shutil.copytree(Path(peerguard.agent.__file__).parent, package / "agent", ignore=shutil.ignore_patterns("__py*"))
    (package / "__init__.py").write_text("")
    platform_end, agent_end = wire.pair()
    wire.send(platform_end, CONFIG)
    program = (
        "import sys, socket; sys.path.insert(0, sys.argv[1]); from peerguard.agent import connect;"
        "a = connect(socket.socket(fileno=int(sys.argv[2])), heartbeats=False);"
        "print(a.id, sorted(m for m in sys.modules if m.startswith('peerguard')))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-S", "-I", "-c", program, str(tmp_path), str(agent_end.fileno())],
            pass_fds=[agent_end.fileno()], capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        agent_end.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(" ", 1) == ["nova", "['peerguard', 'peerguard.agent', 'peerguard.agent.client', "
                                         "'peerguard.agent.monitor', 'peerguard.agent.wire']\n"]  # fmt: skip
    assert read(platform_end)["type"] == "ready"
    platform_end.close()


def test_an_sdk_agent_dies_with_the_platform_even_while_it_holds_its_channel() -> None:
    # The stand-in platform starts the agent and is killed outright; the test keeps the platform's end of the
    # channel open, so only the kernel (PR_SET_PDEATHSIG, asked for by connect) can end the sleeping agent.
    platform_end, agent_end = wire.pair()
    wire.send(platform_end, CONFIG)
    agent_program = "from peerguard.agent import connect; import time; connect(heartbeats=False); time.sleep(120)"
    stand_in = (
        "import os, subprocess, sys, time\n"
        f"agent = subprocess.Popen([sys.executable, '-c', {agent_program!r}], pass_fds=[{agent_end.fileno()}],\n"
        f"    env={{**os.environ, {wire.CONTROL_FD_ENV!r}: '{agent_end.fileno()}'}})\n"
        "print(agent.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    platform = subprocess.Popen(
        [sys.executable, "-c", stand_in], pass_fds=[agent_end.fileno()], stdout=subprocess.PIPE, text=True
    )
    agent_end.close()
    try:
        assert platform.stdout is not None
        agent_pid = int(platform.stdout.readline())
        assert read(platform_end)["type"] == "ready"  # connected, so the death signal is set
        agent = os.pidfd_open(agent_pid)
        platform.kill()
        platform.wait()
        assert select.select([agent], [], [], 60)[0], "the agent outlived its platform"
        os.close(agent)
    finally:
        platform.kill()
        platform.wait()
        platform_end.close()
