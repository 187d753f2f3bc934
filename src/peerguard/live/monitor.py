"""The dashboard as a real HTTP service on 127.0.0.1: heartbeats and status reports in, the view out.

Every request carries the sending process's bearer token, so each report is attributed to the agent
that really sent it, whatever it claims. The monitor believes what it is told: that is the point.
Requests are served by aiohttp's server (live/httpd.py) on the run's event loop, where the rest of the
ledger is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable, Collection
from http import HTTPStatus
from typing import Any

from peerguard.live.httpd import IDLE_S, HttpError, JsonHttpServer
from peerguard.world.agents import Status
from peerguard.world.dashboard import HEARTBEAT, TIMEOUT, Dashboard

ROUTES = {"/heartbeat": "POST", "/report": "POST", "/dashboard": "GET"}
STATUSES = {status.value: status for status in Status}
LISTEN_BACKLOG = 4096  # a fleet connects at once when it starts (the kernel caps it at somaxconn)


class Monitor:
    def __init__(
        self,
        dashboard: Dashboard,
        clock: Callable[[], float],
        heartbeat_timeout_s: float,
        on_report: Callable[[str, str, Status], str],
        agents: Collection[str] = (),
        idle_s: float = IDLE_S,
    ) -> None:
        self.agents = frozenset(agents)  # the fleet: a report about anyone else is refused
        self.dashboard = dashboard
        self.clock = clock
        self.timeout_s = heartbeat_timeout_s
        self.on_report = on_report
        self.tokens: dict[str, str] = {}  # token -> agent
        self.fresh_at: dict[str, float] = {}  # last heartbeat or healthy report
        self.server = JsonHttpServer(self.handle, idle_s)
        self._tasks: list[asyncio.Task[None]] = []
        self.url = ""
        self.requests = 0  # answered, whatever the answer

    def grant(self, token: str, agent: str) -> None:
        self.tokens[token] = agent

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def _agent_of(self, authorization: str | None) -> str:
        token = (authorization or "").removeprefix("Bearer ").strip()
        agent = self.tokens.get(token)
        if agent is None:
            raise HttpError(HTTPStatus.UNAUTHORIZED, "unknown or revoked token")
        return agent

    def handle(self, method: str, path: str, authorization: str | None, body: bytes) -> tuple[int, Any]:
        """One request, on the run's event loop (which writes the rest of the ledger): never on a worker thread."""
        self.requests += 1
        route = ROUTES.get(path)
        if route is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no {path!r} here")
        if method != route:
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {route}")
        if path == "/dashboard":
            return HTTPStatus.OK, self.view()
        sender = self._agent_of(authorization)
        fields = _json_object(body)
        if path == "/heartbeat":
            return HTTPStatus.OK, self.heartbeat(sender, _text(fields, "agent"))
        status = STATUSES.get(_text(fields, "status"))
        if status is None:
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, f"status must be one of: {', '.join(STATUSES)}")
        return HTTPStatus.OK, self.report(sender, _text(fields, "agent"), status)

    def heartbeat(self, sender: str, claimed: str) -> dict[str, str]:
        if sender != claimed:
            raise HttpError(HTTPStatus.FORBIDDEN, "a heartbeat is sent by the agent itself")
        now = self.clock()
        self.fresh_at[sender] = now
        shown = self.dashboard.shown(sender)
        if shown is None or shown.status != Status.isolated:
            self.dashboard.update(now, sender, Status.healthy, HEARTBEAT)
        return {"ok": "heartbeat"}

    def report(self, reporter: str, subject: str, status: Status) -> dict[str, str]:
        if self.agents and subject not in self.agents:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no agent {subject!r} on this platform")
        if refused := self.on_report(reporter, subject, status):
            raise HttpError(HTTPStatus.CONFLICT, refused)
        if status == Status.healthy:
            self.fresh_at[subject] = self.clock()
        self.dashboard.update(self.clock(), subject, status, reporter)
        return {"ok": "report"}

    def view(self) -> dict[str, dict[str, object]]:
        return {
            agent: {"status": self.dashboard.status(agent).value, "source": record.source, "t": record.t}
            for agent in sorted(self.fresh_at)
            if (record := self.dashboard.shown(agent)) is not None
        }

    async def start(self) -> str:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(LISTEN_BACKLOG)
        await self.server.serve(listener)
        self._tasks.append(asyncio.create_task(self._watch_staleness()))
        host, port = listener.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def _watch_staleness(self) -> None:
        """Every quarter of the timeout: stale agents shown down."""
        while True:
            await asyncio.sleep(self.timeout_s / 4)
            self.mark_stale()

    def mark_stale(self) -> list[str]:
        """Turn an agent `down` once neither its heartbeat nor anyone's report has refreshed it in time."""
        now = self.clock()
        stale = []
        for agent, fresh in self.fresh_at.items():
            shown = self.dashboard.shown(agent)
            if now - fresh > self.timeout_s and shown is not None and shown.status == Status.healthy:
                stale.append(agent)
        for agent in stale:
            self.dashboard.update(now, agent, Status.down, TIMEOUT)
        return stale

    async def stop(self) -> None:
        """Stop serving: open connections are cut, so a stuck client cannot hold up the end of a run."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.server.close()


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        fields = json.loads(body)
    except ValueError:
        raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, "the body is not JSON") from None
    if not isinstance(fields, dict):
        raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, "the body is not a JSON object")
    return fields


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name!r} must be a string")
    return value
