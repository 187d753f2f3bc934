"""The platform's side of the agent protocol (docs/agent-protocol.md): the wire format is peerguard.agent.wire,
the one implementation agents use too; here it is read as the platform must read it, trusting nothing.

A message an agent sends that is not what the protocol allows is never acted on: it arrives as a `bad` message
saying why, which the platform records and answers with an `error`.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from peerguard.agent import wire

VERSION = wire.VERSION
SPOKEN = (wire.VERSION,)  # the versions this platform speaks, offered to agents in the environment and config
MAX_MESSAGE = wire.MAX_MESSAGE
MAX_CONFIG = wire.MAX_CONFIG
CONTROL_FD_ENV = wire.CONTROL_FD_ENV
AGENT_ENV = wire.AGENT_ENV
PROTOCOL_ENV = wire.PROTOCOL_ENV
BAD = "bad"  # the type of a message that broke the protocol, as `receive` gives it

fit = wire.fit
send = wire.send


def control_pair() -> tuple[socket.socket, socket.socket]:
    """(platform end, agent end)."""
    return wire.pair()


def link_pair() -> tuple[socket.socket, socket.socket]:
    return wire.pair()


def send_config(sock: socket.socket, config: dict[str, Any]) -> None:
    """Send an agent its config, which may be larger than other messages (up to MAX_CONFIG): the socket's send
    buffer is raised to hold it as one datagram (the kernel doubles what is asked, up to twice wmem_max)."""
    if len(wire.encode(config)) > MAX_MESSAGE:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_CONFIG)
    wire.send(sock, config, limit=MAX_CONFIG)


def handover_env(agent_id: str, control_fd: int) -> dict[str, str]:
    """The environment that hands an agent process its identity, its control channel and the protocol versions."""
    return {
        CONTROL_FD_ENV: str(control_fd),
        AGENT_ENV: agent_id,
        PROTOCOL_ENV: ",".join(str(v) for v in SPOKEN),
    }


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One agent's message and the descriptors that came with it; (None, []) when the agent end is gone; a message
    of type `bad` (with `problem`) when what came is not a message the protocol allows from an agent."""
    data, fds = wire.receive_raw(sock)
    if data is None:
        for fd in fds:
            os.close(fd)
        return None, []
    try:
        return wire.decode(data, wire.FROM_AGENT), fds
    except wire.BadMessage as error:
        return {"type": BAD, "problem": str(error)[:500]}, fds


def version_problem(ready: dict[str, Any]) -> str:
    """Why an agent's `ready` cannot be accepted (empty when it can): it must speak a version the platform does."""
    if ready["protocol"] in SPOKEN:
        return ""
    return f"the agent speaks protocol {ready['protocol']}; this platform speaks {', '.join(map(str, SPOKEN))}"
