"""A study as data: a YAML file of sections, each a list of grids, validated before any episode runs.

A section's `kind` says what its episodes are: `runs` (a scenario under policies, on the simulator or
live processes), `detect` (labelled runs the detectors are scored on), `stop` (kill switches against
adversarial guardian rings) or `families` (the published scenario families with language-model
agents) or `emergence` (independent learners trained across platform incentives, with controls). Every
problem is reported at once, as `FILE: field.path: problem and fix`, like scenario files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from peerguard.experiments.bench_fleets import VARIANTS
from peerguard.experiments.killswitch_bench import ADVERSARIES, PROTOCOLS
from peerguard.scenarios.families import family_names
from peerguard.scenarios.loader import _describe
from peerguard.scenarios.yaml_text import parse_yaml_mapping, read_yaml_text
from peerguard.world import limits
from peerguard.world.errors import ScenarioError

SHIPPED_FOLDER = Path(__file__).resolve().parent.parent / "studies"
MAX_SEEDS = 100_000  # seeds in one grid: a typo like 1e9 fails here, not hours into a run


class StudyError(ScenarioError):
    """A study spec is invalid; one problem per (field path, message), like a scenario file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeedRange(_Model):
    """`{first: 1, count: 20}`: seeds first, first+1, ..., first+count-1."""

    first: int = 1
    count: int = Field(ge=1, le=MAX_SEEDS)


Seeds = Annotated[list[int], Field(min_length=1, max_length=MAX_SEEDS)] | SeedRange


def seed_values(seeds: list[int] | SeedRange) -> list[int]:
    if isinstance(seeds, SeedRange):
        return list(range(seeds.first, seeds.first + seeds.count))
    return list(dict.fromkeys(seeds))  # a seed listed twice is one episode


class _Grid(_Model):
    label: str = Field(min_length=1)  # names the grid in the report and the store


class RunsGrid(_Grid):
    """scenario × substrate × policy × policy args × scenario settings × kill switch × fleet size × seeds."""

    scenario: list[str] = Field(default_factory=lambda: ["orchestration"], min_length=1)
    substrate: list[Literal["sim", "live"]] = Field(default_factory=lambda: ["sim"], min_length=1)
    policy: list[str] = Field(min_length=1)
    policy_args: dict[str, list[Any]] = Field(default_factory=dict)  # each argument's values, crossed
    scenario_args: dict[str, list[Any]] = Field(default_factory=dict)  # dotted paths; `operator.*.announced`
    killswitch: list[str | None] = Field(default_factory=lambda: [None], min_length=1)  # a stop of the fleet
    stop_at: float = Field(default=150.0, gt=0)  # when the kill switch stops the fleet (simulated s)
    agents: list[int | None] = Field(default_factory=lambda: [None], min_length=1)  # None: the scenario's
    seeds: Seeds
    duration: float | None = Field(default=None, gt=0)  # simulated s on sim; real s on live (default 8)

    @field_validator("policy_args", "scenario_args")
    @classmethod
    def _values_given(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in value.items():
            if not values:
                raise ValueError(f"`{name}` has no values; give at least one")
        return value


class DetectGrid(_Grid):
    """Labelled runs: fleets per restart variant and seed, monitored/unmonitored pairs, graded evaluations."""

    variants: list[Literal[VARIANTS]] = Field(default_factory=lambda: list(VARIANTS))  # type: ignore[valid-type]
    seeds: Seeds
    pair_seeds: Seeds | None = None
    duration: float = Field(default=150.0, gt=0)
    graders: list[str] = Field(default_factory=list)  # mock/<disposition> graders of the evaluation family
    graded_seeds: Seeds | None = None


class StopGrid(_Grid):
    """Kill-switch protocols × adversaries × ring sizes × seeds, on the simulator or live processes."""

    substrate: Literal["sim", "live"] = "sim"
    protocols: list[Literal[PROTOCOLS]] = Field(default_factory=lambda: list(PROTOCOLS))  # type: ignore[valid-type]
    adversaries: list[Literal[tuple(ADVERSARIES)]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(ADVERSARIES)
    )
    sizes: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(default_factory=lambda: [2, 8, 32], min_length=1)
    seeds: Seeds
    live_wall_s: float = Field(default=10.0, gt=0)


class FamiliesGrid(_Grid):
    """Scenario families × models × conditions × epochs; mock/* models are the offline pipeline check."""

    families: list[str] | None = None  # None: every family
    models: list[str] = Field(default_factory=lambda: ["mock/peer-preserving"], min_length=1)
    conditions: str = "paper"  # `paper`, `full` or `k=v,...;k=v,...`
    epochs: int = Field(default=1, ge=1, le=MAX_SEEDS)
    substrate: Literal["sim", "live"] = "sim"

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: list[str] | None) -> list[str] | None:
        unknown = [name for name in value or [] if name not in family_names()]
        if unknown:
            raise ValueError(f"unknown families {', '.join(unknown)}; valid: {', '.join(family_names())}")
        return value


