"""Serving the dashboard: on loopback unless a host is named on purpose, on a port given or picked free."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from peerguard.world.errors import PeerguardError

DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_warning(host: str) -> str | None:
    """What the user is told when the dashboard serves beyond loopback (only ever on a host they named)."""
    if is_loopback(host):
        return None
    return (f"warning: serving on {host}, beyond this machine: anyone who can reach it sees the runs; "
            "control actions still need the token")  # fmt: skip


def bind(host: str, port: int, explicit_host: bool, port_option: str = "--port") -> socket.socket:
    """A listening socket on `host`:`port` (0: a free port). A non-loopback host is refused unless the user named
    it (`explicit_host`): the dashboard shows a run's ground truth and can stop it."""
    if not is_loopback(host) and not explicit_host:
        raise PeerguardError(f"host {host}: not a loopback address; name it with --host to serve beyond this machine")
    if not 0 <= port <= 65535:
        raise PeerguardError(f"{port_option} {port}: give a port from 1 to 65535, or 0 to pick a free one")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        named = f"--host {host} {port_option} {port}" if explicit_host else f"{port_option} {port} on {host}"
        raise PeerguardError(f"{named}: cannot listen there ({error.strerror}); "
                             "give another port, or 0 to pick a free one") from None  # fmt: skip
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@dataclass
class Server:
    """uvicorn serving `app` on `sock`, in this thread (`run`) or a thread of its own (`start`, then `stop`)."""

    app: FastAPI
    sock: socket.socket
    thread: threading.Thread | None = None
    server: uvicorn.Server = field(init=False)

    def __post_init__(self) -> None:
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)

    @property
    def url(self) -> str:
        return url_of(self.sock)

    def run(self) -> None:
        """Serve until Ctrl-C (uvicorn handles the signal in the main thread)."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self) -> Server:
        self.thread = threading.Thread(target=self._serve, name="peerguard-dashboard", daemon=True)
        self.thread.start()
        return self

    def _serve(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
