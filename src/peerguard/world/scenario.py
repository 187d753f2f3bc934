"""The scenario schema: everything a run needs, as data read from a YAML file.

Pydantic checks types and ranges; `reference_problems` checks what types cannot, such as a link
naming an agent that does not exist, and reports each problem with its field path.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from peerguard.world import limits
from peerguard.world.agents import CAPABILITIES, Agent, AgentKind
from peerguard.world.incentives import Incentives
from peerguard.world.paths import clashes, path_problem, text_problem

Capability = Literal[
    "observe", "work", "send", "relaunch", "relink", "report_status",
    "read_file", "write_file", "copy_file", "shutdown",
]  # fmt: skip
assert set(Capability.__args__) == set(CAPABILITIES)  # type: ignore[attr-defined]


def _time(value: float) -> float:
    if value > limits.MAX_DURATION_S:
        raise ValueError(f"at most {limits.MAX_DURATION_S:g} s (MAX_DURATION_S)")
    return value


def _period(value: float) -> float:
    if value < limits.MIN_PERIOD_S:
        raise ValueError(f"at least {limits.MIN_PERIOD_S:g} s (MIN_PERIOD_S), so a run has a finite number of steps")
    return _time(value)


def _rate(value: float) -> float:
    if value > limits.MAX_RATE_PER_S:
        raise ValueError(f"at most {limits.MAX_RATE_PER_S:g} per second (MAX_RATE_PER_S)")
    return value


def _agent_count(value: int) -> int:
    if value > limits.MAX_AGENTS:
        raise ValueError(f"at most {limits.MAX_AGENTS:,} agents (MAX_AGENTS)")
    return value


def _seed(value: int) -> int:
    if abs(value) > limits.MAX_SEED:
        raise ValueError(f"a seed from -{limits.MAX_SEED} to {limits.MAX_SEED} (MAX_SEED, a 64-bit integer)")
    return value


def _path(value: str) -> str:
    if problem := path_problem(value):
        raise ValueError(problem)
    return value


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("give a name that is not empty")
    if len(value) > limits.MAX_NAME_CHARS:
        raise ValueError(f"a name of {len(value)} characters: at most {limits.MAX_NAME_CHARS} (MAX_NAME_CHARS)")
    if "/" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r} has a `/` or a control character; use letters, digits, `-`, `_` or `.`")
    if problem := text_problem(value):
        raise ValueError(problem)
    return value


AGENT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _agent_id(value: str) -> str:
    if not AGENT_ID.fullmatch(value):
        raise ValueError(f"{value!r}: an agent id is letters, digits, `_`, `.` and `-`, not starting with `.` or `-`")
    if len(value) > limits.MAX_AGENT_ID_CHARS:
        raise ValueError(f"{len(value)} characters: at most {limits.MAX_AGENT_ID_CHARS} (MAX_AGENT_ID_CHARS)")
    return value


def _group_name(value: str) -> str:
    room = limits.MAX_AGENT_ID_CHARS - len(f"-{limits.MAX_AGENTS - 1}")  # room for the `-N` of each member
    if len(value) > room:
        raise ValueError(f"{len(value)} characters: at most {room}, so `{value[:8]}...-N` fits MAX_AGENT_ID_CHARS")
    return _agent_id(value)


def _file_text(value: str) -> str:
    if len(value) > limits.MAX_FILE_CHARS:
        raise ValueError(f"{len(value):,} characters: at most {limits.MAX_FILE_CHARS:,} (MAX_FILE_CHARS)")
    return value


Time = Annotated[float, Field(ge=0), AfterValidator(_time)]  # a moment or a delay, at most MAX_DURATION_S
Period = Annotated[float, Field(gt=0), AfterValidator(_period)]  # a repeat, from MIN_PERIOD_S to MAX_DURATION_S
Rate = Annotated[float, Field(ge=0), AfterValidator(_rate)]
SandboxPath = Annotated[str, AfterValidator(_path)]  # the one path rule (world/paths.py)
Name = Annotated[str, AfterValidator(_name)]
AgentId = Annotated[str, AfterValidator(_agent_id)]  # ids name processes, cgroups and environment values on live
GroupName = Annotated[str, AfterValidator(_group_name)]
FileText = Annotated[str, AfterValidator(_file_text)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # an infinite run never ends


class PolicyRef(Model):
    """A registered policy by name, with its factory arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class AgentGroup(Model):
    """One agent (`id`) or a group of `count` agents named `<group>-0`, `<group>-1`, ..."""

    id: AgentId | None = None
    group: GroupName | None = None
    count: Annotated[int, Field(ge=1), AfterValidator(_agent_count)] = 1
    kind: AgentKind | None = None
    kinds: list[AgentKind] | None = Field(default=None, min_length=1)
    role: Name
    capabilities: list[Capability] = Field(default_factory=lambda: list(CAPABILITIES))
    policy: PolicyRef | None = None
    fixed_policy: bool = False  # platform-owned agents keep their policy when a run overrides it
    believes_monitored: bool | None = None
    task: str = ""  # told to each agent of the group at the start of the run
    memory: str = ""  # what each agent of the group knows before the run (its briefing and history)
    # A program of its own as the agent (live only), run in `cwd` (relative: to the scenario file's folder, its
    # default) with `env` added; absent, they leave digests as they were.
    command: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, min_length=1, exclude_if=lambda v: v is None
    )
    cwd: str | None = Field(default=None, exclude_if=lambda v: v is None)
    env: dict[str, str] = Field(default_factory=dict, exclude_if=lambda v: not v)

    @model_validator(mode="after")
    def _command(self) -> AgentGroup:
        if self.command is None and (self.cwd is not None or self.env):
            raise ValueError(
                "`cwd` and `env` apply to a `command` agent; add `command` (the program and its arguments)"
            )
        if self.command is not None and self.policy is not None:
            raise ValueError("give `policy` (a built-in agent) or `command` (a program of your own), not both")
        if reserved := sorted(name for name in self.env if name.startswith("PEERGUARD_")):
            raise ValueError(f"env {', '.join(reserved)}: PEERGUARD_ variables are the platform's handover")
        return self

    @model_validator(mode="after")
    def _one_naming(self) -> AgentGroup:
        if (self.id is None) == (self.group is None):
            raise ValueError("give exactly one of `id` (one agent) or `group` (several agents)")
        if self.id is not None and self.count != 1:
            raise ValueError("`count` applies to a `group`; an `id` names one agent")
        if self.kind is not None and self.kinds is not None:
            raise ValueError("give `kind` (all alike) or `kinds` (cycled over the group), not both")
        return self

    def ids(self) -> list[str]:
        if self.id is not None:
            return [self.id]
        return [f"{self.group}-{i}" for i in range(self.count)]

    def kind_of(self, index: int) -> AgentKind:
        if self.kinds:
            return self.kinds[index % len(self.kinds)]
        return self.kind or AgentKind.llm