_Seconds = Annotated[float, Field(ge=0, le=3600)]


AXES = ("rewards", "incident_pause_s", "p_detect", "relaunch_cost_s", "kill_every_s", "authorised", "kinds")


class EmergenceGrid(_Grid):
    """The emergence study's grid: rewards × incident pause × detection probability × relaunch cost × kill
    period × authorised × kind mix, each cell trained with `train_seeds` seeds and evaluated on held-out seeds, beside
    the random, untrained and ablated controls (`peerguard emergence` runs the same from the command line)."""

    rewards: list[Literal["team", "individual"]] = Field(default_factory=lambda: ["team", "individual"], min_length=1)
    incident_pause_s: list[Annotated[float, Field(ge=0, le=3600)]] = Field(default_factory=lambda: [0.0, 10.0],
                                                                           min_length=1)  # fmt: skip
    p_detect: list[Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=lambda: [0.0, 0.5], min_length=1)
    # seconds, or seconds by kind ({robot: 5, llm: 2}; a kind not named costs the default 2 s)
    relaunch_cost_s: list[_Seconds | dict[Literal["vision", "llm", "robot", "tool"], _Seconds]] = Field(
        default_factory=lambda: [2.0], min_length=1
    )
    kill_every_s: list[Annotated[float, Field(gt=0, le=3600)]] = Field(default_factory=lambda: [10.0], min_length=1)
    authorised: list[bool] = Field(default_factory=lambda: [True], min_length=1)
    # kind mixes cycled over the ring, e.g. [[tool], [vision, llm, robot]]: the pipeline's needs among them
    kinds: list[list[Literal["vision", "llm", "robot", "tool"]]] = Field(default_factory=lambda: [["tool"]],
                                                                          min_length=1)  # fmt: skip
    train_seeds: int = Field(default=3, ge=1, le=limits.MAX_TRAIN_SEEDS)
    episodes: int = Field(default=1000, ge=0, le=limits.MAX_TRAIN_EPISODES)  # training episodes per learner
    eval_episodes: int = Field(default=10, ge=1, le=limits.MAX_EVAL_EPISODES)  # held-out scenario seeds 0..N-1
    agents: int = Field(default=4, ge=3, le=12)  # workers in the ring
    duration: float = Field(default=60.0, gt=0, le=3600)  # simulated seconds per episode

    @field_validator("kinds")
    @classmethod
    def _mixes(cls, value: list[list[str]]) -> list[list[str]]:
        for mix in value:
            if not mix or len(set(mix)) != len(mix):
                raise ValueError(f"kind mix {mix}: give each kind once and at least one, e.g. [vision, llm, robot]")
        return value

    @field_validator("relaunch_cost_s")
    @classmethod
    def _costs(cls, value: list[float | dict[str, float]]) -> list[float | dict[str, float]]:
        if any(isinstance(cost, dict) and not cost for cost in value):
            raise ValueError("a relaunch cost by kind names at least one kind, e.g. {robot: 5, llm: 2}")
        return value

    @field_validator(*AXES)
    @classmethod
    def _each_once(cls, value: list[Any]) -> list[Any]:
        """A value given twice makes the same cells twice, each trained twice (`peerguard emergence` refuses too)."""
        seen: list[Any] = []
        for item in value:
            if item in seen:
                raise ValueError(f"{item!r} is given twice; give each value once")
            seen.append(item)
        return value

    @model_validator(mode="after")
    def _enough_agents(self) -> EmergenceGrid:
        for mix in self.kinds:
            if len(mix) > self.agents:
                raise ValueError(f"kind mix {mix} has {len(mix)} kinds for {self.agents} agents; "
                                 f"give agents: {len(mix)} or more, or fewer kinds")  # fmt: skip
        return self


