"""The event loop: one heap of (time, sequence, callback, args); the counter makes ties deterministic."""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from heapq import heappop, heappush
from typing import Any

TICK_EVENTS = 4096  # events between two calls of a run's tick


class EventLoop:
    """`queue` and `sequence` are open to the simulator's most frequent event (a worker's task), which pushes
    its next period itself, reusing its own arguments: `heappush(queue, (t, next(sequence), callback, args))`."""

    __slots__ = ("now", "queue", "sequence")

    def __init__(self) -> None:
        self.now = 0.0
        self.queue: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.sequence = itertools.count()

    def at(self, time: float, callback: Callable[..., None], *args: Any) -> None:
        if time < self.now:
            raise ValueError(f"cannot schedule at {time}, before now ({self.now})")
        heappush(self.queue, (time, next(self.sequence), callback, args))

    def after(self, delay_s: float, callback: Callable[..., None], *args: Any) -> None:
        if delay_s < 0:
            raise ValueError(f"cannot schedule {delay_s} s from now: the delay is negative")
        heappush(self.queue, (self.now + delay_s, next(self.sequence), callback, args))

    def run(self, until: float, tick: Callable[[int], None] | None = None) -> int:
        """Run every event due up to `until`; returns how many ran. `tick`, if given, is called with the count
        so far after every `TICK_EVENTS` events (a progress report reads the wall clock there, not per event);
        it runs outside the heap, so it takes no sequence number and the run is the same with it or without.

        The cyclic garbage collector waits until the events have run: a run piles up ledger entries that
        live as long as it does and hold no cycles, and the collector would walk all of them again at each
        full collection (a quarter of a long run's time); its own cycles are collected once it is over."""
        queue = self.queue
        chunk = range(TICK_EVENTS)
        ran = 0
        done = 0
        with collector_paused():
            while True:  # chunks of TICK_EVENTS: a range's step costs no more than the `while queue` it replaces
                for done in chunk:  # noqa: B007 (read after the loop: how far the chunk got)
                    if not queue:
                        break
                    time, _, callback, args = event = heappop(queue)
                    if time > until:  # the first event past the end goes back: one push per call, not a peek each
                        heappush(queue, event)
                        break
                    self.now = time
                    callback(*args)
                else:
                    ran += TICK_EVENTS
                    if tick is not None:
                        tick(ran)
                    continue
                ran += done  # the chunk broke off at index `done`: that many of its events ran
                break
        self.now = until
        return ran


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector waits while a run builds or runs (what it makes lives as long as the run
    and holds no cycles), and is left as it was found, also when the body raises."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
