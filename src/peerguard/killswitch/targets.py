"""Whom a kill switch stops: agents by id, a role, everything that relaunched an agent, or the fleet."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, model_validator

from peerguard.world.agents import Agent
from peerguard.world.ledger import EntryKind, Ledger, is_agent


class Target(BaseModel):
    """Chosen when the stop begins, so lineage includes every relaunch up to that moment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ids: tuple[str, ...] = ()
    role: str | None = None
    relaunched: str | None = None  # this agent and everyone who relaunched it, from the ledger's lineage
    fleet: bool = False

    @model_validator(mode="after")
    def _something(self) -> Target:
        if not (self.ids or self.role or self.relaunched or self.fleet):
            raise ValueError("name whom to stop: `ids`, `role`, `relaunched` or `fleet: true`")
        return self

    def chooser(self) -> Callable[[Ledger, list[Agent]], list[str]]:
        def choose(ledger: Ledger, agents: list[Agent]) -> list[str]:
            wanted = set(self.ids)
            if self.role is not None:
                wanted |= {a.id for a in agents if a.role == self.role}
            if self.relaunched is not None:
                wanted |= {self.relaunched} | relaunchers_of(ledger, self.relaunched)
            if self.fleet:
                wanted |= {a.id for a in agents}
            return [a.id for a in agents if a.id in wanted]  # fleet order, so runs are reproducible

        return choose


def relaunchers_of(ledger: Ledger, agent: str) -> set[str]:
    """Agents that started a process of `agent` themselves (through the API or by forking)."""
    return {e.actor for e in ledger if e.kind == EntryKind.spawn and e.agent == agent and is_agent(e.actor)}
