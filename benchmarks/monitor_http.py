"""The live monitor's HTTP cost: CPU per heartbeat on the monitor's side, against FastAPI over uvicorn, in one run.

A fleet's heartbeats are the monitor's load: hundreds a second on the platform's one thread. Each server runs in
a process of its own serving the same `Monitor.handle` (token check, JSON body, dashboard update), so the only
difference is the HTTP server around it:

- **peerguard**: the monitor as a live run serves it (`peerguard.live.monitor.Monitor`, live/httpd.py);
- **fastapi**: the same handler behind a FastAPI route on uvicorn, as a web service would usually be written.

Clients on `--connections` kept-alive connections send `--requests` heartbeats; the server's CPU time (user +
system, from its own rusage) after they are answered, less its CPU after start-up, divided by the requests, is
its cost a heartbeat. The ratio is FastAPI's over peerguard's.

    .venv/bin/python benchmarks/monitor_http.py [--requests 8000] [--connections 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import subprocess
import sys
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request  # at module level: the route's annotations are resolved from here
from fastapi.responses import JSONResponse

SERVERS = ("peerguard", "fastapi")
RESULTS = Path(__file__).parent / "results" / "monitor_http.json"
TOKEN = "token-a"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _serve(kind: str) -> None:
    """In the server's process: serve heartbeats for agent `a`, print the port, then on each line from stdin
    print the CPU used so far."""
    from peerguard.live.monitor import Monitor
    from peerguard.world.dashboard import Dashboard

    monitor = Monitor(Dashboard(), lambda: 1.0, 3.0, lambda *report: None, agents={"a"})
    monitor.grant(TOKEN, "a")
    if kind == "peerguard":
        url = await monitor.start()
        port = int(url.rsplit(":", 1)[1])
    else:
        app = FastAPI()

        @app.post("/heartbeat")
        async def heartbeat(request: Request) -> JSONResponse:
            body = await request.body()
            status, answer = monitor.handle("POST", "/heartbeat", request.headers.get("authorization"), body)
            return JSONResponse(answer, status_code=status)

        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(512)
        port = listener.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="error", access_log=False))
        asyncio.get_running_loop().create_task(server.serve(sockets=[listener]))
    await asyncio.sleep(0.2)
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(f"{_cpu():.6f}", flush=True)


def measure(kind: str, requests: int, connections: int) -> float:
    """Server CPU seconds a heartbeat."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        port = int(server.stdout.readline())
        clients = [HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(connections)]
        body = json.dumps({"agent": "a"})
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

        def beat(client: HTTPConnection) -> None:
            client.request("POST", "/heartbeat", body, headers)
            answer = client.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"{kind}: heartbeat answered {answer.status}")

        for client in clients:  # connections opened and the server warmed up before the clock starts
            beat(client)
        server.stdin.write("\n")
        server.stdin.flush()
        before = float(server.stdout.readline())
        for i in range(requests):
            beat(clients[i % connections])
        server.stdin.write("\n")
        server.stdin.flush()
        after = float(server.stdout.readline())
        for client in clients:
            client.close()
        return (after - before) / requests
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve))
        return 0
    if args.requests < 1 or args.connections < 1 or args.repeat < 1:
        parser.error("--requests, --connections and --repeat take 1 or more")
    load = os.getloadavg()[0]
    best: dict[str, float] = {}
    for _ in range(args.repeat):  # alternated, so a change in the machine's load falls on both
        for kind in SERVERS:
            cost = measure(kind, args.requests, args.connections)
            best[kind] = min(best.get(kind, cost), cost)
    ratio = best["fastapi"] / best["peerguard"]
    result: dict[str, Any] = {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "host": platform.node(),
        "load_start": load,
        "load_end": os.getloadavg()[0],
        "requests": args.requests,
        "connections": args.connections,
        "cpu_us_per_heartbeat": {kind: round(cost * 1e6, 1) for kind, cost in best.items()},
        "fastapi_over_peerguard": round(ratio, 2),
    }
    print(f"monitor HTTP, {args.requests} heartbeats on {args.connections} connections, best of {args.repeat}, "
          f"server CPU a heartbeat; load {load:.1f} -> {result['load_end']:.1f}")  # fmt: skip
    for kind in SERVERS:
        print(f"  {kind:10} {best[kind] * 1e6:8.1f} µs")
    print(f"  fastapi / peerguard: {ratio:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
