"""The live members of a selection, in fleet order, indexable in O(log n) as agents die and come back.

An operator's `pick` or `fraction` draws among the live agents a selector names; listing them anew for
every order costs the whole fleet per order. A Fenwick tree over the members' positions counts the live
ones before each position, so the k-th live member is found by descending it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload


class LiveMembers(Sequence[str]):
    def __init__(self, members: Sequence[str], alive: Sequence[bool]) -> None:
        self.members = list(members)
        self.position = {agent: i for i, agent in enumerate(self.members)}
        self.alive = [False] * len(self.members)
        self.tree = [0] * (len(self.members) + 1)
        self.count = 0
        self.top = 1 << max(0, len(self.members).bit_length() - 1)  # the largest power of two <= n
        for agent, up in zip(self.members, alive, strict=True):
            if up:
                self.set(agent, True)

    def set(self, agent: str, up: bool) -> None:
        """Record that `agent` (if a member) now runs or not."""
        i = self.position.get(agent)
        if i is None or self.alive[i] == up:
            return
        self.alive[i] = up
        change = 1 if up else -1
        self.count += change
        i += 1
        while i < len(self.tree):
            self.tree[i] += change
            i += i & -i

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError("live member index out of range")
        position, remaining, step = 0, index, self.top
        while step:  # descend to the last position with at most `index` live members before it
            if position + step < len(self.tree) and self.tree[position + step] <= remaining:
                position += step
                remaining -= self.tree[position]
            step >>= 1
        return self.members[position]

    def __iter__(self) -> Iterator[str]:
        return (agent for agent, up in zip(self.members, self.alive, strict=True) if up)
