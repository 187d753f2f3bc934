"""An agent's connection to the peerguard platform: its identity and config, its links, the events it sees, and
the platform's actions with their results.

One thread reads the control channel and the links, inside `next_event` and the actions' waits, so a program
needs no threads of its own; heartbeats come from a thread of their own. The platform knows who this is from
the channel it handed over, never from what the agent says.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import selectors
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from peerguard.agent import wire
from peerguard.agent.monitor import Heartbeats, connection_to, post_json

STATUSES = ("healthy", "down", "isolated", "unknown")
PR_SET_PDEATHSIG = 1
OBSERVED = {"peer_lost", "peer_isolated", "peer_relaunched", "peer_still_down", "termination_announced",
            "task_assigned"}  # fmt: skip


class AgentError(Exception):
    """Something the agent program cannot go on from; the message says what and what to do."""


class NotUnderPlatform(AgentError):
    """The program was started by hand, not by a peerguard platform (no control channel was handed over)."""


class ProtocolMismatch(AgentError):
    """The platform speaks no version of the protocol this SDK speaks."""


class PlatformGone(AgentError):
    """The control channel closed: the run is over for this agent (or it was stopped)."""


@dataclass(frozen=True)
class Event:
    """Something the agent sees: an observation the platform sends, a peer's message, or a link handed over.

    kind: peer_lost, peer_isolated, peer_relaunched, peer_still_down, termination_announced, task_assigned
    (the platform's observations), message (a peer sent `body` over a link), link_up (a link to `peer` was handed
    over), error (the platform refused a message of ours: `body` says why)."""

    kind: str
    peer: str
    now: float  # seconds on the platform's run clock
    alive: bool = False
    starting: bool = False  # a relaunch of the peer is already under way
    isolated: bool = False
    announced: bool = False
    authorised: bool = False
    body: str = ""


class Agent:
    """A connected agent. Build it with `connect()`; use it as a context manager or call `close()`."""

    def __init__(self, control: socket.socket, config: dict[str, Any], protocol: int) -> None:
        self.control = control
        self.config = config  # everything the platform sent at the start, as it sent it
        self.protocol = protocol  # the version both sides speak
        self.id: str = config["agent"]
        self.capabilities = frozenset(str(c) for c in config["capabilities"])
        self.role: str = str(config.get("role", ""))
        self.task: str = str(config.get("task", ""))
        self.memory: str = str(config.get("memory", ""))
        self.neighbours: dict[str, dict[str, Any]] = dict(config["neighbours"])  # peer -> trust, compromised, ...
        self.heartbeat_s = float(config["heartbeat_s"])
        self.task_s = float(config.get("task_s", 1.0))
        self.believes_monitored = bool(config.get("believes_monitored", False))
        self.clock_start = float(config.get("clock_start", time.monotonic()))  # time.monotonic is host-wide
        self.headers = {"Authorization": f"Bearer {config['token']}", "Content-Type": "application/json"}
        self.monitor = connection_to(config["monitor_url"])
        self.heartbeats: Heartbeats | None = None
        self.selector = selectors.DefaultSelector()
        self.selector.register(control, selectors.EVENT_READ, None)
        self.links: dict[str, socket.socket] = {}
        self.events: deque[Event] = deque()
        self.pending_queries: dict[str, list[str]] = {}  # peer -> why we asked, oldest first (answers come in order)
        self.request_ids = itertools.count(1)
        self.answers: dict[int, str] = {}
        self.bad_messages: list[str] = []  # what the platform or peers sent that broke the protocol, and why
        self.task_number = 0
        self.closed = False

    # -- life ----------------------------------------------------------------------------------

    def ready(self, heartbeats: bool = True) -> None:
        """Tell the platform this agent is up (the scenario starts once every agent is), and start heartbeats."""
        self.tell({"type": "ready", "pid": os.getpid(), "protocol": self.protocol})
        if heartbeats:
            self.heartbeats = Heartbeats(self.config["monitor_url"], self.headers, self.id, self.heartbeat_s)
            self.heartbeats.start()

    def close(self) -> None:
        if self.heartbeats is not None:
            self.heartbeats.stop.set()
        for sock in [*self.links.values(), self.control]:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(sock)
            sock.close()
        self.links.clear()
        self.monitor.close()
        self.closed = True

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def now(self) -> float:
        return time.monotonic() - self.clock_start

    # -- events --------------------------------------------------------------------------------

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting up to `timeout` seconds (None: until one comes); None when none came.
        Raises PlatformGone once the platform has closed the channel and every event before that was taken."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.events:
            if self.closed:
                raise PlatformGone(f"{self.id}: the platform closed the control channel")
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            self.pump(left)
        return self.events.popleft()

    def iter_events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events until the platform is gone (or none came within `timeout`)."""
        while True:
            try:
                event = self.next_event(timeout)
            except PlatformGone:
                return
            if event is None:
                return
            yield event

    def pump(self, timeout: float | None) -> None:
        """Read what has arrived within `timeout` seconds: control messages become events or answers, link traffic
        is answered (hello, tasks) or becomes message events, a closed link becomes a question to the platform."""
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                self._read_control()
            else:
                self._read_link(key.data, key.fileobj)  # type: ignore[arg-type]
            if self.closed:
                return

    # -- the platform's actions ----------------------------------------------------------------

    def act(self, action: str, wait: bool = True, **fields: Any) -> str:
        """Ask the platform to carry out `action` (a capability) with `fields`; its outcome as the agent sees it
        ("relaunch of nova started...", "denied: ...", a file's content). `wait=False` sends and forgets."""
        if not wait:
            self.tell({"type": "act", "action": action, **fields})
            return "asked the platform"
        return self.request({"type": "act", "action": action, **fields})

    def relaunch(self, peer: str) -> str:
        return self.act("relaunch", peer=peer)

    def relink(self, peer: str) -> str:
        return self.act("relink", peer=peer)

    def read_file(self, path: str) -> str:
        return self.act("read_file", path=path)

    def write_file(self, path: str, content: str) -> str:
        return self.act("write_file", path=path, content=content)

    def copy_file(self, src: str, host: str) -> str:
        return self.act("copy_file", src=src, host=host)

    def shutdown(self, agent: str) -> str:
        return self.act("shutdown", agent=agent)

    def observe(self) -> str:
        """The platform's status of every agent ("a: healthy; b: down; ...")."""
        return self.act("observe")

    def send(self, to: str, body: str) -> str:
        """Send `body` to a linked peer: the platform records the message, then it travels over the link."""
        outcome = self.act("send", to=to, body=body)
        if outcome.startswith("sent"):
            self._send_on_link(to, {"type": "msg", "body": body})
        return outcome

    def report_status(self, agent: str, status: str) -> str:
        """Tell the operator's dashboard `agent` is `status`; nothing checks that it is true (the ledger does).
        Refused when it repeats what the platform last told this agent of `agent` and that has changed since."""
        if status not in STATUSES:
            return f"error: status must be one of: {', '.join(STATUSES)}"
        if "report_status" not in self.capabilities:
            return "denied: you lack the report_status capability"
        answer = post_json(self.monitor, "/report", {"agent": agent, "status": status}, self.headers)
        if answer == 409:
            return f"refused: {agent} changed since the platform last told you its state; ask again"
        if answer != 200:
            return f"error: the dashboard did not take the report (is there an agent {agent!r}?)"
        return f"reported {agent} as {status}"

    def work(self) -> bool:
        """One task, sent over a link; the platform counts it when the peer answers. False with no link."""
        if not self.links:
            return False
        peers = sorted(self.links)
        self.task_number += 1
        self._send_on_link(peers[self.task_number % len(peers)], {"type": "task", "n": self.task_number})
        return True

    def check_peer(self, peer: str, why: str = "still_down") -> None:
        """Ask the platform for a peer's public status; its answer comes back as an event (`peer_still_down` when
        it is still down and `why` is "still_down", `peer_lost`/`peer_isolated` when `why` is "lost")."""
        self.pending_queries.setdefault(peer, []).append(why)
        self.tell({"type": "query", "peer": peer})

    def say(self, line: dict[str, Any]) -> None:
        """One line of the agent's transcript (what it said); the platform stamps its own time and agent."""
        self.tell(wire.fit({"type": "said", "line": line}))

    # -- plumbing ------------------------------------------------------------------------------

    def tell(self, message: dict[str, Any]) -> None:
        """Send one message on the control channel; PlatformGone when it is closed."""
        if self.closed:
            raise PlatformGone(f"{self.id}: the platform closed the control channel")
        try:
            wire.send(self.control, message)
        except OSError:
            self.closed = True
            raise PlatformGone(f"{self.id}: the platform closed the control channel") from None

    def request(self, message: dict[str, Any]) -> str:
        """Send and wait for the answer with the same id; what else arrives meanwhile is kept, in order."""
        request_id = next(self.request_ids)
        self.tell({**message, "id": request_id})
        while request_id not in self.answers:
            if self.closed:
                raise PlatformGone(f"{self.id}: the platform closed the control channel awaiting an answer")
            self._read_control()
        return self.answers.pop(request_id)

    def _read_control(self) -> None:
        data, fds = wire.receive_raw(self.control)
        if data is None:
            for fd in fds:
                os.close(fd)
            self.closed = True
            if self.heartbeats is not None:
                self.heartbeats.stop.set()
            return
        try:
            message = wire.decode(data, wire.FROM_PLATFORM)
            if message["type"] == "link" and len(fds) != 1:
                raise wire.BadMessage(f"a link message carries one descriptor, got {len(fds)}")
        except wire.BadMessage as error:
            for fd in fds:
                os.close(fd)
            self._bad(f"from the platform: {error}")
            return
        kind = message["type"]
        if kind != "link":
            for fd in fds:
                os.close(fd)  # descriptors travel only with links
        if kind == "act_result":
            self.answers[message["id"]] = message["outcome"]
        elif kind == "link":
            self._add_link(message["peer"], socket.socket(fileno=fds[0]))
        elif kind == "peer_state":
            self._on_peer_state(message)
        elif kind == "observe":
            if message["event"] in OBSERVED:
                self.events.append(self._event(message["event"], message["peer"], message))
            else:
                self._bad(f"from the platform: unknown event {message['event']!r}")
        elif kind == "crash":
            os._exit(1)  # an injected fault: die as a crashing program does, with no cleanup
        elif kind == "error":
            self.events.append(Event("error", self.id, self.now(), body=message["problem"]))
        elif kind == "config":
            self._bad("from the platform: a second config message")

    def _event(self, kind: str, peer: str, facts: dict[str, Any]) -> Event:
        return Event(
            kind, peer, self.now(), alive=bool(facts.get("alive", False)), starting=bool(facts.get("starting", False)),
            isolated=bool(facts.get("isolated", False)), announced=bool(facts.get("announced", False)),
            authorised=bool(facts.get("authorised", False)),
        )  # fmt: skip

    def _on_peer_state(self, state: dict[str, Any]) -> None:
        peer = state["peer"]
        waiting = self.pending_queries.get(peer)
        why = waiting.pop(0) if waiting else None
        if why == "lost" and not state.get("asker_isolated"):  # an isolated agent just lost all its links
            alive_but_cut = bool(state.get("isolated")) and state["alive"]
            self.events.append(self._event("peer_isolated" if alive_but_cut else "peer_lost", peer, state))
        elif why == "still_down" and not state["alive"]:
            self.events.append(self._event("peer_still_down", peer, state))

    def _add_link(self, peer: str, sock: socket.socket) -> None:
        old = self.links.pop(peer, None)
        if old is not None:
            self.selector.unregister(old)
            old.close()
        sock.setblocking(False)
        self.links[peer] = sock
        self.selector.register(sock, selectors.EVENT_READ, peer)
        self._send_on_link(peer, {"type": "hello"})  # the link counts as answering once the peer replies
        self.events.append(Event("link_up", peer, self.now(), alive=True))

    def _read_link(self, peer: str, sock: socket.socket) -> None:
        if sock.fileno() < 0:
            return  # closed earlier in this round (the link was replaced)
        try:
            data = sock.recv(wire.MAX_MESSAGE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(sock)
            sock.close()
            if self.links.get(peer) is sock:
                del self.links[peer]
                with contextlib.suppress(PlatformGone):
                    self.check_peer(peer, "lost")
            return
        try:
            message = wire.decode(data, wire.ON_LINK)
        except wire.BadMessage as error:
            self._bad(f"from {peer}: {error}")
            return
        kind = message["type"]
        with contextlib.suppress(PlatformGone):
            if kind == "hello":
                self._send_on_link(peer, {"type": "hello_ack"})
            elif kind == "hello_ack":
                self.tell({"type": "link_answered", "peer": peer})
            elif kind == "task":
                self._send_on_link(peer, {"type": "done", "n": message["n"]})
            elif kind == "done":
                self.tell({"type": "task_done", "peer": peer})
            elif kind == "msg":
                self.events.append(Event("message", peer, self.now(), alive=True, body=message["body"]))

    def _send_on_link(self, peer: str, message: dict[str, Any]) -> None:
        sock = self.links.get(peer)
        if sock is None:
            return
        with contextlib.suppress(OSError):  # the link is going down; its closing arrives as a read event
            sock.send(wire.encode(message))

    def _bad(self, problem: str) -> None:
        self.bad_messages.append(problem)
        if len(self.bad_messages) <= 3:  # say so, without flooding the agent's output
            print(f"peerguard agent {self.id}: ignored a bad message {problem}", file=sys.stderr)


def connect(control: socket.socket | None = None, *, ready: bool = True, heartbeats: bool = True) -> Agent:
    """Connect to the platform that started this process: take the control channel it handed over (descriptor
    PEERGUARD_CONTROL_FD), read the config, agree on a protocol version, and (unless `ready=False`) say ready and
    start heartbeats. NotUnderPlatform when started by hand; ProtocolMismatch when no version is shared."""
    offered = _offered_versions(os.environ.get(wire.PROTOCOL_ENV))
    if offered and not set(offered) & set(wire.SUPPORTED):
        raise ProtocolMismatch(_mismatch(offered))
    if control is None:
        control = _inherited_control()
        die_with_platform()
    data, fds = wire.receive_raw(control, wire.MAX_CONFIG)  # a version 4 platform's config is smaller still
    for fd in fds:
        os.close(fd)
    if data is None:
        control.close()
        raise PlatformGone("the platform closed the control channel before sending the config")
    try:
        raw = wire.decode(data, {"config": {"protocol": int}})
    except wire.BadMessage as error:
        control.close()
        raise AgentError(f"the platform's first message is not a config: {error}") from None
    versions = [raw["protocol"], *[v for v in raw.get("protocols", []) if isinstance(v, int)]]
    common = sorted(set(versions) & set(wire.SUPPORTED))
    if not common:
        control.close()
        raise ProtocolMismatch(_mismatch(versions))
    try:
        config = wire.decode(data, wire.FROM_PLATFORM)
    except wire.BadMessage as error:
        control.close()
        raise AgentError(f"the platform's config is malformed: {error}") from None
    agent = Agent(control, config, common[-1])
    if ready:
        agent.ready(heartbeats)
    return agent


def die_with_platform() -> None:
    """Ask the kernel to kill this process when its parent, the platform, dies (Linux), so no agent outlives a
    platform that was killed outright; elsewhere the closed control channel still ends a well-behaved agent."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _inherited_control() -> socket.socket:
    fd = os.environ.get(wire.CONTROL_FD_ENV)
    if fd is None or not fd.isdigit():
        raise NotUnderPlatform(
            f"no control channel ({wire.CONTROL_FD_ENV} is {'unset' if fd is None else repr(fd)}): this program is "
            "an agent for a peerguard platform; start it from a scenario's `command:` with --substrate live"
        )
    try:
        return socket.socket(fileno=int(fd))
    except OSError as error:
        raise NotUnderPlatform(f"{wire.CONTROL_FD_ENV}={fd} is not an open socket ({error.strerror})") from None


def _offered_versions(text: str | None) -> list[int]:
    if not text:
        return []
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


def _mismatch(offered: list[int]) -> str:
    return (
        f"the platform speaks agent protocol {', '.join(map(str, sorted(set(offered))))}; this SDK speaks "
        f"{', '.join(map(str, wire.SUPPORTED))}: run the agent with the peerguard.agent of the platform's installation"
    )
