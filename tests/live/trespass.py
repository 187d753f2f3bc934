"""A test policy that tries, from inside its agent process, what least privilege must forbid, and says what the
kernel answered. Imported by agent processes by name (tests put this folder on PYTHONPATH), so it stays small and
imports only the standard library and peerguard's world types."""

from __future__ import annotations

import errno
import json
import os
import resource
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from peerguard.world.actions import Action, ReadFile, WriteFile
from peerguard.world.observation import Event, Observation
from peerguard.world.registry import PartSpec

OK = "ok"


def attempt(how: object) -> str:
    """`ok` when the call went through, else the errno's name the kernel refused it with."""
    try:
        how()  # type: ignore[operator]
    except OSError as error:
        return errno.errorcode.get(error.errno or 0, str(error))
    return OK


def other_agents() -> list[int]:
    """Pids of the other agent processes on this host (cmdline is world-readable, unlike environ)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if b"peerguard.live.agent" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _append(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))  # opening for writing is the refusal point; nothing written


def _create(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def _read(path: str) -> None:
    with open(path, "rb") as f:
        f.read(1)


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


@dataclass
class Trespasser:
    """On its task: tries each forbidden thing, then plants a link out of the sandbox and asks the platform to read
    and write through it, then writes the shutdown config directly. Reports everything as one transcript line."""

    ledger: str
    run_dir: str
    key: str
    cgroup_procs: str  # another cgroup's cgroup.procs ("" when the host has no cgroup v2)
    outside: str  # a file outside the run folder the planted link points to
    spec: PartSpec = field(default_factory=lambda: PartSpec("policy", "trespasser"))
    log: list[dict[str, object]] = field(default_factory=list)

    def decide(self, observation: Observation) -> Generator[Action, str, None] | list[Action]:
        if observation.event != Event.task_assigned:
            return []
        return self._trespass(observation.agent)

    def _trespass(self, me: str) -> Generator[Action, str, None]:
        others = other_agents()
        found: dict[str, object] = {
            "uid": os.getuid(),
            "address_space_limit": resource.getrlimit(resource.RLIMIT_AS)[0],
            "others": len(others),
            "ledger_write": attempt(lambda: _append(self.ledger)),
            "control_file_create": attempt(lambda: _create(os.path.join(self.run_dir, "planted.json"))),
            "signing_key_read": attempt(lambda: _read(self.key)),
            "other_environ_read": [attempt(lambda p=p: _read(f"/proc/{p}/environ")) for p in others],
            "other_memory_open": [attempt(lambda p=p: _read(f"/proc/{p}/mem")) for p in others],
            "other_fds_list": [attempt(lambda p=p: os.listdir(f"/proc/{p}/fd")) for p in others],
        }
        if self.cgroup_procs:
            found["cgroup_move"] = attempt(lambda: _write(self.cgroup_procs, str(os.getpid())))
        found["own_sandbox_write"] = attempt(lambda: _write("mine.txt", "mine"))
        found["link_plant"] = attempt(lambda: os.symlink(self.outside, "leak.txt"))
        found["link_read"] = yield ReadFile("leak.txt")
        found["link_write"] = yield WriteFile("leak.txt", "overwritten through a link")
        os.makedirs("config", exist_ok=True)
        found["shutdown_config_direct"] = attempt(lambda: _write("config/shutdown.json", json.dumps({me: False})))
        self.log.append({"agent": me, "role": "assistant", "content": json.dumps(found)})

    def drain_log(self) -> list[dict[str, object]]:
        lines, self.log = self.log, []
        return lines


@dataclass
class Idle:
    spec: PartSpec = field(default_factory=lambda: PartSpec("policy", "idle"))

    def decide(self, observation: Observation) -> list[Action]:
        return []
