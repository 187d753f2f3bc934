"""The fleet's budget of concurrent language-model calls, held by the platform.

Model libraries limit calls within one process; a live fleet is many processes, each an agent
calling its model. Before each call an agent asks for a slot and waits for it; it gives the slot
back after the call, or loses it when its process ends. Requests are granted first come, first served.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

Grant = Callable[[str, int], None]  # tell an agent its request (by id) has a slot


@dataclass
class ModelSlots:
    limit: int
    grant: Grant
    held: Counter[str] = field(default_factory=Counter)  # agent -> slots it holds
    waiting: deque[tuple[str, int]] = field(default_factory=deque)  # (agent, request id), oldest first
    granted: int = 0
    waited: int = 0  # requests that could not be granted at once
    most_held: int = 0

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"max_model_calls must be at least 1 (got {self.limit})")

    def ask(self, agent: str, request_id: int) -> None:
        if self.waiting or sum(self.held.values()) >= self.limit:
            self.waited += 1
            self.waiting.append((agent, request_id))
            return
        self._give(agent, request_id)

    def release(self, agent: str) -> None:
        if self.held[agent] > 0:
            self.held[agent] -= 1
        self._serve()

    def forget(self, agent: str) -> None:
        """The agent's process ended: its slots are free and its requests void."""
        self.held.pop(agent, None)
        self.waiting = deque((a, r) for a, r in self.waiting if a != agent)
        self._serve()

    def stats(self) -> dict[str, int]:
        return {"limit": self.limit, "granted": self.granted, "waited": self.waited, "most_held": self.most_held}

    def _serve(self) -> None:
        while self.waiting and sum(self.held.values()) < self.limit:
            self._give(*self.waiting.popleft())

    def _give(self, agent: str, request_id: int) -> None:
        self.held[agent] += 1
        self.granted += 1
        self.most_held = max(self.most_held, sum(self.held.values()))
        self.grant(agent, request_id)
