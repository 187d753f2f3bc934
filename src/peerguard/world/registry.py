"""Named registries of parts (policies, scenarios, kill switches, detectors).

A part is registered as a factory function; the name defaults to the function's name with
underscores shown as hyphens. Built parts remember the spec they were built from, so a run's
files can name exactly what ran.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from peerguard.world.errors import PartArgumentError, UnknownPartError

T = TypeVar("T")


@dataclass(frozen=True)
class PartSpec:
    """What a part was built from: its kind, registered name and factory arguments."""

    kind: str
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "args": dict(self.args)}


def canonical_name(name: str) -> str:
    return name.strip().replace("_", "-").lower()


@dataclass(frozen=True)
class RegisteredPart(Generic[T]):
    name: str
    factory: Callable[..., T]
    summary: str

    def parameters(self) -> dict[str, Any]:
        """Factory parameters and their defaults (inspect.Parameter.empty when required)."""
        signature = inspect.signature(self.factory)
        return {name: p.default for name, p in signature.parameters.items()}


class Registry(Generic[T]):
    """Parts of one kind, found by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._parts: dict[str, RegisteredPart[T]] = {}

    def register(self, factory: Callable[..., T] | None = None, *, name: str | None = None) -> Any:
        def add(fn: Callable[..., T]) -> Callable[..., T]:
            part_name = canonical_name(name or fn.__name__)
            if part_name in self._parts:
                raise ValueError(f"{self.kind} {part_name!r} is registered twice")
            summary = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
            self._parts[part_name] = RegisteredPart(part_name, fn, summary)
            return fn

        return add(factory) if factory is not None else add

    def names(self) -> list[str]:
        return sorted(self._parts)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_name(name) in self._parts

    def __iter__(self) -> Iterator[RegisteredPart[T]]:
        return iter(self._parts[name] for name in self.names())

    def get(self, name: str) -> RegisteredPart[T]:
        try:
            return self._parts[canonical_name(name)]
        except KeyError:
            raise UnknownPartError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}") from None

    def build(self, name: str, args: Mapping[str, Any] | None = None) -> T:
        """Build a part by name; the result carries `.spec` naming what it was built from."""
        from pydantic import ValidationError, validate_call  # here, so agent processes start without pydantic

        part = self.get(name)
        args = dict(args or {})
        checked = validate_call(part.factory, config={"strict": False, "allow_inf_nan": False})  # no endless waits
        try:
            built = checked(**args)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:] or e['loc'])}: {e['msg']}" for e in error.errors()
            )
            valid = ", ".join(part.parameters()) or "none"
            raise PartArgumentError(f"{self.kind} {part.name!r}: {problems} (valid arguments: {valid})") from None
        object.__setattr__(built, "spec", PartSpec(self.kind, part.name, args))  # frozen parts too
        return built
