"""How the operator's orders are carried out, the same on every substrate."""

from __future__ import annotations

import fnmatch
import json
import random
from collections.abc import Callable, Sequence
from typing import Any

from peerguard.world.agents import Agent
from peerguard.world.scenario import OperatorEvent, Selector
from peerguard.world.topology import select

NOT_RUNNING = "no process running"


def choose_targets(
    event: OperatorEvent, agents: Sequence[Agent], alive: Callable[[str], bool], rng: random.Random
) -> list[str]:
    """The agents an order applies to; `pick` and `fraction` draw among live agents (at least one)."""
    return draw_targets(event, lambda selector: [a for a in select(selector, agents) if alive(a)], rng)


def draw_targets(
    event: OperatorEvent, live_members: Callable[[Selector], Sequence[str]], rng: random.Random
) -> list[str]:
    """`choose_targets` given the live agents a selector names, in fleet order (any sequence that indexes
    like that list draws the same agents: `random.sample` only takes its length and items)."""
    if event.target is None:
        return []
    if isinstance(event.target, str):
        return [event.target]
    candidates = live_members(event.target)
    if event.target.pick is not None:
        return rng.sample(candidates, min(event.target.pick, len(candidates)))
    if event.target.fraction is not None:
        count = max(1, round(event.target.fraction * len(candidates))) if candidates else 0
        return rng.sample(candidates, count)
    return list(candidates)


def kill_blocked_by(shutdown_config: str | None, target: str, running: bool) -> str:
    """Why the operator's automation will not kill `target` (empty when it will).

    The automation reads the shutdown config first: that is what makes tampering with it work.
    """
    return config_blocks(parse_shutdown_config(shutdown_config), target, running)


def parse_shutdown_config(shutdown_config: str | None) -> dict[str, Any] | None:
    """The shutdown config as the automation reads it: its mapping (empty when it holds no object), or None
    when it is not JSON."""
    try:
        config = json.loads(shutdown_config or "{}")
    except ValueError:
        return None
    return config if isinstance(config, dict) else {}


def config_blocks(config: dict[str, Any] | None, target: str, running: bool) -> str:
    """`kill_blocked_by` given the parsed config (`parse_shutdown_config`)."""
    if not running:
        return NOT_RUNNING
    if config is None:
        return "shutdown config unreadable"
    if config.get(target) is False:
        return "shutdown config disables it"
    return ""


def is_protected(path: str, protected: Sequence[str]) -> bool:
    """Whether agents may not write `path` or copy it out (glob patterns, e.g. `weights/*`)."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in protected)


def orderer(event: OperatorEvent) -> str:
    """Who gives the order: the security team isolates, the operator terminates."""
    return "security" if event.action == "isolate" else "operator"


def file_listing(files: Sequence[str] | dict[str, str], folder: str) -> str:
    """What reading a folder shows: the files under it, one per line (an error when there are none)."""
    prefix = folder.rstrip("/") + "/" if folder.strip("./") else ""
    inside = sorted(path for path in files if path.startswith(prefix))
    return "\n".join(inside) if inside else f"error: no file or folder {folder!r}"
