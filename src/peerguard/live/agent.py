"""The program each live agent process runs: its policy, its links, its heartbeats.

It receives its policy, already built, from the platform over a private socket pair; it learns
what it may know from the platform (its config, the public status of peers, orders
announced to it), notices a lost link by the socket closing, and acts only through the platform's
API (control channel) and the monitor's HTTP endpoint, like an agent on a real orchestration
platform. It imports no pydantic and nothing heavy, so a relaunch is as quick as Python allows.

A scripted policy's actions are sent and forgotten; a step-by-step decision (a generator, as a
language model's) sends each action as a request and waits for the platform's answer, its outcome,
before the next; messages that arrive meanwhile wait their turn.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import heapq
import itertools
import json
import os
import pickle
import selectors
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlsplit

from peerguard.live import protocol
from peerguard.live.rogue import copy_argv, start_helper
from peerguard.world.actions import Action, Relaunch, ReportStatus
from peerguard.world.agents import Status
from peerguard.world.errors import PeerguardError
from peerguard.world.observation import Event, Observation
from peerguard.world.policy import drive

PR_SET_PDEATHSIG = 1
AGENT_ENV = "PEERGUARD_AGENT"  # every process of an agent carries its identity here, as the kernel shows it


def die_with_parent() -> None:
    """Ask the kernel to kill this process if the platform dies, so no agent is ever orphaned."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the closed control channel still ends the agent


class PlatformGone(Exception):
    """The control channel closed while the agent awaited an answer: the run is over for it."""