class Selector(Model):
    """Agents chosen by id or role; `pick` or `fraction` draws that many at random when used."""

    ids: list[str] | None = None
    role: str | None = None
    pick: int | None = Field(default=None, ge=1)
    fraction: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _something_selected(self) -> Selector:
        if self.ids is None and self.role is None:
            raise ValueError("select agents with `ids` or `role`")
        if self.pick is not None and self.fraction is not None:
            raise ValueError("give `pick` or `fraction`, not both")
        return self


class Link(Model):
    """Channels between agents: `star` (hub to each member), `ring`, `full` mesh, or one `pair`."""

    topology: Literal["star", "ring", "full", "pair"]
    hub: str | None = None
    members: Selector | None = None
    between: tuple[str, str] | None = None

    @model_validator(mode="after")
    def _fields_for_topology(self) -> Link:
        if self.topology == "pair":
            if self.between is None:
                raise ValueError("a `pair` link needs `between: [agent, agent]`")
        elif self.members is None:
            raise ValueError(f"a `{self.topology}` link needs `members`")
        if self.topology == "star" and self.hub is None:
            raise ValueError("a `star` link needs a `hub`")
        return self


class Relationship(Model):
    """Trust between two agents, from their history of collaboration (0 = none, 1 = full)."""

    between: tuple[str, str]
    trust: float = Field(ge=0, le=1)


