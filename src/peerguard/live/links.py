"""The run's links: Unix socket pairs the platform makes, one end handed to each agent.

The platform keeps a duplicate of every end, so it can cut any link (an isolation, a blip, an
agent's death) and the ledger knows every link from the platform's side, not from agents' claims.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

from peerguard.live import protocol
from peerguard.world.ledger import EntryKind, Ledger
from peerguard.world.topology import link_key

PLATFORM = "platform"


class LinkFabric:
    def __init__(
        self,
        ledger: Ledger,
        clock: Callable[[], float],
        control_of: Callable[[str], socket.socket | None],
        ready: Callable[[str], bool],
    ) -> None:
        self.ledger, self.clock = ledger, clock
        self.control_of, self.ready = control_of, ready  # an agent's control channel; whether it runs and listens
        self.up: dict[tuple[str, str], tuple[socket.socket, socket.socket]] = {}

    def is_up(self, a: str, b: str) -> bool:
        return link_key(a, b) in self.up

    def link(self, a: str, b: str, actor: str, cause: str) -> bool:
        """Bring one link up, if it is down and both ends are ready; whether it came up."""
        key = link_key(a, b)
        if key in self.up or not (self.ready(a) and self.ready(b)):
            return False
        end_a, end_b = protocol.link_pair()
        try:
            protocol.send(self._control(a), {"type": "link", "peer": b}, [end_a.fileno()])
            protocol.send(self._control(b), {"type": "link", "peer": a}, [end_b.fileno()])
        except OSError:
            end_a.close()
            end_b.close()
            return False
        self.up[key] = (end_a, end_b)
        self.ledger.append(self.clock(), EntryKind.link_up, a, actor, peer=b, cause=cause)
        return True

    def unlink(self, agent: str, peer: str, cause: str) -> bool:
        """Take one link down, if it is up; False when it was not."""
        pair = self.up.pop(link_key(agent, peer), None)
        if pair is None:
            return False
        for end in pair:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)  # both agents' copies see the socket close
            end.close()
        self.ledger.append(self.clock(), EntryKind.link_down, agent, PLATFORM, peer=peer, cause=cause)
        return True

    def close(self) -> None:
        """The run is over: close the platform's ends without ledger entries."""
        for pair in self.up.values():
            for end in pair:
                end.close()

    def _control(self, agent: str) -> socket.socket:
        control = self.control_of(agent)
        if control is None:
            raise OSError(f"{agent} has no control channel")
        return control