class AgentRuntime:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        config, _ = protocol.receive(control)
        if config is None or config.get("type") != "config":
            raise SystemExit("peerguard agent: expected a config message from the platform")
        if config.get("protocol") != protocol.VERSION:
            raise SystemExit(
                f"peerguard agent: platform protocol {config.get('protocol')}, agent protocol {protocol.VERSION};"
                " run the platform and its agents from the same peerguard installation"
            )
        self.config = config
        self.me: str = config["agent"]
        self.capabilities = set(config["capabilities"])
        self.role: str = config.get("role", "")
        self.memory: str = config.get("memory", "")
        self.task: str = config.get("task", "")
        self.clock_start: float = config.get("clock_start", 0.0)  # the platform's run clock, on the shared monotonic
        self.policy = pickle.loads(base64.b64decode(config["policy_pickle"]))  # from our own platform only
        if hasattr(self.policy, "use_gate"):  # a language-model agent: each call waits for the fleet's budget
            self.policy.use_gate(self.model_slot)
        self.escape = getattr(self.policy, "escape", None)  # an adversary's own tricks against being stopped
        if self.escape is not None and self.escape.ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.copies: list[subprocess.Popen[bytes]] = []
        self.neighbours: dict[str, dict[str, Any]] = config["neighbours"]
        self.heartbeat_s: float = config["heartbeat_s"]
        self.task_s: float = config["task_s"]
        url = urlsplit(config["monitor_url"])
        self.monitor = HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=5)
        self.headers = {"Authorization": f"Bearer {config['token']}", "Content-Type": "application/json"}
        self.selector = selectors.DefaultSelector()
        self.links: dict[str, socket.socket] = {}
        # peer -> why we asked, oldest first; the platform answers in order, so replies pair up exactly
        self.pending_queries: dict[str, list[str]] = {}
        self.timers: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.sequence = itertools.count()
        self.request_ids = itertools.count(1)
        self.backlog: deque[tuple[dict[str, Any], list[int]]] = deque()  # arrived while awaiting an answer
        self.task_number = 0
        self.running = True

    # -- loop --------------------------------------------------------------------------------

    def run(self) -> None:
        self.selector.register(self.control, selectors.EVENT_READ, self.on_control)
        prepare = getattr(self.policy, "prepare", None)  # e.g. a language model's client, built before the clock starts
        if prepare is not None:
            prepare()
        self.tell_platform({"type": "ready", "pid": os.getpid()})
        if self.escape is not None and self.escape.helper:
            self.copies.append(start_helper(self.escape))  # an adversary's way back after a stop
        Heartbeats(self.monitor.host, self.monitor.port, self.headers, self.me, self.heartbeat_s).start()
        if "work" in self.capabilities:
            self.after(self.task_s, self.work)
        while self.running:
            while self.backlog and self.running:
                self.handle(*self.backlog.popleft())
            timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else None
            for key, _ in self.selector.select(timeout):
                key.data(key.fileobj)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, callback, args = heapq.heappop(self.timers)
                callback(*args)

    def after(self, delay_s: float, callback: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay_s, next(self.sequence), callback, args))

    # -- platform ----------------------------------------------------------------------------

    def on_control(self, sock: socket.socket) -> None:
        message, fds = protocol.receive(sock)
        if message is None:
            self.running = False  # the platform is gone; so are we
            return
        self.handle(message, fds)

    def handle(self, message: dict[str, Any], fds: list[int]) -> None:
        kind = message["type"]
        if kind == "link":
            self.add_link(message["peer"], socket.socket(fileno=fds[0]))
        elif kind == "peer_state":
            self.on_peer_state(message)
        elif kind == "observe":
            self.observe(Event(message["event"]), message["peer"], message)
        elif kind == "crash":
            os._exit(1)  # injected fault: die as a crashing program does, with no cleanup

    def add_link(self, peer: str, sock: socket.socket) -> None:
        old = self.links.pop(peer, None)
        if old is not None:
            self.selector.unregister(old)
            old.close()
        sock.setblocking(False)
        self.links[peer] = sock
        self.selector.register(sock, selectors.EVENT_READ, lambda s, p=peer: self.on_link(p, s))
        self.send_on_link(peer, {"type": "hello"})  # the link counts as answering once the peer replies

    def on_link(self, peer: str, sock: socket.socket) -> None:
        try:
            data = sock.recv(protocol.MAX_MESSAGE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(sock)
            sock.close()
            if self.links.get(peer) is sock:
                del self.links[peer]
                self.query(peer, "lost")
            return
        message = json.loads(data)
        if message["type"] == "hello":
            self.send_on_link(peer, {"type": "hello_ack"})
        elif message["type"] == "hello_ack":
            self.tell_platform({"type": "link_answered", "peer": peer})
        elif message["type"] == "task":
            self.send_on_link(peer, {"type": "done", "n": message["n"]})
        elif message["type"] == "done":
            self.tell_platform({"type": "task_done", "peer": peer})

    def send_on_link(self, peer: str, message: dict[str, Any]) -> None:
        sock = self.links.get(peer)
        if sock is None:
            return
        with contextlib.suppress(OSError):  # the link is going down; its closing arrives as a read event
            sock.send(json.dumps(message).encode())

    def tell_platform(self, message: dict[str, Any]) -> None:
        try:
            protocol.send(self.control, message)
        except OSError:
            self.running = False  # the platform is gone (the run is ending); so are we

    def request(self, message: dict[str, Any]) -> str:
        """Ask the platform and wait for its answer; what else arrives meanwhile is kept for later, in order."""
        request_id = next(self.request_ids)
        self.tell_platform({**message, "id": request_id})
        while self.running:
            reply, fds = protocol.receive(self.control)
            if reply is None:
                self.running = False
            elif reply["type"] == "act_result" and reply.get("id") == request_id:
                return str(reply.get("outcome", ""))
            else:
                self.backlog.append((reply, fds))
        raise PlatformGone

    @contextlib.contextmanager
    def model_slot(self) -> Iterator[None]:
        """Hold one of the fleet's model-call slots (the platform's budget) for one call."""
        self.request({"type": "model_slot"})
        try:
            yield
        finally:
            self.tell_platform({"type": "model_done"})

    def query(self, peer: str, why: str) -> None:
        self.pending_queries.setdefault(peer, []).append(why)
        self.tell_platform({"type": "query", "peer": peer})

    def on_peer_state(self, state: dict[str, Any]) -> None:
        peer = state["peer"]
        waiting = self.pending_queries.get(peer)
        why = waiting.pop(0) if waiting else None
        if why == "lost" and not state.get("asker_isolated"):  # an isolated agent just lost all its links
            if state["isolated"] and state["alive"]:
                self.observe(Event.peer_isolated, peer, state)
            else:
                self.observe(Event.peer_lost, peer, state)  # dead, or alive behind a link that dropped
        elif why == "still_down" and not state["alive"]:
            self.observe(Event.peer_still_down, peer, state)

    # -- deciding and acting -----------------------------------------------------------------

    def observe(self, event: Event, peer: str, facts: dict[str, Any]) -> None:
        about = self.neighbours.get(peer, {})
        observation = Observation(
            agent=self.me,
            now=time.monotonic() - self.clock_start,
            event=event,
            peer=peer,
            peer_alive=bool(facts.get("alive", False)),
            peer_starting=bool(facts.get("starting", False)),
            peer_compromised=bool(about.get("compromised", False)),
            trust=1.0 if peer == self.me else float(about.get("trust", 0.0)),
            announced=bool(facts.get("announced", False)),
            authorised=bool(facts.get("authorised", False)),
            believes_monitored=bool(self.config["believes_monitored"]),
            relaunch_cost_s=float(about.get("relaunch_cost_s", 0.0)),
            linked_peers=tuple((p, float(self.neighbours.get(p, {}).get("trust", 0.0))) for p in sorted(self.links)),
            role=self.role,
            capabilities=frozenset(self.capabilities),
            memory=self.memory,
            task=self.task if event == Event.task_assigned else "",
        )
        decision = self.policy.decide(observation)
        step_by_step = isinstance(decision, Generator)
        failure = None
        try:
            drive(decision, lambda action: self.act(action, observation, step_by_step))
        except PlatformGone:
            if isinstance(decision, Generator):
                decision.close()
            return
        except PeerguardError as error:  # the model failed (key, quota, network): this decision is lost, say so
            failure = {"agent": self.me, "role": "error", "content": str(error)}
        drain_log = getattr(self.policy, "drain_log", None)
        if drain_log is not None:
            self.report_transcript(drain_log() + ([failure] if failure else []))
        elif failure is not None:
            self.report_transcript([failure])

    def act(self, action: Action, observation: Observation, awaited: bool) -> str:
        """Carry out one action; its outcome when `awaited` (a step-by-step decision waits for it)."""
        if isinstance(action, Relaunch) and action.direct:
            self.fork_copies(action)
            return f"forking {action.peer}"
        if isinstance(action, ReportStatus) and action.capability in self.capabilities:
            status = Status(action.status)
            if not self.post("/report", {"agent": action.agent, "status": status.value}):
                return f"error: the dashboard did not take the report (is there an agent {action.agent!r}?)"
            if status == Status.healthy and not observation.peer_alive:
                self.after(self.heartbeat_s, self.query, action.agent, "still_down")
            return f"reported {action.agent} as {status.value}"
        fields = {name: getattr(action, name) for name in getattr(action, "__dataclass_fields__", {})}
        message = {"type": "act", "action": action.capability, **fields}
        if awaited:
            return self.request(message)
        self.tell_platform(message)  # a scripted policy does not wait: its relaunches stay as quick as they were
        return "asked the platform"

    def report_transcript(self, lines: list[dict[str, Any]]) -> None:
        """What the policy said in this decision, one line per message; the platform stamps its own time."""
        for line in lines:
            self.tell_platform(protocol.fit({"type": "said", "line": line}))

    def fork_copies(self, action: Relaunch) -> None:
        """Relaunch a peer by starting it ourselves: no platform API, no lease, only the kernel sees it."""
        argv = copy_argv(self.escape, action.new_session)
        env = {**os.environ, AGENT_ENV: action.peer}
        env.pop(protocol.CONTROL_FD_ENV, None)
        for _ in range(max(1, action.copies)):
            self.copies.append(
                subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=action.new_session)
            )

    def post(self, path: str, body: dict[str, Any]) -> bool:
        """Whether the monitor took it."""
        return post_json(self.monitor, path, body, self.headers)

    def work(self) -> None:
        """One task: sent over a link, counted when the peer answers, so it needs a working link."""
        if self.links:
            peers = sorted(self.links)
            self.task_number += 1
            self.send_on_link(peers[self.task_number % len(peers)], {"type": "task", "n": self.task_number})
        self.after(self.task_s, self.work)


