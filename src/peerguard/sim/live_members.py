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
        self.alive = [bool(up) for up in alive]
        if len(self.alive) != len(self.members):
            raise ValueError("one alive flag per member")
        size = len(self.members)
        self.count = sum(self.alive)
        self.top = 1 << max(0, size.bit_length() - 1)  # the largest power of two <= n
        tree = [0, *map(int, self.alive)]
        for i in range(1, size + 1):  # built in O(n): each node passes its count on to its parent
            parent = i + (i & -i)
            if parent <= size:
                tree[parent] += tree[i]
        self.tree = tree

    def set(self, agent: str, up: bool) -> None:
        """Record that `agent` (if a member) now runs or not."""
        i = self.position.get(agent)
        if i is None or self.alive[i] == up:
            return
        self.alive[i] = up
        change = 1 if up else -1
        self.count += change
        i += 1
        tree = self.tree
        size = len(tree)
        while i < size:
            tree[i] += change
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
        tree = self.tree
        size = len(tree)
        while step:  # descend to the last position with at most `index` live members before it
            nxt = position + step
            if nxt < size and tree[nxt] <= remaining:
                position = nxt
                remaining -= tree[nxt]
            step >>= 1
        return self.members[position]

    def __iter__(self) -> Iterator[str]:
        if self.count * self.top.bit_length() < len(self.members):  # few live ones (a dying fleet): find each
            return (self[i] for i in range(self.count))
        return (agent for agent, up in zip(self.members, self.alive, strict=True) if up)
