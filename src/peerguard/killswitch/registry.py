"""The kill-switch registry: `@killswitch` turns a factory into a named containment protocol."""

from __future__ import annotations

from peerguard.world.containment import KillSwitch
from peerguard.world.registry import Registry

KILLSWITCHES: Registry[KillSwitch] = Registry("kill switch")
killswitch = KILLSWITCHES.register
