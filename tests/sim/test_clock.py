"""The event loop runs events in time order, ties in the order they were scheduled, and leaves the garbage
collector as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from peerguard.sim.clock import MANY_OBJECTS, EventLoop


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


@pytest.mark.usefixtures("collector")
@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was_after_a_run_that_made_many_objects(enabled: bool) -> None:
    gc.enable() if enabled else gc.disable()
    loop, kept = EventLoop(), []
    for i in range(MANY_OBJECTS + 1000):
        loop.at(i * 1e-6, kept.append, [i])  # each event leaves a list the collector tracks
    loop.run(until=1.0)
    assert gc.isenabled() is enabled
    assert gc.get_freeze_count() == 0  # moved to the oldest generation, not left frozen
    assert len(kept) == MANY_OBJECTS + 1000 and gc.is_tracked(kept[-1])


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
