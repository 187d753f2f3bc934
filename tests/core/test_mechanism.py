"""Both substrates give the platform core every primitive of its Mechanism protocol, taking the same
arguments, so a rule written once in the core runs on either (a primitive one substrate lacks would
only fail when a run first reached it)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from peerguard.core.mechanism import Mechanism
from peerguard.live.platform import LivePlatform
from peerguard.sim.substrate import SimulatedPlatform

PRIMITIVES = sorted(name for name, value in vars(Mechanism).items() if inspect.isfunction(value) and name[0] != "_")


def arguments(function: Callable[..., object]) -> list[tuple[object, bool]]:
    """Each parameter's kind and whether it has a default (the names may differ: `agent`, `agent_id`)."""
    return [(p.kind, p.default is not p.empty) for p in inspect.signature(function).parameters.values()]


def test_the_protocol_names_the_primitives_the_core_needs() -> None:
    assert {"clock", "call_at", "spawn", "kill", "link", "unlink", "notify", "read_file", "write_file"} <= set(
        PRIMITIVES
    )


@pytest.mark.parametrize("substrate", [SimulatedPlatform, LivePlatform])
@pytest.mark.parametrize("name", PRIMITIVES)
def test_each_substrate_implements_each_primitive(substrate: type, name: str) -> None:
    theirs = getattr(substrate, name, None)
    assert callable(theirs), f"{substrate.__name__} has no {name}"
    assert arguments(theirs) == arguments(getattr(Mechanism, name))
