"""Registries find parts by name, check their arguments and record what each part was built from."""

from __future__ import annotations

import pytest

from peerguard.world.errors import PartArgumentError, UnknownPartError
from peerguard.world.registry import PartSpec, Registry


class Thing:
    spec: PartSpec

    def __init__(self, size: int) -> None:
        self.size = size


def make_registry() -> Registry[Thing]:
    registry: Registry[Thing] = Registry("thing")

    @registry.register
    def big_thing(size: int = 10) -> Thing:
        """A big thing."""
        return Thing(size)

    return registry


def test_name_defaults_to_function_name_with_hyphens() -> None:
    registry = make_registry()
    assert registry.names() == ["big-thing"]
    assert "big_thing" in registry and "big-thing" in registry


def test_built_part_remembers_its_spec() -> None:
    thing = make_registry().build("big-thing", {"size": 3})
    assert thing.size == 3
    assert thing.spec == PartSpec("thing", "big-thing", {"size": 3})


def test_duplicate_name_fails_at_registration() -> None:
    registry = make_registry()
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(lambda: Thing(1), name="big_thing")


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownPartError, match="unknown thing 'small'; valid names: big-thing"):
        make_registry().build("small")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [({"size": "huge"}, "size: Input should be a valid integer"), ({"colour": 1}, "colour: Unexpected keyword")],
)
def test_bad_arguments_name_the_argument_and_the_valid_ones(args: dict, fragment: str) -> None:
    with pytest.raises(PartArgumentError) as caught:
        make_registry().build("big-thing", args)
    assert fragment in str(caught.value)
    assert "valid arguments: size" in str(caught.value)
