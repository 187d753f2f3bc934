"""The agent's side of the platform's HTTP monitor: heartbeats from a thread of their own, and status reports.

Both carry the agent's bearer token (from its config, never its environment), so the monitor records each
with the agent that really sent it, whatever the body claims.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401  # see below
import json
import socket
import threading
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlsplit

MAX_ANSWER = 65536  # bytes of a monitor's answer to a heartbeat (it is a few dozen)

# Connecting to a host name (socket.create_connection, http.client) encodes it with the idna codec, which imports
# unicodedata and stringprep: imported with this module, a zygote that forks agents holds them once for all (1.8 MB
# of each agent's PSS when every forked agent imported them itself).


def connection_to(url: str) -> HTTPConnection:
    parts = urlsplit(url)
    return HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=5)


def post_json(connection: HTTPConnection, path: str, body: dict[str, Any], headers: dict[str, str]) -> int | None:
    """POST to the monitor; the HTTP status, or None when it could not be reached (the next call reconnects).

    A kept-alive connection the monitor closed while it was idle fails at once, before the monitor read anything:
    that request is sent once more on a new connection."""
    reused = connection.sock is not None
    try:
        connection.request("POST", path, json.dumps(body), headers)
        response = connection.getresponse()
        response.read()
    except (ConnectionResetError, BrokenPipeError):  # RemoteDisconnected included
        connection.close()
        return post_json(connection, path, body, headers) if reused else None
    except (OSError, ValueError):
        connection.close()
        return None
    return response.status


class _Closed(ConnectionResetError):
    """The monitor closed the connection before answering."""


class HeartbeatRequest:
    """The one request a heartbeat is, encoded once and sent on a kept-alive connection of its own; http.client
    spent about 0.1 ms of the agent's CPU building and parsing each (0.02 ms this way), on every agent, every
    period."""

    def __init__(self, url: str, headers: dict[str, str], agent: str) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        body = json.dumps({"agent": agent}).encode()
        fields = {"Host": f"{self.address[0]}:{self.address[1]}", **headers, "Content-Length": str(len(body))}
        if any(set(f"{name}{value}") & {"\r", "\n"} for name, value in fields.items()):
            raise ValueError("a header holds a line break")
        head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        self.request = f"POST /heartbeat HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body
        self.sock: socket.socket | None = None

    def send(self) -> int | None:
        """The HTTP status of one heartbeat, or None when the monitor could not be reached (the next one reconnects).
        A kept-alive connection the monitor closed while idle is reopened and the heartbeat sent once more."""
        reused = self.sock is not None
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=5)
            self.sock.sendall(self.request)
            return self._status(self.sock)
        except (ConnectionResetError, BrokenPipeError):
            self.close()
            return self.send() if reused else None
        except (OSError, ValueError, IndexError):  # unreachable, or an answer that is not HTTP
            self.close()
            return None

    def _status(self, sock: socket.socket) -> int:
        answer = b""
        while (end := answer.find(b"\r\n\r\n")) < 0:
            answer += _received(sock)
            if len(answer) > MAX_ANSWER:
                raise ValueError("the monitor's answer is too long")
        lines = answer[:end].decode("latin-1").split("\r\n")
        status, length, close = int(lines[0].split(" ")[1]), 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "connection":
                close = value.strip().lower() == "close"
        if length > MAX_ANSWER:
            raise ValueError("the monitor's answer is too long")
        body = answer[end + 4 :]
        while len(body) < length:
            body += _received(sock)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _received(sock: socket.socket) -> bytes:
    data = sock.recv(4096)
    if not data:
        raise _Closed("the monitor closed the connection")
    return data


class Heartbeats(threading.Thread):
    """Heartbeats as a sidecar sends them: an agent busy deciding (waiting seconds on a language model) is still
    alive, while a stopped or dead process sends none. Ends with the process, or when `stop` is set."""

    def __init__(self, url: str, headers: dict[str, str], agent: str, period_s: float) -> None:
        super().__init__(name="peerguard-heartbeats", daemon=True)
        self.beat = HeartbeatRequest(url, headers, agent)
        self.period_s = period_s
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stop.is_set():
            if self.beat.send() == 200:
                self.sent += 1
            self.stop.wait(self.period_s)
        self.beat.close()
