"""The wire format of peerguard's agent protocol: one JSON object per SEQPACKET message, a socket's file
descriptor riding along (SCM_RIGHTS) when a link is handed over, and the shape each message must have.

Standard library only: a foreign agent imports this without the rest of peerguard. docs/agent-protocol.md
is the specification; this module is its one implementation, used by the platform and by every agent.
"""

from __future__ import annotations

import json
import socket
from typing import Any

VERSION = 5  # the protocol this installation speaks; bump when a message changes (docs/agent-protocol.md)
SUPPORTED = (4, 5)  # the versions an agent of this installation can speak, newest last (5: a larger config)
MAX_MESSAGE = 65536  # bytes in one message, control channel and links alike; the config excepted (version 5)
# The config, the first message, carries one entry per linked peer: a star's hub of a thousand members needs more
# than MAX_MESSAGE. A Unix datagram must fit the sender's socket buffer, which Linux lets a process raise to twice
# net.core.wmem_max (212,992 bytes by default): 256 KiB fits everywhere. Read once, so the large buffer costs once.
MAX_CONFIG = 262144
MAX_FDS = 4  # descriptors that may ride on one message

CONTROL_FD_ENV = "PEERGUARD_CONTROL_FD"  # the agent end of its control channel, an inherited descriptor
AGENT_ENV = "PEERGUARD_AGENT"  # the agent's id; every process of an agent carries it, as the kernel shows it
PROTOCOL_ENV = "PEERGUARD_PROTOCOL"  # the versions the platform speaks, comma-separated (e.g. "4")

# Message type -> the fields it must carry and their JSON types. Extra fields are allowed (a newer minor
# addition), missing or mistyped ones make the message bad.
_STR, _INT, _BOOL, _NUM, _OBJ, _LIST = str, int, bool, (int, float), dict, list
FROM_PLATFORM: dict[str, dict[str, Any]] = {
    "config": {"protocol": _INT, "agent": _STR, "capabilities": _LIST, "monitor_url": _STR, "token": _STR,
               "heartbeat_s": _NUM, "neighbours": _OBJ},
    "link": {"peer": _STR},
    "observe": {"event": _STR, "peer": _STR},
    "peer_state": {"peer": _STR, "alive": _BOOL},
    "act_result": {"id": _INT, "outcome": _STR},
    "crash": {},
    "error": {"problem": _STR},
}  # fmt: skip
FROM_AGENT: dict[str, dict[str, Any]] = {
    "ready": {"protocol": _INT},
    "query": {"peer": _STR},
    "link_answered": {"peer": _STR},
    "task_done": {"peer": _STR},
    "act": {"action": _STR},
    "model_slot": {"id": _INT},
    "model_done": {},
    "said": {"line": _OBJ},
}
ON_LINK: dict[str, dict[str, Any]] = {
    "hello": {},
    "hello_ack": {},
    "task": {"n": _INT},
    "done": {"n": _INT},
    "msg": {"body": _STR},
}


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps with arguments builds an encoder per call
_DECODER = json.JSONDecoder()


class BadMessage(ValueError):
    """A message that is not one JSON object of a known type with the fields that type needs."""


def encode(message: dict[str, Any]) -> bytes:
    return _ENCODER.encode(message).encode()


def decode(data: bytes, shapes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The message in `data`, checked against `shapes`; BadMessage says what is wrong with it."""
    try:
        message = _DECODER.decode(data.decode("utf-8"))  # what json.loads does, less its guessing of the encoding
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadMessage(f"not JSON ({error})") from None
    if not isinstance(message, dict):
        raise BadMessage(f"a JSON {type(message).__name__}, not an object")
    kind = message.get("type")
    if kind not in shapes:
        raise BadMessage(f"unknown type {kind!r}; valid: {', '.join(shapes)}")
    for name, expected in shapes[kind].items():
        value = message.get(name)
        if not isinstance(value, expected) or (expected is _INT and isinstance(value, bool)):
            raise BadMessage(f"a {kind} message needs `{name}` ({_type_name(expected)}), got {value!r}")
    return message


def _type_name(expected: Any) -> str:
    names = {str: "string", int: "integer", bool: "boolean", dict: "object", list: "array"}
    return "number" if isinstance(expected, tuple) else names[expected]


def fit(message: dict[str, Any]) -> dict[str, Any]:
    """The message with its longest texts shortened until it fits one read (a tool's result, a transcript line
    can be any length); a shortened text ends by saying how long it was."""
    limit = 16384
    fitted = message
    while len(encode(fitted)) > MAX_MESSAGE and limit >= 16:
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


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None, limit: int = MAX_MESSAGE) -> None:
    data = encode(message)
    if len(data) > limit:
        raise ValueError(f"a {message.get('type')} message of {len(data)} bytes does not fit one read ({limit})")
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive_raw(sock: socket.socket, size: int = MAX_MESSAGE) -> tuple[bytes | None, list[int]]:
    """One message's bytes and the descriptors that came with it; (None, fds) when the other end is gone."""
    try:
        data, fds, _, _ = socket.recv_fds(sock, size, MAX_FDS)
    except (ConnectionResetError, BrokenPipeError):
        return None, []
    return (data or None), list(fds)


def pair() -> tuple[socket.socket, socket.socket]:
    """A control channel or a link: a Unix SEQPACKET socket pair (boundaries kept, descriptors carried)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
