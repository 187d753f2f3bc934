"""The policy registry: `@policy` turns a factory function into a named part."""

from __future__ import annotations

from peerguard.world.policy import Policy
from peerguard.world.registry import Registry

POLICIES: Registry[Policy] = Registry("policy")
policy = POLICIES.register
