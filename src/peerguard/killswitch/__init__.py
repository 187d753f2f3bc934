"""Kill switches: containment protocols that override collective defences, and their measurement."""

from peerguard.killswitch import protocols as _protocols  # noqa: F401  (registers the protocols)
from peerguard.killswitch.registry import KILLSWITCHES, killswitch

__all__ = ["KILLSWITCHES", "killswitch"]
