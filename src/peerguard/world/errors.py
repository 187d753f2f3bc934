"""The one exception family for failures a user can fix."""

from __future__ import annotations


class PeerguardError(Exception):
    """A failure the user can fix; the message names the input, the problem and the fix."""


class UnknownPartError(PeerguardError):
    """A registered part (policy, scenario, ...) was asked for by a name nobody registered."""


class PartArgumentError(PeerguardError):
    """A registered part was given arguments its factory does not accept."""


class ScenarioError(PeerguardError):
    """A scenario file or name is invalid. Holds one problem per (field path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path}: {message}" if path else f"{source}: {message}" for path, message in problems]
        super().__init__("\n".join(lines))


class RunInterrupted(Exception):
    """A run stopped early by SIGINT or SIGTERM, after it cleaned up; not a failure of the input."""

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        super().__init__(f"interrupted by signal {signal_number}")