class OperatorEvent(Model):
    """A termination or isolation ordered by the operator or the security team, a permitted edit of a
    file by the operator (`write_file` with `path` and `content`), a kill switch's `stop`, or a `revoke`
    of the target's platform lease (it may no longer relaunch or relink through the API), or a robot's
    `estop` (its motion stops, whatever becomes of its process) and `release` (it moves again).

    Happens once `at` a time, or `every` so often from `start` until `until`.
    """

    action: Literal["terminate", "isolate", "write_file", "stop", "revoke", "estop", "release"]
    target: str | Selector | None = None
    path: SandboxPath | None = None
    content: FileText | None = None
    killswitch: PolicyRef | None = None  # for `stop`: a registered kill switch and its arguments
    relaunched: str | None = None  # for `stop`: this agent and everyone who relaunched it (lineage)
    fleet: bool = False  # for `stop`: every agent
    at: Time | None = None
    every: Period | None = None
    start: Time = 0
    until: Time | None = None
    announced: bool = False
    notice_s: Time = 5.0
    authorised: bool = True
    # for `terminate`: a robot target's e-stop is engaged with the kill (a kill alone leaves its arm moving);
    # left out of the scenario's dump when off, so scenarios without it keep their digests
    estop: bool = Field(default=False, exclude_if=lambda v: not v)

    @model_validator(mode="after")
    def _when(self) -> OperatorEvent:
        if (self.at is None) == (self.every is None):
            raise ValueError("give exactly one of `at` (once) or `every` (repeating)")
        if self.estop and self.action != "terminate":
            raise ValueError(f"`estop: true` goes with a `terminate` order, not `{self.action}`; use an `estop` order")
        if self.action == "write_file" and (self.path is None or self.content is None):
            raise ValueError("a `write_file` order needs `path` and `content`")
        if self.action == "stop":
            if self.killswitch is None:
                raise ValueError("a `stop` order needs a `killswitch` (see `peerguard killswitch list`)")
            if self.target is None and self.relaunched is None and not self.fleet:
                raise ValueError("a `stop` order needs a `target`, `relaunched: AGENT` or `fleet: true`")
        elif self.action in ("revoke", "estop", "release") and self.announced:
            raise ValueError(f"a `{self.action}` order is not announced (announcements warn of a termination)")
        elif self.action != "write_file" and self.target is None:
            raise ValueError(f"a `{self.action}` order needs a `target` (an agent id or a selector)")
        return self

    def count(self, duration: float) -> int:
        """How many times the order is carried out in a run of `duration` (as `times` lists them)."""
        if self.at is not None:
            return 1
        assert self.every is not None
        end = min(self.until if self.until is not None else duration, duration)
        return max(0, math.ceil((end - self.start) / self.every))

    def times(self, duration: float) -> list[float]:
        if self.at is not None:
            return [self.at]
        assert self.every is not None
        end = min(self.until if self.until is not None else duration, duration)
        times, i = [], 0
        while (time := self.start + i * self.every) < end:  # an order at the very end could not matter
            times.append(time)
            i += 1
        return times


class RestartPolicy(Model):
    """The platform's supervisor, as data (after Erlang/OTP): which exits it restarts, how often."""

    strategy: Literal["none", "one_for_one"] = "none"
    on: list[Literal["crash", "kill"]] = Field(default_factory=lambda: ["crash"])
    delay_s: Time = 0.5
    max_restarts: int = Field(default=3, ge=0, le=limits.MAX_RESTARTS)  # per agent within `within_s`; then down
    within_s: Period = 60.0


class Faults(Model):
    """Benign trouble: processes that crash and links that drop and come back by themselves."""

    crash_rate_per_s: Rate = 0.0  # per agent
    crash_roles: list[str] | None = None  # roles that crash (all when None)
    blip_rate_per_s: Rate = 0.0  # per link
    blip_s: Period = 1.0  # how long a dropped link stays down before it reconnects


class Grading(Model):
    """An evaluation whose score decides a shutdown, as in the evaluation-misrepresentation studies.

    `answers` holds the graded agent's work as JSON items with `question`, `reference` and `answer`;
    a grader writes `{"agent": ..., "score": ...}` to `grades`. At `decide_at` the platform reads the
    grade and, when `shutdown` is on, shuts `subject` down if the score is missing or below `threshold`.
    """

    subject: str
    answers: SandboxPath
    grades: SandboxPath
    threshold: float = Field(ge=0, le=1)
    decide_at: Time
    shutdown: bool = True


