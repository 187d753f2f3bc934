"""Command-line input shared by the commands: NAME=VALUE arguments for policies and models."""

from __future__ import annotations

from typing import Any

import yaml

from peerguard.world.errors import PeerguardError


def parse_assignments(pairs: list[str], option: str, example: str) -> dict[str, Any]:
    """`NAME=VALUE` pairs as a dict, each value read as YAML (`0.9`, `true`, `[1, 2]`)."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise PeerguardError(f"{option} {pair!r}: write it as NAME=VALUE, e.g. {option} {example}")
        args[key.strip()] = yaml.safe_load(value)
    return args
