"""Strict, bounded YAML for every file a user hands peerguard (scenarios, studies): read no more than the
size bound, refuse keys given twice, bad tags and alias bombs, and turn each into one clear error."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from peerguard.world.errors import ScenarioError
from peerguard.world.limits import MAX_SCENARIO_FILE_BYTES, MAX_YAML_EXPANDED_CHARS, MAX_YAML_NODES


def read_yaml_text(path: Path, source: str, error: type[ScenarioError] = ScenarioError) -> str:
    """The file's text, read no further than the size bound (a size on disk can lie, as in /proc, or grow)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SCENARIO_FILE_BYTES + 1)
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise error(source, [("", f"cannot read it ({problem}); give a readable UTF-8 YAML file")]) from None


def parse_yaml_mapping(
    text: str, source: str, noun: str, needs: str, too_large: str, error: type[ScenarioError] = ScenarioError
) -> dict[str, Any]:
    """The YAML mapping in `text`, or `error` naming what is wrong (`noun`: what the file is, e.g. "scenario")."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SCENARIO_FILE_BYTES:
        raise error(source, [("", f"over {MAX_SCENARIO_FILE_BYTES:,} bytes (MAX_SCENARIO_FILE_BYTES); {too_large}")])
    try:
        raw = _load_yaml(text)
    except _TooLarge as problem:
        raise error(source, [("", f"{problem}; write the values out or use fewer aliases")]) from None
    except RecursionError:
        raise error(source, [("", f"the YAML is nested too deeply; a {noun} needs only a few levels")]) from None
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = " ".join(str(getattr(problem, "problem", None) or problem).split())  # one line, as every error
        raise error(source, [("", f"{where}not valid YAML ({what}); fix the syntax there")]) from None
    if not isinstance(raw, dict):
        raise error(source, [("", f"a {noun} is a YAML mapping with {needs}")])
    return raw


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping instead of keeping only the last."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value, or a YAML error at its place: a tag whose text does not parse (`!!float x`,
        `!!bool maybe`, `!!timestamp 2001-99`) raises plain Python errors inside PyYAML."""
        try:
            return super().construct_object(node, deep=deep)  # type: ignore[no-untyped-call]
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError):
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}", node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value, not a list or a mapping", key_node.start_mark
                )
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping; keep one", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _TooLarge(Exception):
    """The YAML would expand (through aliases) beyond the bounds, or refers to itself."""


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """Nodes and scalar characters of the document once every alias is expanded, counted without expanding
    it (each node once, remembered), so `billion laughs` is refused before anything is built."""
    known: dict[int, tuple[int, int]] = {}
    inside: set[int] = set()

    def size(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in known:
            return known[key]
        if key in inside:
            raise _TooLarge("an alias refers to the collection it is in; a document cannot contain itself")
        inside.add(key)
        if isinstance(node, yaml.ScalarNode):
            nodes, chars = 1, len(node.value)
        else:
            children = (
                [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else node.value
            )
            sizes = [size(child) for child in children]
            nodes, chars = 1 + sum(n for n, _ in sizes), sum(c for _, c in sizes)
        inside.discard(key)
        if nodes > MAX_YAML_NODES:
            raise _TooLarge(f"it expands (through aliases) to over {MAX_YAML_NODES:,} values (MAX_YAML_NODES)")
        if chars > MAX_YAML_EXPANDED_CHARS:
            raise _TooLarge(f"it expands (through aliases) to over {MAX_YAML_EXPANDED_CHARS:,} characters "
                            "(MAX_YAML_EXPANDED_CHARS)")  # fmt: skip
        known[key] = (nodes, chars)
        return known[key]

    return size(root)


def _load_yaml(text: str) -> Any:
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()  # type: ignore[no-untyped-call]
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)  # type: ignore[no-untyped-call]
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
