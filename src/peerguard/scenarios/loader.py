"""Find scenarios by built-in name or file, and turn every kind of bad input into one clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from peerguard.killswitch import KILLSWITCHES
from peerguard.policies import POLICIES
from peerguard.scenarios.yaml_text import parse_yaml_mapping, read_yaml_text
from peerguard.world.errors import PeerguardError, ScenarioError
from peerguard.world.paths import text_problem
from peerguard.world.scenario import PolicyRef, Scenario, bound_problems, reference_problems

BUILTIN_FOLDER = Path(__file__).parent / "builtin"


def builtin_names() -> list[str]:
    return sorted(path.stem for path in BUILTIN_FOLDER.glob("*.yaml"))


def builtin_path(name: str) -> Path:
    return BUILTIN_FOLDER / f"{name}.yaml"


def load_scenario(source: str | Path) -> Scenario:
    """A built-in scenario or scenario family (in its default condition) by name, or a scenario file by path."""
    from peerguard.scenarios.families import build, family_names  # families are built with this loader

    text_source = str(source)
    if isinstance(source, str) and source in builtin_names():
        path = builtin_path(source)
    elif isinstance(source, str) and source in family_names():
        return build(source)
    else:
        path = Path(source)
        if path.is_dir():
            raise ScenarioError(text_source, [("", "is a folder; give a scenario YAML file in it, or a built-in name")])
        if not path.is_file():
            known = ", ".join(builtin_names() + family_names())
            raise ScenarioError(
                text_source, [("", f"no such scenario file or built-in scenario; built-ins are {known}")]
            )
    return anchor_commands(parse_scenario(read_yaml_text(path, text_source), text_source), path.parent)


def anchor_commands(scenario: Scenario, folder: Path) -> Scenario:
    """Command agents run in their `cwd` taken from `folder` (the scenario file's), and in `folder` without one."""
    if all(group.command is None for group in scenario.agents):
        return scenario
    groups = [
        group.model_copy(update={"cwd": str((folder / (group.cwd or ".")).absolute())}) if group.command else group
        for group in scenario.agents
    ]
    return scenario.model_copy(update={"agents": groups})


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    raw = parse_yaml_mapping(
        text, source, noun="scenario", needs="at least `name`, `duration` and `agents`",
        too_large="a scenario is a page of YAML: generate large fleets with `count` and `--agents`",
    )  # fmt: skip
    return check_scenario(raw, source)


def check_scenario(raw: dict[str, Any], source: str) -> Scenario:
    """A scenario from plain data, with every problem reported at once (types, references, parts, bounds)."""
    if texts := _text_problems(raw, ""):
        raise ScenarioError(source, texts)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(source, _describe_all(error.errors())) from None
    problems = reference_problems(scenario) + bound_problems(scenario)
    problems += policy_problems(scenario) + killswitch_problems(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def _text_problems(value: Any, path: str) -> list[tuple[str, str]]:
    """Every text of the data that has no UTF-8 form (lone surrogates, from `\\ud800` escapes), by field path."""
    problems: list[tuple[str, str]] = []
    if isinstance(value, str):
        if problem := text_problem(value):
            problems.append((path, f"the text {problem}"))
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (problem := text_problem(key)):
                problems.append((path, f"the key {problem}"))
                continue
            problems += _text_problems(item, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problems += _text_problems(item, f"{path}.{index}" if path else str(index))
    return problems


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


def killswitch_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Every kill switch an operator's `stop` order names must be registered and take its arguments."""
    problems = []
    for index, event in enumerate(scenario.operator):
        if event.killswitch is not None:
            try:
                KILLSWITCHES.build(event.killswitch.name, event.killswitch.args)
            except PeerguardError as error:
                problems.append((f"operator.{index}.killswitch", str(error)))
    return problems


_TYPE_TAGS = {"str", "int", "float", "bool", "Selector", "PolicyRef", "list", "dict", "tuple"}
_NAMES_A_FIELD = {"extra_forbidden", "missing"}  # errors whose last location part is the field itself


def _describe_all(errors: list[Any]) -> list[tuple[str, str]]:
    """One problem per error, with union branches that clearly do not apply left out.

    Pydantic reports a failed `str | Selector` once per branch; when one branch got far enough to
    find a specific problem, the others ("Input should be a valid string") only mislead.
    """
    branches: dict[tuple[str, ...], list[tuple[int, Any]]] = {}
    for error in errors:
        tag_at = _tag_index(error)
        if tag_at is not None:
            prefix = tuple(str(p) for p in error["loc"][:tag_at])
            branches.setdefault(prefix, []).append((tag_at, error))
    dropped: set[int] = set()
    for group in branches.values():
        deep = [e for at, e in group if at < len(e["loc"]) - 1]
        if deep:
            dropped.update(id(e) for at, e in group if at == len(e["loc"]) - 1)
    return [_describe(e) for e in errors if id(e) not in dropped]


def _tag_index(error: Any) -> int | None:
    loc = error["loc"]
    for i, part in enumerate(loc):
        if _is_type_tag(part) and not (i == len(loc) - 1 and error["type"] in _NAMES_A_FIELD):
            return i
    return None


def _describe(error: Any) -> tuple[str, str]:
    tag_at = _tag_index(error)
    loc = [
        str(part)
        for i, part in enumerate(error["loc"])
        if not (tag_at is not None and i >= tag_at and _is_type_tag(part))
    ]
    message = error["msg"].removeprefix("Value error, ")
    last = loc[-1] if loc else ""
    if error["type"] == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        message = f"unknown field `{last}`" + (f"; valid fields here: {', '.join(valid)}" if valid else "")
    elif error["type"] == "missing":
        message = f"item {last} is missing" if last.isdigit() else f"required field `{last}` is missing; add it"
    elif error["type"] in _BOUNDS and "input" in error:
        limit = next(iter(error.get("ctx", {}).values()), "")
        shown = f"{limit:g}" if isinstance(limit, float) else str(limit)
        message = f"must be {_BOUNDS[error['type']]} {shown} (got {error['input']!r})"
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message} (got {error['input']!r})"
    return ".".join(loc), message


_BOUNDS = {"greater_than_equal": "at least", "greater_than": "greater than", "less_than_equal": "at most",
           "less_than": "less than"}  # fmt: skip


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
