"""The dashboard's HTTP face: the page, its data as JSON and server-sent events, and the token-guarded stop.

No CORS: the page is served from here, and nothing answers another origin's preflight. A request naming another
host (DNS rebinding) or, for a control action, coming from another origin is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import secrets
import typing
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from peerguard.killswitch import KILLSWITCHES
from peerguard.killswitch.targets import Target
from peerguard.web.feed import Feed
from peerguard.web.sources import RunSource, check_protocol
from peerguard.world.registry import RegisteredPart

STATIC = files("peerguard.web") / "static"
POLL_S = 0.2  # how often a growing run is read for what it added
ROWS_PER_EVENT = 5000  # rows sent in one server-sent event
KEEPALIVE_S = 5.0  # an idle stream sends a comment this often, so a closed page is noticed
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_EMPTY = inspect.Parameter.empty  # an argument without a default


class StopRequest(BaseModel):
    """A kill switch to start on a live run: the protocol, its arguments and whom it stops."""

    model_config = ConfigDict(extra="forbid")

    protocol: str
    args: dict[str, Any] = Field(default_factory=dict)
    target: Target


def new_token() -> str:
    return secrets.token_urlsafe(18)


def create_app(
    sources: list[RunSource], token: str, allowed_hosts: set[str] | frozenset[str] | None = LOOPBACK_NAMES
) -> FastAPI:
    """The dashboard for `sources`; control actions need `token`. `allowed_hosts`: the Host names requests may
    carry (loopback names by default, so a page of another site cannot reach it by DNS rebinding); None: any, for
    a server bound beyond loopback on purpose."""
    feeds = {source.name: Feed(source) for source in sources}
    changed = {name: asyncio.Condition() for name in feeds}
    loaded = {name: asyncio.Event() for name in feeds}  # set once a feed has read its run the first time
    hosts = None if allowed_hosts is None else set(allowed_hosts) | LOOPBACK_NAMES

    async def follow() -> None:
        for name, feed in feeds.items():  # finished runs: read once
            if not feed.source.live:
                await asyncio.to_thread(feed.update, True)
                loaded[name].set()
                async with changed[name]:
                    changed[name].notify_all()
        growing = [name for name, feed in feeds.items() if feed.source.live]
        while growing:
            for name in list(growing):
                feed = feeds[name]
                grew = await asyncio.to_thread(feed.update, not loaded[name].is_set())
                loaded[name].set()
                if grew:
                    async with changed[name]:
                        changed[name].notify_all()
                if feed.done:
                    growing.remove(name)
            await asyncio.sleep(POLL_S)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(follow())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app = FastAPI(title="peerguard dashboard", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.middleware("http")
    async def same_host_only(request: Request, call_next: Any) -> Response:
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if hosts is not None and name not in hosts:
            return JSONResponse({"detail": f"host {host!r} is not this dashboard's"}, status_code=400)
        return await call_next(request)

    async def feed_of(name: str) -> Feed:
        """The run's feed, once it has read its run (a large saved run takes a moment)."""
        feed = feeds.get(name)
        if feed is None:
            raise HTTPException(404, f"no run named {name!r}; runs: {', '.join(feeds)}")
        await loaded[name].wait()
        return feed

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-store"})

    @app.get("/api/runs")
    async def runs() -> list[dict[str, Any]]:
        return [feed.header() for feed in feeds.values()]

    @app.get("/api/protocols")
    async def protocols() -> list[dict[str, Any]]:
        return [{"name": part.name, "summary": part.summary, "args": protocol_args(part)} for part in KILLSWITCHES]

    @app.get("/api/runs/{name}")
    async def run(name: str) -> dict[str, Any]:
        feed = await feed_of(name)
        return {"header": feed.header(), "analysis": feed.analysis, "now": feed.now, "done": feed.done,
                "rows": len(feed.rows)}  # fmt: skip

    @app.get("/api/runs/{name}/state")
    async def state(name: str, t: float | None = None) -> dict[str, Any]:
        """Each agent's row as it was at `t` (the latest when not given): what the page shows at that moment."""
        feed = await feed_of(name)
        at = feed.now if t is None else t
        latest: dict[int, dict[str, Any]] = {}
        for row in feed.rows[:]:
            if row["t"] > at:
                break
            latest[row["i"]] = row
        agents = feed.source.agents
        return {"t": at, "agents": [{"id": agents[i].id, **row} for i, row in sorted(latest.items())]}

    @app.get("/api/runs/{name}/entries/{seq}")
    async def entry(name: str, seq: int) -> dict[str, Any]:
        feed = await feed_of(name)
        entries = feed.source.snapshot().entries
        if not 0 <= seq < len(entries):
            raise HTTPException(404, f"no ledger entry {seq}; the ledger has {len(entries)} so far")
        return entries[seq].to_dict()

    @app.get("/api/runs/{name}/stream")
    async def stream(name: str, request: Request) -> StreamingResponse:
        feed, condition = await feed_of(name), changed[name]

        async def events() -> AsyncIterator[str]:
            sent_rows = sent_links = 0
            sent_version, sent_generation = -1, feed.generation
            yield _event("header", feed.header())
            while not await request.is_disconnected():
                if feed.generation != sent_generation:  # rebuilt from the start: the page starts over too
                    sent_rows = sent_links = 0
                    sent_generation = feed.generation
                    yield _event("reset", {})
                rows, links = feed.rows[sent_rows:], feed.links[sent_links:]
                for start in range(0, len(rows), ROWS_PER_EVENT):
                    batch = rows[start : start + ROWS_PER_EVENT]
                    yield _event("rows", {"from": sent_rows + start, "rows": batch})
                sent_rows += len(rows)
                if links:
                    yield _event("links", {"links": links})
                    sent_links += len(links)
                if feed.version != sent_version:
                    sent_version = feed.version
                    yield _event("analysis", {"now": feed.now, "header": feed.header(), **feed.analysis})
                elif feed.source.live and not feed.done:
                    yield _event("clock", {"now": feed.now, "status": feed.source.status()})
                if feed.done and sent_rows == len(feed.rows) and sent_version == feed.version:
                    yield _event("end", {"now": feed.now, "status": feed.source.status()})
                    return
                async with condition:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(condition.wait(), KEEPALIVE_S)
                yield ": keepalive\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.post("/api/runs/{name}/stop")
    async def stop(name: str, request: Request) -> dict[str, Any]:
        _check_token(request, token)
        _check_origin(request)
        feed = await feed_of(name)
        try:
            asked = StopRequest.model_validate(await request.json())
        except (ValidationError, ValueError) as error:
            raise HTTPException(422, _problem(error)) from None
        if problem := check_protocol(asked.protocol, asked.args):
            raise HTTPException(422, problem)
        if problem := feed.source.can_stop():
            raise HTTPException(409, problem)
        refused = await asyncio.to_thread(feed.source.start_stop, asked.protocol, asked.args, asked.target)
        if refused:
            raise HTTPException(409, refused)
        return {"started": True, "protocol": asked.protocol, "target": asked.target.model_dump(exclude_defaults=True)}

    return app


def protocol_args(part: RegisteredPart[Any]) -> list[dict[str, Any]]:
    """A kill switch's arguments as the page offers them: name, kind of input (bool, number, text) and default."""
    hints = typing.get_type_hints(part.factory)
    kinds = {bool: "bool", int: "number", float: "number"}
    return [
        {"name": name, "type": kinds.get(hints.get(name), "text"), "default": None if default is _EMPTY else default}
        for name, default in part.parameters().items()
    ]


def _check_token(request: Request, token: str) -> None:
    given = request.headers.get("x-peerguard-token") or ""
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given or not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "control actions need the token printed when the dashboard started",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


def _check_origin(request: Request) -> None:
    """A browser names the page's origin; a control action from a page of another origin is refused."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != own:
        raise HTTPException(403, f"control actions come from this dashboard's page only (origin {origin!r})")


def _problem(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}".replace("Value error, ", "")
    return f"the request is not JSON: {error}"


def _event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
