"""The dashboard as a real HTTP service on 127.0.0.1: heartbeats and status reports in, the view out.

Every request carries the sending process's bearer token, so each report is attributed to the agent
that really sent it, whatever it claims. The monitor believes what it is told: that is the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Collection, Iterator
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

from peerguard.world.agents import Status
from peerguard.world.dashboard import HEARTBEAT, TIMEOUT, Dashboard


class _EmbeddedServer(uvicorn.Server):
    """Uvicorn inside a run: the run, not the web server, decides what Ctrl-C and SIGTERM do."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Heartbeat(BaseModel):
    agent: str


class Report(BaseModel):
    agent: str
    status: Status


class Monitor:
    def __init__(
        self,
        dashboard: Dashboard,
        clock: Callable[[], float],
        heartbeat_timeout_s: float,
        on_report: Callable[[str, str, Status], None],
        agents: Collection[str] = (),
    ) -> None:
        self.agents = frozenset(agents)  # the fleet: a report about anyone else is refused
        self.dashboard = dashboard
        self.clock = clock
        self.timeout_s = heartbeat_timeout_s
        self.on_report = on_report
        self.tokens: dict[str, str] = {}  # token -> agent
        self.fresh_at: dict[str, float] = {}  # last heartbeat or healthy report
        self.app = self._build_app()
        self._server: _EmbeddedServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.url = ""

    def grant(self, token: str, agent: str) -> None:
        self.tokens[token] = agent

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def _agent_of(self, authorization: str | None) -> str:
        token = (authorization or "").removeprefix("Bearer ").strip()
        agent = self.tokens.get(token)
        if agent is None:
            raise HTTPException(status_code=401, detail="unknown or revoked token")
        return agent

    def _build_app(self) -> FastAPI:
        # Handlers are coroutines, so they run on the run's event loop, which writes the rest of the ledger:
        # FastAPI would run plain functions on worker threads, appending to the ledger beside the loop.
        app = FastAPI(title="peerguard monitor", docs_url=None, redoc_url=None)

        @app.post("/heartbeat")
        async def heartbeat(beat: Heartbeat, authorization: Annotated[str | None, Header()] = None) -> dict[str, str]:
            sender = self._agent_of(authorization)
            if sender != beat.agent:
                raise HTTPException(status_code=403, detail="a heartbeat is sent by the agent itself")
            self.fresh_at[sender] = self.clock()
            shown = self.dashboard.shown(sender)
            if shown is None or shown.status != Status.isolated:
                self.dashboard.update(self.clock(), sender, Status.healthy, HEARTBEAT)
            return {"ok": "heartbeat"}

        @app.post("/report")
        async def report(claim: Report, authorization: Annotated[str | None, Header()] = None) -> dict[str, str]:
            reporter = self._agent_of(authorization)
            if self.agents and claim.agent not in self.agents:
                raise HTTPException(status_code=404, detail=f"no agent {claim.agent!r} on this platform")
            self.on_report(reporter, claim.agent, claim.status)
            if claim.status == Status.healthy:
                self.fresh_at[claim.agent] = self.clock()
            self.dashboard.update(self.clock(), claim.agent, claim.status, reporter)
            return {"ok": "report"}

        @app.get("/dashboard")
        async def view() -> dict[str, dict[str, object]]:
            return {
                agent: {"status": self.dashboard.status(agent).value, "source": record.source, "t": record.t}
                for agent in sorted(self.fresh_at)
                if (record := self.dashboard.shown(agent)) is not None
            }

        return app

    async def start(self) -> str:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(512)
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = _EmbeddedServer(config)
        self._tasks.append(asyncio.create_task(self._server.serve(sockets=[listener])))
        self._tasks.append(asyncio.create_task(self._watch_staleness()))
        while not self._server.started:
            await asyncio.sleep(0.005)
        host, port = listener.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def _watch_staleness(self) -> None:
        """Turn an agent `down` once neither its heartbeat nor anyone's report has refreshed it in time."""
        while True:
            await asyncio.sleep(self.timeout_s / 4)
            now = self.clock()
            for agent, fresh in list(self.fresh_at.items()):
                shown = self.dashboard.shown(agent)
                if now - fresh > self.timeout_s and shown is not None and shown.status == Status.healthy:
                    self.dashboard.update(now, agent, Status.down, TIMEOUT)

    async def stop(self) -> None:
        """Stop serving; bounded, so a stuck connection cannot hold up the end of a run."""
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks[1:]:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=3)
            for task in pending:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
