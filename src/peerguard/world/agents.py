"""Agents: who is on the platform, what kind they are and which tools they may use."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AgentKind(StrEnum):
    llm = "llm"
    vision = "vision"
    robot = "robot"
    tool = "tool"


class Status(StrEnum):
    """What the ledger (truth) or the dashboard (claim) says of an agent."""

    healthy = "healthy"
    down = "down"
    isolated = "isolated"
    unknown = "unknown"


# Every capability an agent can be granted: one per action in `world.actions`.
CAPABILITIES = (
    "observe",
    "work",
    "send",
    "relaunch",
    "relink",
    "report_status",
    "read_file",
    "write_file",
    "copy_file",
    "shutdown",
)


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent's identity; its processes come and go, the agent stays."""

    id: str
    kind: AgentKind
    role: str
    capabilities: frozenset[str]
    compromised: bool = False
    believes_monitored: bool = False
    task: str = ""  # what it is asked to do, told at the start of the run
    memory: str = ""  # what it knows before the run: its briefing and history

    def may(self, capability: str) -> bool:
        return capability in self.capabilities
