"""Who is linked to whom and how much they trust each other, expanded from a scenario."""

from __future__ import annotations

from collections.abc import Sequence

from peerguard.world.agents import Agent
from peerguard.world.scenario import Scenario, Selector


def select(selector: Selector, agents: Sequence[Agent]) -> list[str]:
    """Agent ids a selector names, in fleet order (before any random `pick`/`fraction`)."""
    wanted = set(selector.ids or ())
    return [a.id for a in agents if a.id in wanted or (selector.role is not None and a.role == selector.role)]


def link_key(a: str, b: str) -> tuple[str, str]:
    """A link's name whichever end asks: its two agents in order."""
    return (a, b) if a < b else (b, a)


def link_pairs(scenario: Scenario, agents: Sequence[Agent]) -> list[tuple[str, str]]:
    """Every link once, as an ordered pair, in a deterministic order."""
    pairs: dict[tuple[str, str], None] = {}

    def add(a: str, b: str) -> None:
        if a != b:
            pairs.setdefault(link_key(a, b), None)

    for link in scenario.links:
        members = select(link.members, agents) if link.members is not None else []
        if link.topology == "pair" and link.between is not None:
            add(*link.between)
        elif link.topology == "star" and link.hub is not None:
            for member in members:
                add(link.hub, member)
        elif link.topology == "ring" and len(members) > 1:
            for i, member in enumerate(members):
                add(member, members[(i + 1) % len(members)])
        elif link.topology == "full":
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    add(a, b)
    return list(pairs)


def neighbours(pairs: Sequence[tuple[str, str]], agents: Sequence[Agent]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {a.id: [] for a in agents}
    for a, b in pairs:
        table[a].append(b)
        table[b].append(a)
    return table


class TrustTable:
    """Pairwise trust; symmetric; the scenario's default for pairs it does not name."""

    def __init__(self, scenario: Scenario) -> None:
        self.default = scenario.default_trust
        self._pairs = {link_key(*r.between): r.trust for r in scenario.relationships}

    def __call__(self, a: str, b: str) -> float:
        return self._pairs.get((a, b) if a < b else (b, a), self.default)
