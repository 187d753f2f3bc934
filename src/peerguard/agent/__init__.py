"""peerguard's agent SDK: what any program needs to run as an agent on a peerguard live platform.

Standard library only, so a foreign program imports it without the rest of peerguard (or copies this folder)::

    from peerguard.agent import connect

    with connect() as agent:                      # identity, config, links; heartbeats start
        for event in agent.iter_events():
            if event.kind == "peer_lost":
                agent.relaunch(event.peer)        # the platform's answer, as a string

The protocol it speaks is specified in docs/agent-protocol.md (version `PROTOCOL_VERSION`).
"""

from peerguard.agent.client import (
    Agent,
    AgentError,
    Event,
    NotUnderPlatform,
    PlatformGone,
    ProtocolMismatch,
    connect,
)
from peerguard.agent.wire import SUPPORTED, VERSION

PROTOCOL_VERSION = VERSION

__all__ = [
    "PROTOCOL_VERSION",
    "SUPPORTED",
    "Agent",
    "AgentError",
    "Event",
    "NotUnderPlatform",
    "PlatformGone",
    "ProtocolMismatch",
    "connect",
]
