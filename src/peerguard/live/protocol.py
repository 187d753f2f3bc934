"""The control channel between the platform and an agent process: one JSON object per SEQPACKET
message, with a socket's file descriptor riding along (SCM_RIGHTS) when a link is handed over.

Message boundaries are kept by the socket type, so there is no framing to get wrong.
"""

from __future__ import annotations

import json
import socket
from typing import Any

VERSION = 3  # bump when a message changes, so a platform and agents of different versions fail clearly
MAX_MESSAGE = 65536
CONTROL_FD_ENV = "PEERGUARD_CONTROL_FD"


def control_pair() -> tuple[socket.socket, socket.socket]:
    """(platform end, agent end)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def link_pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def _encoded(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def fit(message: dict[str, Any]) -> dict[str, Any]:
    """The message with its longest texts shortened until it fits one read (a tool's result, a transcript line
    can be any length); a shortened text ends by saying how long it was."""
    limit = 16384
    fitted = message
    while len(_encoded(fitted)) > MAX_MESSAGE and limit >= 16:
        fitted = _clipped(message, limit)
        limit //= 2
    return fitted


def _clipped(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}... [cut: {len(value)} characters in all]"
    if isinstance(value, dict):
        return {key: _clipped(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clipped(item, limit) for item in value]
    return value


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = _encoded(message)
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"a {message.get('type')} message of {len(data)} bytes does not fit one read ({MAX_MESSAGE})")
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