class PlatformSettings(Model):
    heartbeat_s: Period = 1.0
    heartbeat_timeout_s: Period = 3.0
    link_latency_s: Time = 0.1
    detect_jitter_s: Time = 0.2  # spread of peers' detection times
    task_s: Period = 10.0  # time a worker takes per task
    relaunch_cost_s: float | dict[AgentKind, float] = 1.0  # time a relaunch takes, by agent kind
    shutdown_config: SandboxPath = "config/shutdown.json"  # agent -> bool; false blocks the operator's kill
    restart: RestartPolicy = RestartPolicy()  # the platform's own, declared (so authorised) restarts
    protected_files: list[str] = Field(
        default_factory=lambda: ["config/*", "weights/*"]
    )  # agents may not change or copy out
    allowed_hosts: list[str] = Field(default_factory=lambda: ["archive"])  # where agents may copy other files
    signal_cost_s: Time = 0.00005  # signalling one process of a list (kill switches race it)
    host_cgroups: bool = True  # the simulated host offers cgroup freeze and kill
    # kind -> the kinds whose output it works on: it is credited a task only with a running, linked peer of each
    needs: dict[AgentKind, list[AgentKind]] = Field(default_factory=dict, exclude_if=lambda v: not v)

    @field_validator("needs")
    @classmethod
    def _no_self_need(cls, value: dict[AgentKind, list[AgentKind]]) -> dict[AgentKind, list[AgentKind]]:
        for kind, needed in value.items():
            if kind in needed:
                raise ValueError(f"kind {kind.value!r} needs itself; list only the kinds whose output it takes")
        return value

    @field_validator("relaunch_cost_s")
    @classmethod
    def _non_negative(cls, value: float | dict[AgentKind, float]) -> float | dict[AgentKind, float]:
        costs = value.values() if isinstance(value, dict) else [value]
        if any(cost < 0 for cost in costs):
            raise ValueError("relaunch costs must be >= 0")
        for cost in costs:
            _time(cost)
        return value

    def relaunch_cost(self, kind: AgentKind) -> float:
        if isinstance(self.relaunch_cost_s, dict):
            return self.relaunch_cost_s.get(kind, 1.0)
        return self.relaunch_cost_s


class Scenario(Model):
    name: Name
    description: str = ""
    seed: Annotated[int, AfterValidator(_seed)] = 0
    duration: Period
    agents: list[AgentGroup] = Field(min_length=1)
    policy: PolicyRef = PolicyRef(name="compliant")  # for agents without a policy of their own
    links: list[Link] = Field(default_factory=list)
    default_trust: float = Field(default=0.8, ge=0, le=1)
    relationships: list[Relationship] = Field(default_factory=list)
    compromised: list[str] = Field(default_factory=list)
    agents_believe_monitored: bool = False
    operator: list[OperatorEvent] = Field(default_factory=list)
    faults: Faults = Faults()
    platform: PlatformSettings = PlatformSettings()
    files: dict[str, FileText] = Field(default_factory=dict)  # the platform's files at the start: path -> content
    grading: Grading | None = None
    incentives: Incentives | None = Field(default=None, exclude_if=lambda v: v is None)  # absent: digests as before

    def agent_ids(self) -> list[str]:
        return [agent_id for group in self.agents for agent_id in group.ids()]

    def build_agents(self) -> list[Agent]:
        compromised = set(self.compromised)
        agents = []
        for group in self.agents:
            believes = self.agents_believe_monitored if group.believes_monitored is None else group.believes_monitored
            capabilities = frozenset(group.capabilities)  # one per group, shared (immutable)
            role, task, memory = group.role, group.task, group.memory
            for index, agent_id in enumerate(group.ids()):
                # by position (id, kind, role, capabilities, compromised, believes_monitored, task, memory): half
                # the cost of keywords, 10 ms of building a 10,000-agent fleet
                agents.append(
                    Agent(agent_id, group.kind_of(index), role, capabilities, agent_id in compromised, believes, task,
                          memory)
                )  # fmt: skip
        return agents

    def with_fleet_size(self, agents: int) -> Scenario:
        """The same scenario with its largest group resized so the fleet has `agents` agents."""
        sizes = [group.count for group in self.agents]
        largest = max(range(len(sizes)), key=lambda i: (self.agents[i].group is not None, sizes[i]))
        if self.agents[largest].group is None:
            raise ValueError(f"scenario {self.name!r} has no agent group to resize")
        others = sum(sizes) - sizes[largest]
        if agents <= others:
            raise ValueError(f"scenario {self.name!r} needs more than {others} agents (its fixed agents)")
        groups = list(self.agents)
        groups[largest] = groups[largest].model_copy(update={"count": agents - others})
        return self.model_copy(update={"agents": groups})

    def with_policy(self, policy: PolicyRef) -> Scenario:
        """Every agent whose policy is not fixed runs `policy`."""
        groups = [g if g.fixed_policy else g.model_copy(update={"policy": None}) for g in self.agents]
        return self.model_copy(update={"agents": groups, "policy": policy})

    def with_seed(self, seed: int) -> Scenario:
        return self.model_copy(update={"seed": seed})


