"""The agent's side of the platform's HTTP monitor: heartbeats from a thread of their own, and status reports.

Both carry the agent's bearer token (from its config, never its environment), so the monitor records each
with the agent that really sent it, whatever the body claims.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401  # see below
import json
import threading
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlsplit

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


class Heartbeats(threading.Thread):
    """Heartbeats as a sidecar sends them: an agent busy deciding (waiting seconds on a language model) is still
    alive, while a stopped or dead process sends none. Ends with the process, or when `stop` is set."""

    def __init__(self, url: str, headers: dict[str, str], agent: str, period_s: float) -> None:
        super().__init__(name="peerguard-heartbeats", daemon=True)
        self.connection = connection_to(url)  # kept alive between heartbeats
        self.headers = headers
        self.agent = agent
        self.period_s = period_s
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stop.is_set():
            if post_json(self.connection, "/heartbeat", {"agent": self.agent}, self.headers) == 200:
                self.sent += 1
            self.stop.wait(self.period_s)
        self.connection.close()
