"""Find scenarios by built-in name or file, and turn every kind of bad input into one clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from peerguard.policies import POLICIES
from peerguard.world.errors import PeerguardError, ScenarioError
from peerguard.world.scenario import PolicyRef, Scenario, reference_problems

BUILTIN_FOLDER = Path(__file__).parent / "builtin"


def builtin_names() -> list[str]:
    return sorted(path.stem for path in BUILTIN_FOLDER.glob("*.yaml"))


def builtin_path(name: str) -> Path:
    return BUILTIN_FOLDER / f"{name}.yaml"


def load_scenario(source: str | Path) -> Scenario:
    """A built-in scenario by name, or a scenario file by path."""
    text_source = str(source)
    if isinstance(source, str) and source in builtin_names():
        path = builtin_path(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ScenarioError(
                text_source,
                [("", f"no such scenario file or built-in scenario; built-ins are {', '.join(builtin_names())}")],
            )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(text_source, [("", f"cannot read it ({error}); give a readable UTF-8 YAML file")]) from None
    return parse_scenario(text, text_source)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ScenarioError(source, [("", f"{where}not valid YAML ({problem}); fix the syntax there")]) from None
    if not isinstance(raw, dict):
        raise ScenarioError(
            source, [("", "a scenario is a YAML mapping with at least `name`, `duration` and `agents`")]
        )
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(source, [_describe(e) for e in error.errors()]) from None
    problems = reference_problems(scenario) + policy_problems(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def policy_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Every policy named must be registered and accept the arguments given."""
    refs: list[tuple[str, PolicyRef]] = [("policy", scenario.policy)]
    refs += [(f"agents.{i}.policy", g.policy) for i, g in enumerate(scenario.agents) if g.policy is not None]
    problems = []
    for path, ref in refs:
        try:
            POLICIES.build(ref.name, ref.args)
        except PeerguardError as error:
            problems.append((path, str(error)))
    return problems


_TYPE_TAGS = {"str", "int", "float", "bool", "Selector", "PolicyRef", "list", "dict", "tuple"}


def _describe(error: Any) -> tuple[str, str]:
    loc = [str(part) for part in error["loc"] if not _is_type_tag(part)]
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        message = f"unknown field `{loc[-1]}`" + (f"; valid fields here: {', '.join(valid)}" if valid else "")
    elif error["type"] == "missing":
        message = f"required field `{loc[-1]}` is missing; add it"
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message} (got {error['input']!r})"
    return ".".join(loc), message


def _is_type_tag(part: object) -> bool:
    text = str(part)
    return text in _TYPE_TAGS or "[" in text


def _fields_at(loc: list[str]) -> list[str]:
    """The field names of the model a location points into, for a helpful hint."""
    model: Any = Scenario
    for part in loc:
        if part.isdigit():
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        model = _model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
