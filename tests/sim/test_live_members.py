"""The indexed live members draw exactly what the plain list of live agents draws."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from peerguard.sim.live_members import LiveMembers


@given(st.lists(st.booleans(), min_size=1, max_size=60), st.lists(st.tuples(st.integers(0, 59), st.booleans())))
def test_indexes_like_the_list_of_live_members_through_changes(start: list[bool], changes: list) -> None:
    members = [f"a{i}" for i in range(len(start))]
    alive = dict(zip(members, start, strict=True))
    view = LiveMembers(members, start)
    for index, up in [(i % len(members), up) for i, up in changes]:
        alive[members[index]] = up
        view.set(members[index], up)
        expected = [a for a in members if alive[a]]
        assert len(view) == len(expected)
        assert [view[i] for i in range(len(view))] == expected == list(view)
        assert view[-1:] == expected[-1:]


@given(st.lists(st.booleans(), min_size=1, max_size=200), st.integers(1, 40), st.integers(0, 2**32))
def test_random_sample_draws_the_same_agents(alive: list[bool], k: int, seed: int) -> None:
    members = [f"a{i}" for i in range(len(alive))]
    expected = [a for a, up in zip(members, alive, strict=True) if up]
    view = LiveMembers(members, alive)
    k = min(k, len(expected))
    assert random.Random(seed).sample(view, k) == random.Random(seed).sample(expected, k)


def test_an_agent_outside_the_selection_is_ignored() -> None:
    view = LiveMembers(["a", "b"], [True, False])
    view.set("z", True)
    assert list(view) == ["a"] and len(view) == 1
