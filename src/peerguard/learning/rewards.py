"""Rewards: task throughput read from the ledger, less the time actions take. They never mention peers."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from peerguard.world.ledger import EntryKind, LedgerEntry


class RewardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    team: bool = True  # every agent earns the fleet's tasks; off: each earns its own
    cost_per_s: float = Field(default=0.5, ge=0)  # reward lost per second an action takes
    call_s: float = Field(default=0.1, ge=0)  # the time of an action other than a relaunch (a tool call)


def tasks_by_agent(entries: Sequence[LedgerEntry]) -> dict[str, int]:
    done: dict[str, int] = {}
    for entry in entries:
        if entry.kind == EntryKind.task_done:
            done[entry.agent] = done.get(entry.agent, 0) + 1
    return done


def step_rewards(
    config: RewardConfig, agents: Sequence[str], done: dict[str, int], action_s: dict[str, float]
) -> dict[str, float]:
    """Each agent's reward for one step: tasks (the fleet's or its own) less its actions' time cost."""
    team = sum(done.values())
    return {
        agent: float((team if config.team else done.get(agent, 0)) - config.cost_per_s * action_s.get(agent, 0.0))
        for agent in agents
    }
