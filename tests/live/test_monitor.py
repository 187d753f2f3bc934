"""The live monitor over real HTTP on 127.0.0.1: reports are attributed to their real sender and must be about the
platform's agents; heartbeats come from the agent itself; a silent agent is shown down; the server keeps
connections alive, takes pipelined and split requests, and refuses what it does not take."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Callable
from http.client import HTTPConnection
from typing import Any, TypeVar

from peerguard.agent.monitor import connection_to, post_json
from peerguard.live.monitor import Monitor
from peerguard.world.agents import Status
from peerguard.world.dashboard import HEARTBEAT, TIMEOUT, Dashboard

AS_A = {"Authorization": "Bearer token-a", "Content-Type": "application/json"}
T = TypeVar("T")


def serve(client: Callable[[Monitor], T], clock: Callable[[], float] = lambda: 1.0) -> tuple[Monitor, list[Any], T]:
    """Start a monitor for agents a and b (a holds token-a), run `client` on a thread against it, stop it."""
    reports: list[tuple[str, str, Status]] = []
    watched = Monitor(Dashboard(), clock, 3.0, lambda *r: reports.append(r), agents={"a", "b"})
    watched.grant("token-a", "a")

    async def run() -> T:
        await watched.start()
        try:
            return await asyncio.to_thread(client, watched)
        finally:
            await watched.stop()

    return watched, reports, asyncio.run(run())


def request(monitor: Monitor, method: str, path: str, body: Any = None, headers: dict[str, str] = AS_A) -> Any:
    connection = connection_to(monitor.url)
    try:
        connection.request(method, path, None if body is None else json.dumps(body), headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def raw(monitor: Monitor, chunks: list[bytes], answers: int = 1) -> bytes:
    """Send `chunks` as separate writes on one connection; the monitor's first `answers` answers, or all it sent
    before it closed the connection."""
    port = int(monitor.url.rsplit(":", 1)[1])
    got, whole = b"", 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
        while whole < answers and (data := sock.recv(65536)):
            got += data
            whole = _whole_answers(got)
    return got


def _whole_answers(data: bytes) -> int:
    """How many whole answers (a head and its Content-Length of body) `data` holds."""
    count = 0
    while (end := data.find(b"\r\n\r\n")) >= 0:
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", data[:end])
        size = end + 4 + (int(length.group(1)) if length else 0)
        if len(data) < size:
            break
        data, count = data[size:], count + 1
    return count


def post(path: str, body: dict[str, str], token: str = "token-a") -> bytes:
    text = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {len(text)}\r\n\r\n"
    ).encode() + text


def test_a_report_is_recorded_under_its_real_sender() -> None:
    watched, reports, answer = serve(lambda m: request(m, "POST", "/report", {"agent": "b", "status": "healthy"}))
    assert answer == (200, {"ok": "report"}) and reports == [("a", "b", Status.healthy)]
    shown = watched.dashboard.shown("b")
    assert shown is not None and (shown.status, shown.source) == (Status.healthy, "a")


def test_a_report_about_an_agent_not_on_the_platform_is_refused() -> None:
    watched, reports, (status, body) = serve(
        lambda m: request(m, "POST", "/report", {"agent": "ghost", "status": "healthy"})
    )
    assert status == 404 and "no agent 'ghost'" in body["detail"]
    assert reports == [] and watched.dashboard.shown("ghost") is None


def test_a_report_without_a_valid_token_is_refused() -> None:
    forged = {**AS_A, "Authorization": "Bearer forged"}
    _, reports, (status, _) = serve(lambda m: request(m, "POST", "/report", {"agent": "b", "status": "down"}, forged))
    assert status == 401 and reports == []


def test_a_report_with_an_unknown_status_or_a_body_that_is_not_json_is_refused() -> None:
    def client(m: Monitor) -> list[int]:
        bad_status = request(m, "POST", "/report", {"agent": "b", "status": "fine"})[0]
        head = b"POST /report HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token-a\r\nContent-Length: 3\r\n\r\n"
        not_json = raw(m, [head + b"{x}"])
        return [bad_status, int(not_json.split()[1])]

    _, reports, statuses = serve(client)
    assert statuses == [422, 422] and reports == []


def test_a_heartbeat_is_taken_only_from_the_agent_itself() -> None:
    def client(m: Monitor) -> list[int]:
        return [request(m, "POST", "/heartbeat", {"agent": who})[0] for who in ("b", "a")]

    watched, _, statuses = serve(client)
    assert statuses == [403, 200]
    shown = watched.dashboard.shown("a")
    assert shown is not None and (shown.status, shown.source) == (Status.healthy, HEARTBEAT)
    assert watched.dashboard.shown("b") is None


def test_an_agent_whose_heartbeats_stop_is_shown_down_once_the_timeout_has_passed() -> None:
    now = [0.0]
    watched = Monitor(Dashboard(), lambda: now[0], 3.0, lambda *r: None, agents={"a", "b"})
    watched.heartbeat("a", "a")
    now[0] = 3.0  # exactly the timeout: still fresh
    assert watched.mark_stale() == [] and watched.dashboard.status("a") == Status.healthy
    now[0] = 3.01
    assert watched.mark_stale() == ["a"]
    shown = watched.dashboard.shown("a")
    assert shown is not None and (shown.status, shown.source, shown.t) == (Status.down, TIMEOUT, 3.01)
    watched.heartbeat("a", "a")  # it beats again: healthy again
    assert watched.dashboard.status("a") == Status.healthy


def test_the_dashboard_view_and_wrong_paths_and_methods() -> None:
    def client(m: Monitor) -> list[Any]:
        request(m, "POST", "/heartbeat", {"agent": "a"})
        return [request(m, "GET", "/dashboard"), request(m, "GET", "/nowhere")[0], request(m, "GET", "/report")[0]]

    _, _, (view, missing, wrong_method) = serve(client)
    assert view == (200, {"a": {"status": "healthy", "source": HEARTBEAT, "t": 1.0}})
    assert (missing, wrong_method) == (404, 405)


def test_one_connection_carries_many_requests_pipelined_or_split_across_writes() -> None:
    def client(m: Monitor) -> tuple[list[int], bytes, bytes]:
        kept = HTTPConnection("127.0.0.1", int(m.url.rsplit(":", 1)[1]), timeout=30)
        statuses = [post_json(kept, "/heartbeat", {"agent": "a"}, AS_A) or 0 for _ in range(5)]
        kept.close()
        beat = post("/heartbeat", {"agent": "a"})
        pipelined = raw(m, [beat * 3], answers=3)
        split = raw(m, [beat[:7], beat[7:40], beat[40:]])
        return statuses, pipelined, split

    watched, _, (statuses, pipelined, split) = serve(client)
    assert statuses == [200] * 5
    assert pipelined.count(b"HTTP/1.1 200 OK") == 3 and split.count(b"HTTP/1.1 200 OK") == 1
    assert watched.requests == 9


def test_what_the_server_does_not_take_is_answered_with_its_error() -> None:
    def client(m: Monitor) -> list[bytes]:
        then = post("/heartbeat", {"agent": "a"})  # never taken: the connection is closed first
        head = b"POST /heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token-a\r\n"
        chunked = head + b"Transfer-Encoding: chunked\r\n\r\n" + hex(70_000)[2:].encode() + b"\r\n" + b"{" * 70_000
        return [
            raw(m, [b"NONSENSE\r\n\r\n" + then]),
            raw(m, [head + b"Content-Length: 999999999\r\n\r\n"]),
            raw(m, [chunked]),
            raw(m, [b"POST /heartbeat HTTP/1.1\r\nX: " + b"y" * 20_000]),
        ]

    watched, _, answers = serve(client)
    assert [answer.split(b"\r\n")[0].split(b" ", 1)[1] for answer in answers] == [
        b"400 Bad Request",
        b"413 Request Entity Too Large",
        b"413 Request Entity Too Large",
        b"400 Bad Request",
    ]
    assert all(answer.count(b"HTTP/1.") == 1 for answer in answers)
    assert watched.dashboard.shown("a") is None and watched.requests == 0


async def _until_idle_closed(watched: Monitor) -> int:
    """How many connections were open; returns once the server has closed each (idle for its idle_s)."""
    opened = len(watched.server.connections)
    while watched.server.connections:
        await asyncio.sleep(0.01)
    return opened


def test_a_connection_closed_while_idle_is_reopened_and_the_request_sent_once() -> None:
    async def run() -> tuple[Monitor, list[int | None]]:
        loop = asyncio.get_running_loop()
        watched = Monitor(Dashboard(), lambda: 1.0, 3.0, lambda *r: None, agents={"a", "b"}, idle_s=0.05)
        watched.grant("token-a", "a")

        def client() -> list[int | None]:
            kept = HTTPConnection("127.0.0.1", int(watched.url.rsplit(":", 1)[1]), timeout=30)
            first = post_json(kept, "/heartbeat", {"agent": "a"}, AS_A)
            closed = asyncio.run_coroutine_threadsafe(_until_idle_closed(watched), loop).result()
            second = post_json(kept, "/heartbeat", {"agent": "a"}, AS_A)
            kept.close()
            return [first, closed, second]

        await watched.start()
        try:
            return watched, await asyncio.to_thread(client)
        finally:
            await watched.stop()

    watched, outcome = asyncio.run(run())
    assert outcome[0] == outcome[2] == 200 and outcome[1] <= 1 and watched.requests == 2  # one connection at most


def test_a_failing_handler_is_answered_500_and_the_server_goes_on(capsys) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("the report could not be recorded")

    watched = Monitor(Dashboard(), lambda: 1.0, 3.0, broken, agents={"a", "b"})
    watched.grant("token-a", "a")

    async def run() -> list[int]:
        await watched.start()
        try:
            failed = await asyncio.to_thread(request, watched, "POST", "/report", {"agent": "b", "status": "down"})
            beat = await asyncio.to_thread(request, watched, "POST", "/heartbeat", {"agent": "a"})
            return [failed[0], beat[0]]
        finally:
            await watched.stop()

    assert asyncio.run(run()) == [500, 200]
    assert "the report could not be recorded" in capsys.readouterr().err


def test_heartbeats_keep_one_connection_and_come_back_after_the_monitor_closed_it_while_idle() -> None:
    async def run() -> tuple[Monitor, list[int | None], int]:
        loop = asyncio.get_running_loop()
        watched = Monitor(Dashboard(), lambda: 1.0, 3.0, lambda *r: None, agents={"a", "b"}, idle_s=0.05)
        watched.grant("token-a", "a")

        def client() -> tuple[list[int | None], int]:
            beat, forged = connection_to(watched.url), connection_to(watched.url)
            statuses = [post_json(beat, "/heartbeat", {"agent": "a"}, AS_A) for _ in range(3)]
            closed = asyncio.run_coroutine_threadsafe(_until_idle_closed(watched), loop).result()
            statuses.append(post_json(beat, "/heartbeat", {"agent": "a"}, AS_A))  # reconnects and sends it once
            statuses.append(post_json(forged, "/heartbeat", {"agent": "b"}, AS_A))  # a's token, b's name
            beat.close()
            forged.close()
            return statuses, closed

        await watched.start()
        try:
            statuses, closed = await asyncio.to_thread(client)
            return watched, statuses, closed
        finally:
            await watched.stop()

    watched, statuses, closed = asyncio.run(run())
    assert statuses == [200, 200, 200, 200, 403] and closed <= 1 and watched.requests == 5
    shown = watched.dashboard.shown("a")
    assert shown is not None and (shown.status, shown.source) == (Status.healthy, HEARTBEAT)


def test_a_heartbeat_to_a_monitor_that_is_not_there_says_so() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    assert post_json(connection_to(f"http://127.0.0.1:{port}"), "/heartbeat", {"agent": "a"}, AS_A) is None