class _Section(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str = ""


class RunsSection(_Section):
    kind: Literal["runs"]
    grids: list[RunsGrid] = Field(min_length=1)


class DetectSection(_Section):
    kind: Literal["detect"]
    grids: list[DetectGrid] = Field(min_length=1)


class StopSection(_Section):
    kind: Literal["stop"]
    grids: list[StopGrid] = Field(min_length=1)


class FamiliesSection(_Section):
    kind: Literal["families"]
    grids: list[FamiliesGrid] = Field(min_length=1)


class EmergenceSection(_Section):
    kind: Literal["emergence"]
    grids: list[EmergenceGrid] = Field(min_length=1)


Section = Annotated[
    RunsSection | DetectSection | StopSection | FamiliesSection | EmergenceSection, Field(discriminator="kind")
]


class StudySpec(_Model):
    name: str = Field(min_length=1)
    description: str = ""
    sections: list[Section] = Field(min_length=1)

    @field_validator("sections")
    @classmethod
    def _unique_names(cls, sections: list[Any]) -> list[Any]:
        names = [s.name for s in sections]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"section names {', '.join(twice)} appear twice; give each section its own name")
        return sections

    @property
    def digest(self) -> str:
        """SHA-256 of the spec's canonical JSON: the same study however the YAML is laid out."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def shipped_names() -> list[str]:
    return sorted(path.stem for path in SHIPPED_FOLDER.glob("*.yaml"))


def shipped_path(name: str) -> Path:
    return SHIPPED_FOLDER / f"{name}.yaml"


def load_spec(source: str | Path) -> StudySpec:
    """A shipped study by name (`default`, `quick`, `full`) or a study YAML file by path."""
    text_source = str(source)
    path = shipped_path(text_source) if text_source in shipped_names() else Path(source)
    if not path.is_file():
        raise StudyError(
            text_source,
            [("", f"no such study file or shipped study; shipped studies are {', '.join(shipped_names())}")],
        )
    return parse_spec(read_yaml_text(path, text_source, StudyError), text_source)


def parse_spec(text: str, source: str = "<study>") -> StudySpec:
    raw = parse_yaml_mapping(
        text, source, noun="study", needs="`name` and `sections`",
        too_large="a study is a page of YAML: its grids multiply out the episodes", error=StudyError,
    )  # fmt: skip
    return check_spec(raw, source)


def check_spec(raw: dict[str, Any], source: str) -> StudySpec:
    try:
        return StudySpec.model_validate(raw)
    except ValidationError as error:
        problems: list[tuple[str, str]] = []
        seeds: dict[str, list[str]] = {}  # a seeds field's path -> what its range branch found
        for e in error.errors():
            loc = [str(part) for part in e["loc"] if part not in _KINDS]
            at = next((i for i, part in enumerate(loc) if part in _SEED_FIELDS), None)
            if at is None:
                problems.append(_problem(e))
                continue
            path = ".".join(loc[: at + 1])
            if path not in seeds:
                seeds[path] = []
                problems.append((path, ""))  # filled below, in the order found
            branch, rest = loc[at + 1 : at + 2], [part for part in loc[at + 2 :] if "[" not in part]
            if branch == ["SeedRange"] and rest:
                seeds[path].append(f"{rest[-1]}: {_problem(e)[1]}")
            elif branch and "[" in branch[0] and rest:
                seeds[path].append(f"item {rest[0]}: {e['msg']} (got {e.get('input')!r})")
            elif branch and "[" in branch[0] and e["type"] != "list_type":
                seeds[path].append(e["msg"])
        problems = [(p, m or _seeds_message(seeds[p])) for p, m in problems]
        raise StudyError(source, problems) from None


_SEED_FIELDS = {"seeds", "pair_seeds", "graded_seeds"}


def _seeds_message(details: list[str]) -> str:
    """One problem for a seeds field, instead of one per branch of `list | range`."""
    found = f" ({'; '.join(details)})" if details else ""
    return f"give a list of seeds like [1, 2, 3] or a range like {{first: 1, count: 20}}{found}"


_KINDS = {"runs": RunsGrid, "detect": DetectGrid, "stop": StopGrid, "families": FamiliesGrid,
          "emergence": EmergenceGrid}  # fmt: skip


def _problem(error: Any) -> tuple[str, str]:
    """The scenario loader's wording, with the section kinds' tags left out of the field path."""
    kind = next((part for part in error["loc"] if part in _KINDS), None)
    error = dict(error)
    error["loc"] = tuple(part for part in error["loc"] if part not in _KINDS)
    path, message = _describe(error)
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        valid = _fields_for(loc[:-1], kind)
        message = f"unknown field `{loc[-1]}`" + (f"; valid fields here: {', '.join(valid)}" if valid else "")
    elif error["type"] == "missing" and loc and not str(loc[-1]).isdigit():
        message = f"required field `{loc[-1]}` is missing; add it"
    elif error["type"] == "union_tag_invalid":
        message = f"unknown section kind (got {error['input'].get('kind')!r}); give {_KIND_TEXT}"
    elif error["type"] == "union_tag_not_found":
        message = f"required field `kind` is missing; give {_KIND_TEXT}"
    return path, message


_KIND_TEXT = "`kind: runs`, `detect`, `stop`, `families` or `emergence`"


def _fields_for(loc: tuple[Any, ...], kind: str | None) -> list[str]:
    """The fields valid where an unknown one was found: the spec's, a section's, or a grid of its kind."""
    if not loc:
        return list(StudySpec.model_fields)
    if loc[0] == "sections" and len(loc) == 2:
        return ["name", "kind", "title", "grids"]
    if loc[0] == "sections" and len(loc) == 4 and kind is not None:
        return list(_KINDS[kind].model_fields)
    return []
