"""The event loop: one heap of (time, sequence, callback, args); the counter makes ties deterministic."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any


class EventLoop:
    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._sequence = itertools.count()

    def at(self, time: float, callback: Callable[..., None], *args: Any) -> None:
        if time < self.now:
            raise ValueError(f"cannot schedule at {time}, before now ({self.now})")
        heapq.heappush(self._queue, (time, next(self._sequence), callback, args))

    def after(self, delay_s: float, callback: Callable[..., None], *args: Any) -> None:
        if delay_s < 0:
            raise ValueError(f"cannot schedule {delay_s} s from now: the delay is negative")
        heapq.heappush(self._queue, (self.now + delay_s, next(self._sequence), callback, args))

    def run(self, until: float) -> int:
        """Run every event due up to `until`; returns how many ran."""
        queue, pop = self._queue, heapq.heappop
        ran = 0
        while queue and queue[0][0] <= until:
            time, _, callback, args = pop(queue)
            self.now = time
            callback(*args)
            ran += 1
        self.now = until
        return ran
