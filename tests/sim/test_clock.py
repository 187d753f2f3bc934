"""The event loop runs events in time order, ties in the order they were scheduled, and leaves the garbage
collector as it found it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from peerguard.experiments.runner import prepare
from peerguard.policies.scripted import Compliant
from peerguard.sim.clock import EventLoop
from peerguard.sim.substrate import simulate
from peerguard.world.agents import Agent
from peerguard.world.policy import Policy


@pytest.fixture
def collector() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_events_run_in_time_order_and_ties_in_scheduling_order() -> None:
    loop, ran = EventLoop(), []
    for name, time in [("c", 2.0), ("a", 1.0), ("b", 1.0), ("late", 5.0)]:
        loop.at(time, ran.append, name)
    assert loop.run(until=3.0) == 3
    assert ran == ["a", "b", "c"] and loop.now == 3.0
    assert loop.run(until=5.0) == 1  # the event past the first end was kept for the next call
    assert ran == ["a", "b", "c", "late"]


def test_an_event_may_schedule_another_within_the_run() -> None:
    loop, ran = EventLoop(), []

    def tick(n: int) -> None:
        ran.append((loop.now, n))
        loop.after(1.0, tick, n + 1)

    loop.at(0.5, tick, 0)
    loop.run(until=3.0)
    assert ran == [(0.5, 0), (1.5, 1), (2.5, 2)]


class Cycle:
    """Garbage only the cyclic collector can free: it refers to itself."""

    def __init__(self) -> None:
        self.me = self


@pytest.mark.usefixtures("collector")
@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was(enabled: bool) -> None:
    gc.enable() if enabled else gc.disable()
    loop = EventLoop()
    loop.at(1.0, Cycle)
    loop.run(until=2.0)
    assert gc.isenabled() is enabled


@pytest.mark.usefixtures("collector")
def test_cycles_a_run_left_behind_are_young_for_the_collector() -> None:
    # A finished run's platform is such a cycle, holding its ledger: it must go with the next collections of
    # the young generations, not wait for a full one (moving a run's objects to the oldest generation kept
    # one dead ledger per episode alive in a study's process).
    gc.enable()
    loop, left = EventLoop(), []

    def make_garbage() -> None:
        left.append(weakref.ref(Cycle()))

    for i in range(200_000):  # a run that makes many objects the collector tracks
        loop.at(i * 1e-6, make_garbage)
    loop.run(until=1.0)
    gc.collect(1)
    assert all(ref() is None for ref in left[-10:])


@pytest.mark.usefixtures("collector")
def test_the_collector_is_enabled_again_when_an_event_raises() -> None:
    gc.enable()
    loop = EventLoop()

    def fail() -> None:
        assert not gc.isenabled()  # the events run with the collector paused
        raise RuntimeError("an event failed")

    loop.at(1.0, fail)
    with pytest.raises(RuntimeError, match="an event failed"):
        loop.run(until=2.0)
    assert gc.isenabled()


def test_scheduling_in_the_past_is_refused() -> None:
    loop = EventLoop()
    loop.run(until=2.0)
    with pytest.raises(ValueError, match="before now"):
        loop.at(1.0, print)
    with pytest.raises(ValueError, match="negative"):
        loop.after(-0.5, print)


@pytest.mark.usefixtures("collector")
@pytest.mark.parametrize("enabled", [True, False])
def test_a_simulated_run_builds_and_starts_with_the_collector_paused_and_leaves_it_as_it_was(enabled: bool) -> None:
    gc.enable() if enabled else gc.disable()
    scenario = prepare("ring", agents=30, duration=5, seed=1)
    seen: list[bool] = []

    def policy_of(agent: Agent) -> Policy:
        seen.append(gc.isenabled())  # the platform asks for each agent's policy while it is built
        return Compliant()

    simulate(scenario, policy_of)
    assert seen and not any(seen)
    assert gc.isenabled() is enabled
