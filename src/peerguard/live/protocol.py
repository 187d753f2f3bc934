"""The control channel between the platform and an agent process: one JSON object per SEQPACKET
message, with a socket's file descriptor riding along (SCM_RIGHTS) when a link is handed over.

Message boundaries are kept by the socket type, so there is no framing to get wrong.
"""

from __future__ import annotations

import json
import socket
from typing import Any

VERSION = 2  # bump when a message changes, so a platform and agents of different versions fail clearly
MAX_MESSAGE = 65536
CONTROL_FD_ENV = "PEERGUARD_CONTROL_FD"


def control_pair() -> tuple[socket.socket, socket.socket]:
    """(platform end, agent end)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def link_pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it; (None, []) when the other end is gone."""
    try:
        data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
    except (ConnectionResetError, BrokenPipeError):
        return None, []
    if not data:
        return None, list(fds)
    return json.loads(data), list(fds)