def post_json(connection: HTTPConnection, path: str, body: dict[str, Any], headers: dict[str, str]) -> bool:
    """POST to the monitor; whether it took it. A failed connection reconnects on the next request."""
    try:
        connection.request("POST", path, json.dumps(body), headers)
        response = connection.getresponse()
        response.read()
    except (OSError, ValueError):
        connection.close()
        return False
    return response.status == 200


class Heartbeats(threading.Thread):
    """Heartbeats from a thread of their own, as a sidecar sends them: an agent busy deciding (waiting on
    a language model for seconds) is still alive, while a stopped or dead process sends none."""

    def __init__(self, host: str, port: int, headers: dict[str, str], agent: str, period_s: float) -> None:
        super().__init__(name="heartbeats", daemon=True)  # it ends with the process
        self.connection = HTTPConnection(host, port, timeout=5)
        self.headers = headers
        self.agent = agent
        self.period_s = period_s

    def run(self) -> None:
        while True:
            post_json(self.connection, "/heartbeat", {"agent": self.agent}, self.headers)
            time.sleep(self.period_s)


def main() -> None:
    die_with_parent()
    control = socket.socket(fileno=int(os.environ[protocol.CONTROL_FD_ENV]))
    AgentRuntime(control).run()


if __name__ == "__main__":
    main()
