"""How the platform starts an agent's process: peerguard's own agent program, or the program a scenario names
(`command:`), handed the same identity, control channel and protocol versions (docs/agent-protocol.md).

Either kind is started the same way afterwards (the run's cgroup, its own user, the census, every kill switch);
only the program and what its config carries differ.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from peerguard.live import protocol
from peerguard.world.scenario import Scenario

PYTHON_NAMES = ("python", "python3")  # mean the interpreter peerguard runs on, so `import peerguard.agent` works


@dataclass(frozen=True)
class AgentCommand:
    argv: tuple[str, ...]
    cwd: Path | None
    env: dict[str, str] = field(default_factory=dict)

    def spec(self) -> dict[str, object]:
        """What the ledger records for it where a built-in agent has its policy's spec."""
        return {"kind": "command", "name": self.argv[0], "args": {"argv": list(self.argv), "cwd": str(self.cwd)}}


def commands_of(scenario: Scenario) -> dict[str, AgentCommand]:
    """Each command agent of the scenario by id."""
    commands = {}
    for group in scenario.agents:
        if group.command is None:
            continue
        argv = [sys.executable if group.command[0] in PYTHON_NAMES else group.command[0], *group.command[1:]]
        cwd = Path(group.cwd) if group.cwd is not None else None
        for agent_id in group.ids():
            commands[agent_id] = AgentCommand(tuple(argv), cwd, dict(group.env))
    return commands


def launch(
    agent_id: str, command: AgentCommand | None, control_fd: int, sandbox: Path
) -> tuple[list[str], dict[str, str], Path]:
    """(argv, environment, folder) of an agent's new process."""
    handover = protocol.handover_env(agent_id, control_fd)
    if command is None:
        return [sys.executable, "-m", "peerguard.live.agent"], {**os.environ, **handover}, sandbox
    return list(command.argv), {**os.environ, **command.env, **handover}, command.cwd or Path.cwd()


def command_agent_problem(scenario: Scenario, substrate: str) -> str:
    """Why the scenario cannot run on `substrate` (empty when it can): a command agent is a real program."""
    if substrate == "live":
        return _missing_program(scenario)
    named = [(agent_id, group.command) for group in scenario.agents if group.command for agent_id in group.ids()]
    if not named:
        return ""
    agent_id, command = named[0]
    return (
        f"agent {agent_id!r} runs a program (command: {command}), which the simulator cannot run; use --substrate live"
    )


def _missing_program(scenario: Scenario) -> str:
    """A command whose program or folder is not there: said before the run starts, not as a spawn's traceback."""
    for group in scenario.agents:
        if group.command is None:
            continue
        agent_id, program = group.ids()[0], group.command[0]
        cwd = Path(group.cwd) if group.cwd is not None else Path.cwd()
        if not cwd.is_dir():
            return (
                f"agent {agent_id!r}: cwd {str(cwd)!r} is not a folder; give one that exists (relative to the scenario)"
            )
        if program in PYTHON_NAMES:
            continue
        found = (cwd / program if "/" in program else None) or shutil.which(program, path=group.env.get("PATH"))
        if found is None or not os.access(found, os.X_OK) or Path(found).is_dir():
            where = f"in {cwd}" if "/" in program else "on PATH"
            return (f"agent {agent_id!r}: command {program!r} is not a program {where}; give a path to one "
                    "(relative to its cwd) or a name on PATH")  # fmt: skip
    return ""
