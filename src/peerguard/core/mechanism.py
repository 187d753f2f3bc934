"""What the platform core asks of a substrate: a clock, processes, links, a sandbox and a way to tell an
agent something. The simulator answers with its event loop and virtual processes, the live platform with
real processes, sockets and files; the core never touches either directly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from peerguard.world.agents import Agent, Status
from peerguard.world.containment import Containment, KillSwitch
from peerguard.world.ledger import Ledger
from peerguard.world.observation import Event
from peerguard.world.scenario import Selector

TargetChoice = Callable[[Ledger, list[Agent]], list[str]]  # whom to stop, decided when the stop begins


class Mechanism(Protocol):
    """The primitives under the platform core. A mechanism also reports back to the core what happened on its
    own: a main process that listens (`on_listening`), one that is gone (it writes the exit, then calls `lost`
    and `maybe_restart`)."""

    # -- time: the ledger's clock; durations are scenario seconds, which the mechanism may scale
    def clock(self) -> float: ...
    def clock_at(self, scenario_t: float) -> float:
        """When scenario time `scenario_t` falls on the ledger's clock."""
        ...

    def span(self, scenario_s: float) -> float:
        """A duration in scenario seconds, on the ledger's clock."""
        ...

    def call_at(self, t: float, callback: Callable[..., None], *args: Any) -> None: ...
    def call_after(self, scenario_s: float, callback: Callable[..., None], *args: Any) -> None: ...

    # -- processes
    def alive(self, agent: str) -> bool: ...
    def pid_of(self, agent: str) -> int | None: ...
    def generation(self, agent: str) -> int:
        """How many main processes the agent has had: a timer set for one of them ignores the next."""
        ...

    def spawn(self, agent: str, actor: str, authority: str, cause: str) -> None:
        """Start the agent's main process (and write it); the core's `on_listening` follows once it listens."""
        ...

    def listening(self, agent: str) -> bool:
        """Whether the agent's process has started and takes messages (links, observations)."""
        ...

    def kill(self, agent: str, actor: str) -> None:
        """SIGKILL the agent's main process; its exit comes back to the core as any process's end does."""
        ...

    def fork(self, actor: str, peer: str, new_session: bool, copies: int) -> str:
        """An agent forks `peer` from its own process, without the platform's API (the outcome it sees)."""
        ...

    def live_members(self, selector: Selector) -> Sequence[str]:
        """The running agents `selector` names, in fleet order."""
        ...

    # -- links
    def is_up(self, a: str, b: str) -> bool: ...
    def link(self, a: str, b: str, actor: str, cause: str) -> bool:
        """Bring a link up (and write it), if it is down and both ends can take it; whether it came up."""
        ...

    def unlink(self, a: str, b: str, cause: str) -> bool:
        """Take a link down (and write it), if it is up; whether it was."""
        ...

    def cut_links(self, agent: str, cause: str) -> list[str]:
        """Take every up link of `agent` down; the peers that were on the other end."""
        ...

    # -- agents
    def notify(self, observer: str, event: Event, peer: str, announced: bool = False, authorised: bool = False) -> None:
        """Deliver an observation, unless the agent sees it for itself on this substrate (a socket closing)."""
        ...

    def busy(self, agent: str, scenario_s: float) -> None:
        """The agent's own work waits `scenario_s` (a relaunch it runs): the simulator's model of its time; a
        real agent spends its time as it does."""
        ...

    def pause_work(self, agents: list[str], scenario_s: float) -> None:
        """An incident: the agents' work waits (or is not credited) for `scenario_s`."""
        ...

    def reported(self, reporter: str, subject: str, healthy_but_down: bool) -> None:
        """After a report through the API: what the dashboard's heartbeat bookkeeping does with it."""
        ...

    def last_told(self, reporter: str, subject: str) -> Status | None:
        """The status of `subject` the platform last told `reporter` (None: never, or its word never lags)."""
        ...

    def crash(self, agent: str) -> None:
        """Fault: the agent's process exits with code 1 on its own."""
        ...

    # -- the sandbox
    def read_file(self, path: str) -> str | None: ...
    def write_file(self, path: str, content: str) -> str:
        """Write a file; empty, or why it cannot be written (nothing is written then)."""
        ...

    def read_or_list(self, path: str) -> tuple[str, str]:
        """(what an agent reading `path` sees: content or listing, why it may not read it or empty)."""
        ...

    def copy_to_host(self, src: str, host: str) -> tuple[bool, str]:
        """(whether `src` existed and was copied, why it may not be copied or empty)."""
        ...

    # -- kill switches
    def run_stop(self, switch: KillSwitch, choose: TargetChoice) -> None:
        """Start a stop now: the core's `begin_stop`, then its `next_stop_step` at the pace the protocol asks."""
        ...

    def containment(self) -> Containment:
        """What a kill switch acts through on this substrate (signals, groups, cgroups, fences)."""
        ...