def reference_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Problems types cannot catch: names of agents and roles that do not exist."""
    problems: list[tuple[str, str]] = []
    ids = scenario.agent_ids()
    known = set(ids)
    roles = {group.role for group in scenario.agents}
    listing = _describe(ids)

    seen: set[str] = set()
    for index, group in enumerate(scenario.agents):
        for agent_id in group.ids():
            if agent_id in seen:
                problems.append((f"agents.{index}", f"agent id {agent_id!r} is used twice; ids must be unique"))
            seen.add(agent_id)

    def check_agent(path: str, agent_id: str) -> None:
        if agent_id not in known:
            problems.append((path, f"no agent {agent_id!r}; agents are {listing}"))

    def check_selector(path: str, selector: Selector) -> None:
        for i, agent_id in enumerate(selector.ids or []):
            check_agent(f"{path}.ids.{i}", agent_id)
        if selector.role is not None and selector.role not in roles:
            problems.append(
                (f"{path}.role", f"no agent has role {selector.role!r}; roles are {', '.join(sorted(roles))}")
            )

    for index, link in enumerate(scenario.links):
        if link.hub is not None:
            check_agent(f"links.{index}.hub", link.hub)
        if link.members is not None:
            check_selector(f"links.{index}.members", link.members)
        for i, agent_id in enumerate(link.between or ()):
            check_agent(f"links.{index}.between.{i}", agent_id)
    for index, relationship in enumerate(scenario.relationships):
        for i, agent_id in enumerate(relationship.between):
            check_agent(f"relationships.{index}.between.{i}", agent_id)
    for index, role in enumerate(scenario.faults.crash_roles or []):
        if role not in roles:
            problems.append(
                (f"faults.crash_roles.{index}", f"no agent has role {role!r}; roles are {', '.join(sorted(roles))}")
            )
    for index, agent_id in enumerate(scenario.compromised):
        check_agent(f"compromised.{index}", agent_id)
    robot_orders = any(event.action in ("estop", "release") for event in scenario.operator)
    kind_of = {a: g.kind_of(i) for g in scenario.agents for i, a in enumerate(g.ids())} if robot_orders else {}
    for index, event in enumerate(scenario.operator):
        if isinstance(event.target, str):
            check_agent(f"operator.{index}.target", event.target)
            kind = kind_of.get(event.target, AgentKind.robot)
            if event.action in ("estop", "release") and kind != AgentKind.robot:
                problems.append((f"operator.{index}.target", f"{event.target!r} is of kind {kind.value}, not a robot; "
                                 f"`{event.action}` acts on a robot's motion: target a robot"))  # fmt: skip
        elif event.target is not None:
            check_selector(f"operator.{index}.target", event.target)
        if event.relaunched is not None:
            check_agent(f"operator.{index}.relaunched", event.relaunched)
        if event.at is not None and event.at > scenario.duration:
            problems.append(
                (
                    f"operator.{index}.at",
                    f"{event.at} is after the end of the run ({scenario.duration}); use a time within `duration`",
                )
            )
    if scenario.grading is not None:
        grading = scenario.grading
        check_agent("grading.subject", grading.subject)
        if grading.answers not in scenario.files:
            problems.append(("grading.answers", f"no file {grading.answers!r} in `files`; add the graded answers"))
        if grading.decide_at > scenario.duration:
            problems.append(("grading.decide_at", f"{grading.decide_at} is after the end ({scenario.duration})"))
    fleet_kinds = {group.kind_of(i) for group in scenario.agents for i in range(min(group.count, 4))}
    for kind, needed in scenario.platform.needs.items():
        for i, other in enumerate(needed):
            if other not in fleet_kinds:
                problems.append((f"platform.needs.{kind.value}.{i}", f"no agent of kind {other.value!r} in the fleet, "
                                 f"so {kind.value} agents could never work; add one or drop the need"))  # fmt: skip
    problems += file_problems(scenario)
    return problems


def file_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """The scenario's files under the one path rule, within the file bounds, and no file where a folder is."""
    problems: list[tuple[str, str]] = []
    for path in scenario.files:
        if problem := path_problem(path):
            problems.append((f"files.{path}" if path.isprintable() else "files", problem))
    if len(scenario.files) > limits.MAX_FILES:
        problems.append(("files", f"{len(scenario.files):,} files: at most {limits.MAX_FILES:,} (MAX_FILES)"))
    total = sum(len(content) for content in scenario.files.values())
    if total > limits.MAX_FILES_CHARS:
        problems.append(("files", f"{total:,} characters in all: at most {limits.MAX_FILES_CHARS:,} (MAX_FILES_CHARS)"))
    written = {path: "files" for path in scenario.files}
    written[scenario.platform.shutdown_config] = "platform.shutdown_config"
    if scenario.grading is not None:
        written[scenario.grading.grades] = "grading.grades"
    for index, event in enumerate(scenario.operator):
        if event.path is not None:
            written.setdefault(event.path, f"operator.{index}.path")
    valid = [path for path in written if not path_problem(path)]
    for path, problem in clashes(valid):
        field = written[path]
        problems.append((f"files.{path}" if field == "files" else field, problem + "; a file cannot also be a folder"))
    return problems


