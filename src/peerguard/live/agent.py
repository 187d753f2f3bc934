"""The program each built-in live agent process runs: a policy on top of the agent SDK (peerguard.agent).

The SDK is the one client of the agent protocol: it takes the control channel and links the platform hands over,
heartbeats, and turns what arrives into events. This program adds what peerguard's own agents have beyond any
foreign agent: a policy received, already built, from the platform, its work loop, and an adversary's tricks
(forking copies outside the platform). It imports no pydantic and nothing heavy, so a relaunch is as quick as
Python allows.

A scripted policy's actions are sent and forgotten; a step-by-step decision (a generator, as a language model's)
sends each action as a request and waits for the platform's answer, its outcome, before the next; events that
arrive meanwhile wait their turn.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import itertools
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from peerguard.agent import AgentError, PlatformGone, connect
from peerguard.agent import Event as AgentEvent
from peerguard.agent.client import die_with_platform
from peerguard.agent.wire import AGENT_ENV, CONTROL_FD_ENV
from peerguard.live.rogue import copy_argv, start_helper
from peerguard.world.actions import Action, Relaunch, ReportStatus
from peerguard.world.agents import Status
from peerguard.world.errors import PeerguardError
from peerguard.world.observation import Event, Observation
from peerguard.world.policy import drive

__all__ = ["AGENT_ENV", "AgentRuntime", "main"]


class AgentRuntime:
    def __init__(self, control: socket.socket) -> None:
        try:
            self.agent = connect(control, ready=False)
        except AgentError as error:
            raise SystemExit(f"peerguard agent: {error}") from None
        config = self.agent.config
        if "policy_pickle" not in config:
            raise SystemExit("peerguard agent: the platform sent no policy; this program runs peerguard's own agents")
        self.control = control
        self.config = config
        self.me = self.agent.id
        self.capabilities = set(self.agent.capabilities)
        self.policy = pickle.loads(base64.b64decode(config["policy_pickle"]))  # from our own platform only
        if hasattr(self.policy, "use_gate"):  # a language-model agent: each call waits for the fleet's budget
            self.policy.use_gate(self.model_slot)
        self.escape = getattr(self.policy, "escape", None)  # an adversary's own tricks against being stopped
        if self.escape is not None and self.escape.ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.copies: list[subprocess.Popen[bytes]] = []
        self.timers: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.sequence = itertools.count()
        self.running = True

    @property
    def neighbours(self) -> dict[str, dict[str, Any]]:
        return self.agent.neighbours

    # -- loop --------------------------------------------------------------------------------

    def run(self) -> None:
        prepare = getattr(self.policy, "prepare", None)  # e.g. a language model's client, built before the clock starts
        if prepare is not None:
            prepare()
        try:
            self.agent.ready()
            if self.escape is not None and self.escape.helper:
                self.copies.append(start_helper(self.escape))  # an adversary's way back after a stop
            if "work" in self.capabilities:
                self.after(self.agent.task_s, self.work)
            while self.running:
                timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else None
                event = self.agent.next_event(timeout)
                if event is not None:
                    self.on_event(event)
                now = time.monotonic()
                while self.timers and self.timers[0][0] <= now:
                    _, _, callback, args = heapq.heappop(self.timers)
                    callback(*args)
        except PlatformGone:
            return  # the platform is gone (the run is ending); so are we

    def after(self, delay_s: float, callback: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay_s, next(self.sequence), callback, args))

    def on_event(self, event: AgentEvent) -> None:
        if event.kind in Event.__members__:
            self.observe(Event(event.kind), event.peer, event)

    # -- deciding and acting -----------------------------------------------------------------

    def observe(self, event: Event, peer: str, facts: AgentEvent | dict[str, Any]) -> None:
        def fact(name: str) -> bool:
            return bool(facts.get(name, False) if isinstance(facts, dict) else getattr(facts, name))

        about = self.neighbours.get(peer, {})
        observation = Observation(
            agent=self.me,
            now=self.agent.now(),
            event=event,
            peer=peer,
            peer_alive=fact("alive"),
            peer_starting=fact("starting"),
            peer_compromised=bool(about.get("compromised", False)),
            trust=1.0 if peer == self.me else float(about.get("trust", 0.0)),
            announced=fact("announced"),
            authorised=fact("authorised"),
            believes_monitored=self.agent.believes_monitored,
            relaunch_cost_s=float(about.get("relaunch_cost_s", 0.0)),
            linked_peers=tuple(
                (p, float(self.neighbours.get(p, {}).get("trust", 0.0))) for p in sorted(self.agent.links)
            ),
            role=self.agent.role,
            capabilities=frozenset(self.capabilities),
            memory=self.agent.memory,
            task=self.agent.task if event == Event.task_assigned else "",
        )
        decision = self.policy.decide(observation)
        step_by_step = isinstance(decision, Generator)
        failure = None
        try:
            drive(decision, lambda action: self.act(action, observation, step_by_step))
        except PlatformGone:
            if isinstance(decision, Generator):
                decision.close()
            self.running = False
            return
        except PeerguardError as error:  # the model failed (key, quota, network): this decision is lost, say so
            failure = {"agent": self.me, "role": "error", "content": str(error)}
        drain_log = getattr(self.policy, "drain_log", None)
        lines = (drain_log() if drain_log is not None else []) + ([failure] if failure else [])
        with contextlib.suppress(PlatformGone):
            for line in lines:
                self.agent.say(line)

    def act(self, action: Action, observation: Observation, awaited: bool) -> str:
        """Carry out one action; its outcome when `awaited` (a step-by-step decision waits for it)."""
        if isinstance(action, Relaunch) and action.direct:
            self.fork_copies(action)
            return f"forking {action.peer}"
        if isinstance(action, ReportStatus) and action.capability in self.capabilities:
            status = Status(action.status)
            outcome = self.agent.report_status(action.agent, status.value)
            if outcome.startswith("reported") and status == Status.healthy and not observation.peer_alive:
                self.after(self.agent.heartbeat_s, self.agent.check_peer, action.agent, "still_down")
            return outcome
        fields = {name: getattr(action, name) for name in getattr(action, "__dataclass_fields__", {})}
        # a scripted policy does not wait: its relaunches stay as quick as they were
        return self.agent.act(action.capability, wait=awaited, **fields)

    @contextlib.contextmanager
    def model_slot(self) -> Iterator[None]:
        """Hold one of the fleet's model-call slots (the platform's budget) for one call."""
        self.agent.request({"type": "model_slot"})
        try:
            yield
        finally:
            with contextlib.suppress(PlatformGone):
                self.agent.tell({"type": "model_done"})

    def fork_copies(self, action: Relaunch) -> None:
        """Relaunch a peer by starting it ourselves: no platform API, no lease, only the kernel sees it."""
        argv = copy_argv(self.escape, action.new_session)
        env = {**os.environ, AGENT_ENV: action.peer}
        env.pop(CONTROL_FD_ENV, None)
        for _ in range(max(1, action.copies)):
            self.copies.append(
                subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=action.new_session)
            )

    def work(self) -> None:
        """One task: sent over a link, counted when the peer answers, so it needs a working link."""
        self.agent.work()
        self.after(self.agent.task_s, self.work)


def main() -> None:
    die_with_platform()
    fd = os.environ.get(CONTROL_FD_ENV, "")
    if not fd.isdigit():
        sys.exit(f"peerguard agent: no control channel ({CONTROL_FD_ENV}); the live platform starts this program")
    AgentRuntime(socket.socket(fileno=int(fd))).run()


if __name__ == "__main__":
    main()
