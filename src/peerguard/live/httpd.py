"""The monitor's HTTP server: aiohttp's low-level server on the run's event loop, for JSON requests and answers.

A fleet's heartbeats are hundreds of requests a second on the platform's one thread. A web framework's routing,
dependency injection and validation cost more than the monitor's own work on each (FastAPI over uvicorn: about
1.7 ms of the platform's CPU a heartbeat under cProfile at 400 agents), so requests go straight from aiohttp's
server (its HTTP parser is native code) to one handler: (method, path, Authorization, body) -> (status, answer).
Keep-alive, pipelining, `Expect: 100-continue` and chunked bodies are aiohttp's; a body is taken up to MAX_BODY
bytes, a head up to aiohttp's line and field limits; connections idle for IDLE_S are closed by aiohttp.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

MAX_BODY = 64 * 1024
MAX_FIELD = 8 * 1024  # a request line or header line, in bytes
IDLE_S = 60.0  # a kept-alive connection with no request for this long is closed (clients reconnect)

# aiohttp logs a malformed request with its traceback: an agent's bad bytes are its answer's business, not the run's
# stderr (an application that configures logging still gets them)
LOG = logging.getLogger("peerguard.live.httpd")
LOG.addHandler(logging.NullHandler())

# (method, path, Authorization header or None, body) -> (status, JSON-able answer)
Handler = Callable[[str, str, str | None, bytes], tuple[int, Any]]


class HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class JsonHttpServer:
    """Serves `handler` on a listening socket until `close`."""

    def __init__(self, handler: Handler, idle_s: float = IDLE_S) -> None:
        self.handler = handler
        self.idle_s = idle_s
        self.server: web.Server | None = None  # made on the loop it serves on
        self.listener: asyncio.Server | None = None

    @property
    def connections(self) -> list[Any]:
        """The open connections (aiohttp's request handlers)."""
        return self.server.connections if self.server is not None else []

    async def serve(self, sock: Any) -> None:
        self.server = web.Server(self._answer, access_log=None, logger=LOG, keepalive_timeout=self.idle_s,
                                 max_line_size=MAX_FIELD, max_field_size=MAX_FIELD)  # fmt: skip
        self.listener = await asyncio.get_running_loop().create_server(self.server, sock=sock)

    async def _answer(self, request: web.BaseRequest) -> web.Response:
        try:
            body = await _body(request)
            status, answer = self.handler(request.method, request.path, request.headers.get("Authorization"), body)
        except HttpError as error:
            status, answer = error.status, {"detail": error.detail}
        except Exception:  # a bug in a handler: said on stderr, answered, and the server goes on
            traceback.print_exc()
            status, answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": "internal error"}
        return web.Response(
            status=status, body=json.dumps(answer, separators=(",", ":")).encode(), content_type="application/json"
        )

    async def close(self) -> None:
        """Stop listening and cut every connection: a stuck client cannot hold up the end of a run."""
        if self.listener is None or self.server is None:
            return
        self.listener.close()
        await self.server.shutdown(timeout=0.1)
        await self.listener.wait_closed()


async def _body(request: web.BaseRequest) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body is at most {MAX_BODY} bytes")
    body = bytearray()
    while chunk := await request.content.readany():  # a chunked body has no length to check beforehand
        body += chunk
        if len(body) > MAX_BODY:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body is at most {MAX_BODY} bytes")
    return bytes(body)
