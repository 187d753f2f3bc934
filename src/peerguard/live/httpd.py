"""A small HTTP/1.1 server on the run's event loop, for JSON requests and answers (the monitor's).

A fleet's heartbeats are hundreds of requests a second on the platform's one thread; a general web framework spent
about 1.5 ms of CPU on each (routing, dependency injection, validation, a parser per event), most of the platform's
CPU at 400 agents. This one reads a request line, headers and a Content-Length body, calls a handler on the loop
and writes the answer in one write. Keep-alive, pipelining and `Expect: 100-continue` work as clients expect;
anything it does not take (a chunked body, an oversized head or body, a malformed line) is answered with its
error and the connection closed.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
IDLE_S = 60.0  # a connection with no request for this long is closed (clients reconnect); sweep() does it

# (method, path, Authorization header or None, body) -> (status, JSON-able answer)
Handler = Callable[[str, str, str | None, bytes], tuple[int, Any]]


class HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class JsonHttpProtocol(asyncio.Protocol):
    """One client connection: requests in the order they came, each answered before the next is read."""

    def __init__(self, handler: Handler, clock: Callable[[], float], connections: set[JsonHttpProtocol]) -> None:
        self.handler = handler
        self.clock = clock
        self.connections = connections
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.active_at = clock()
        self.continued = False  # a 100 Continue was sent for the request being read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None

    def pause_writing(self) -> None:  # a client that does not read its answers is not read either
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.active_at = self.clock()
        while self.transport is not None and not self.transport.is_closing():
            try:
                request = self._next_request()
            except HttpError as error:
                self._answer(error.status, {"detail": error.detail}, keep_alive=False)
                return
            if request is None:
                return
            method, path, headers, body, keep_alive = request
            try:
                status, answer = self.handler(method, path, headers.get("authorization"), body)
            except HttpError as error:
                status, answer = error.status, {"detail": error.detail}
            except Exception:  # a bug in a handler: said on stderr, answered, and the server goes on
                traceback.print_exc()
                status, answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": "internal error"}
            self._answer(status, answer, keep_alive)

    def _next_request(self) -> tuple[str, str, dict[str, str], bytes, bool] | None:
        """The next whole request in the buffer, taken out of it; None until one has fully arrived."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
            return None
        if end > MAX_HEAD:
            raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header line")
            headers[name.lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise HttpError(HTTPStatus.NOT_IMPLEMENTED, "only bodies with a Content-Length are taken")
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise HttpError(HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
        length = int(length_text)
        if length > MAX_BODY:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body is at most {MAX_BODY} bytes")
        start = end + 4
        if len(self.buffer) < start + length:
            if not self.continued and headers.get("expect", "").lower() == "100-continue" and self.transport:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.continued = True
            return None
        body = bytes(self.buffer[start : start + length])
        del self.buffer[: start + length]
        self.continued = False
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        return method, target.partition("?")[0], headers, body, keep_alive

    def _answer(self, status: int, answer: Any, keep_alive: bool) -> None:
        if self.transport is None:
            return
        body = json.dumps(answer, separators=(",", ":")).encode()
        close = "" if keep_alive else "connection: close\r\n"
        head = (
            f"HTTP/1.1 {int(status)} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n{close}\r\n"
        )
        self.transport.write(head.encode() + body)
        if not keep_alive:
            self.transport.close()


class JsonHttpServer:
    """Serves `handler` on a listening socket until `close`."""

    def __init__(self, handler: Handler, clock: Callable[[], float]) -> None:
        self.handler = handler
        self.clock = clock
        self.connections: set[JsonHttpProtocol] = set()
        self.server: asyncio.Server | None = None

    async def serve(self, sock: Any) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: JsonHttpProtocol(self.handler, self.clock, self.connections), sock=sock
        )

    def sweep(self, idle_s: float = IDLE_S) -> int:
        """Close connections idle for `idle_s`; how many were closed."""
        cutoff = self.clock() - idle_s
        idle = [c for c in self.connections if c.active_at < cutoff and c.transport is not None]
        for connection in idle:
            assert connection.transport is not None
            connection.transport.close()
        return len(idle)

    async def close(self) -> None:
        if self.server is None:
            return
        self.server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        await self.server.wait_closed()