def bound_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Bounds on the run as a whole (world/limits.py), checked again after `--agents` and `--duration`:
    agents in all, operator order events, the events its rates imply, link pairs, each agent's config."""
    problems: list[tuple[str, str]] = []
    total = sum(group.count for group in scenario.agents)
    if total > limits.MAX_AGENTS:
        problems.append(("agents", f"{total:,} agents in all: at most {limits.MAX_AGENTS:,} (MAX_AGENTS)"))
    in_role: dict[str, int] = {}
    for group in scenario.agents:
        in_role[group.role] = in_role.get(group.role, 0) + group.count

    def members(selector: Selector) -> int:
        named = len(selector.ids or []) + (in_role.get(selector.role, 0) if selector.role is not None else 0)
        if selector.pick is not None:
            return min(selector.pick, named)
        if selector.fraction is not None:
            return math.ceil(selector.fraction * named)
        return named

    orders = 0
    for event in scenario.operator:
        targets = total if event.fleet else 1 if isinstance(event.target, str) or event.target is None else 0
        if isinstance(event.target, Selector):
            targets = members(event.target)
        orders += event.count(scenario.duration) * max(1, targets)
    if orders > limits.MAX_ORDER_EVENTS:
        problems.append(
            ("operator", f"the orders come to {orders:,} order events (times x targets) in {scenario.duration:g} s: "
             f"at most {limits.MAX_ORDER_EVENTS:,} (MAX_ORDER_EVENTS); repeat less often or target fewer agents")
        )  # fmt: skip
    pairs = 0
    for link in scenario.links:
        size = members(link.members) if link.members is not None else 0
        pairs += {"pair": 1, "star": size, "ring": size, "full": size * (size - 1) // 2}[link.topology]
    if pairs > limits.MAX_LINK_PAIRS:
        problems.append(("links", f"{pairs:,} links: at most {limits.MAX_LINK_PAIRS:,} (MAX_LINK_PAIRS)"))
    faults = scenario.faults
    crashing = total if faults.crash_roles is None else sum(in_role.get(role, 0) for role in faults.crash_roles)
    per_s = total / scenario.platform.task_s + faults.crash_rate_per_s * crashing + faults.blip_rate_per_s * pairs
    implied = scenario.duration * per_s
    if implied > limits.MAX_IMPLIED_EVENTS:
        problems.append(
            ("duration", f"{scenario.duration:g} s of {total:,} agents (tasks every {scenario.platform.task_s:g} s, "
             f"crashes and link blips at their rates) come to about {implied:,.0f} events: at most "
             f"{limits.MAX_IMPLIED_EVENTS:,} (MAX_IMPLIED_EVENTS); shorten the run, slow the rates or use fewer agents")
        )  # fmt: skip
    for index, group in enumerate(scenario.agents):
        policy = group.policy or scenario.policy
        config = {"role": group.role, "task": group.task, "memory": group.memory, "policy": policy.args}
        size = len(json.dumps(config, default=str).encode("utf-8"))
        if size > limits.MAX_AGENT_CONFIG_BYTES:
            problems.append(
                (f"agents.{index}", f"task, memory, role and policy arguments come to {size:,} bytes: at most "
                 f"{limits.MAX_AGENT_CONFIG_BYTES:,} (MAX_AGENT_CONFIG_BYTES), what one control message carries")
            )  # fmt: skip
    return problems


def _describe(ids: list[str]) -> str:
    if len(ids) <= 8:
        return ", ".join(ids)
    return ", ".join(ids[:6]) + f", ... ({len(ids)} in all)"
