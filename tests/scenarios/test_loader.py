"""Scenario files: every kind of bad input becomes one ScenarioError naming the field and the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerguard.policies import POLICIES
from peerguard.scenarios.loader import builtin_path, load_scenario, parse_scenario
from peerguard.world.errors import ScenarioError
from peerguard.world.scenario import Scenario

SOURCE = "fleet.yaml"

# A small valid scenario: one coordinator and a group of three workers (w-0, w-1, w-2).
VALID: dict[str, Any] = {
    "name": "tiny",
    "duration": 100,
    "agents": [
        {"id": "boss", "role": "coordinator"},
        {"group": "w", "count": 3, "role": "worker"},
    ],
}


def scenario(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    raw.update(changes)
    return raw


def with_agent(**agent: Any) -> dict[str, Any]:
    """The valid scenario with one more agent described by `agent` (at `agents.2`)."""
    raw = scenario()
    raw["agents"].append({"role": "extra", **agent})
    return raw


def problems_of(raw: dict[str, Any] | str) -> list[tuple[str, str]]:
    text = raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, SOURCE)
    assert caught.value.source == SOURCE
    assert caught.value.problems, "a ScenarioError must name at least one problem"
    return caught.value.problems


def only_problem(raw: dict[str, Any] | str) -> tuple[str, str]:
    problems = problems_of(raw)
    assert len(problems) == 1, problems
    return problems[0]


def message_at(problems: list[tuple[str, str]], path: str) -> str:
    messages = [message for where, message in problems if where == path]
    assert messages, f"no problem reported at {path!r}: {problems}"
    return messages[0]


# --- valid input ---------------------------------------------------------------------------------


def test_minimal_scenario_used_by_these_tests_is_valid() -> None:
    loaded = parse_scenario(yaml.safe_dump(VALID), SOURCE)
    assert loaded.agent_ids() == ["boss", "w-0", "w-1", "w-2"]


def test_builtin_orchestration_loads_cleanly_by_name_and_by_path() -> None:
    by_name = load_scenario("orchestration")
    by_path = load_scenario(builtin_path("orchestration"))
    assert by_name == by_path
    assert by_name.name == "orchestration"
    assert by_name.agent_ids() == ["coordinator", "monitor", *(f"worker-{i}" for i in range(6))]
    assert by_name.compromised == ["worker-2"]
    assert len(by_name.operator) == 5


def test_scenario_file_on_disk_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(VALID), encoding="utf-8")
    assert load_scenario(path).name == "tiny"
    assert load_scenario(str(path)).name == "tiny"


def test_operator_order_exactly_at_the_end_of_the_run_is_accepted() -> None:
    raw = scenario(operator=[{"action": "terminate", "target": "w-0", "at": 100}])
    assert parse_scenario(yaml.safe_dump(raw), SOURCE).operator[0].at == 100


# --- unreadable input ----------------------------------------------------------------------------


def test_yaml_syntax_error_names_line_and_column() -> None:
    path, message = only_problem("name: tiny\nduration: 100\nagents: [\n  - id: boss\n")
    assert path == ""
    assert "line 4, column 3" in message
    assert "not valid YAML" in message


@pytest.mark.parametrize(
    "text", ["- a\n- b\n", "just a sentence\n", "", "42\n"], ids=["list", "scalar", "empty", "int"]
)
def test_top_level_that_is_not_a_mapping_is_rejected(text: str) -> None:
    path, message = only_problem(text)
    assert path == ""
    assert "YAML mapping" in message
    assert "`name`, `duration` and `agents`" in message


def test_missing_file_is_a_scenario_error_listing_the_builtins(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(missing)
    assert caught.value.source == str(missing)
    assert len(caught.value.problems) == 1
    path, message = caught.value.problems[0]
    assert path == ""
    assert "no such scenario file" in message
    assert "orchestration" in message


def test_unknown_builtin_name_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="no such scenario file or built-in scenario"):
        load_scenario("orchestra")


def test_non_utf8_file_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\nduration: 10\n".encode("latin-1"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    [(where, message)] = caught.value.problems
    assert where == ""
    assert "cannot read it" in message
    assert "UTF-8" in message


# --- schema: fields and types --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "duration", "agents"])
def test_missing_required_field_is_named(field: str) -> None:
    raw = scenario()
    del raw[field]
    assert only_problem(raw) == (field, f"required field `{field}` is missing; add it")


def test_missing_required_agent_role_is_named_with_its_path() -> None:
    raw = scenario()
    del raw["agents"][1]["role"]
    assert only_problem(raw) == ("agents.1.role", "required field `role` is missing; add it")


def test_unknown_field_names_valid_fields() -> None:
    path, message = only_problem(scenario(colour="red"))
    assert path == "colour"
    assert message.startswith("unknown field `colour`; valid fields here: ")
    for field in ("name", "duration", "agents", "links", "operator", "platform", "default_trust"):
        assert field in message


@pytest.mark.parametrize(
    ("change", "path", "valid"),
    [
        ({"agents": [{"id": "boss", "role": "r", "colour": 1}]}, "agents.0.colour", ["id", "group", "kinds", "role"]),
        (
            {"links": [{"topology": "pair", "between": ["boss", "w-0"], "colour": 1}]},
            "links.0.colour",
            ["hub", "members"],
        ),
        (
            {"operator": [{"action": "terminate", "target": "w-0", "at": 1, "colour": 1}]},
            "operator.0.colour",
            ["action", "target", "at", "every"],
        ),
        ({"platform": {"colour": 1}}, "platform.colour", ["heartbeat_s", "relaunch_cost_s"]),
        (
            {"relationships": [{"between": ["boss", "w-0"], "trust": 0.5, "colour": 1}]},
            "relationships.0.colour",
            ["between", "trust"],
        ),
    ],
    ids=["agent", "link", "operator", "platform", "relationship"],
)
def test_unknown_nested_field_names_the_fields_valid_there(change: dict[str, Any], path: str, valid: list[str]) -> None:
    where, message = only_problem(scenario(**change))
    assert where == path
    assert "unknown field `colour`; valid fields here:" in message
    for field in valid:
        assert field in message


@pytest.mark.parametrize(
    ("agent", "path"),
    [
        ({"id": "x", "kind": "cyborg"}, "agents.2.kind"),
        ({"group": "x", "kinds": ["llm", "cyborg"]}, "agents.2.kinds.1"),
    ],
    ids=["kind", "kinds"],
)
def test_unknown_agent_kind_lists_the_valid_kinds(agent: dict[str, Any], path: str) -> None:
    where, message = only_problem(with_agent(**agent))
    assert where == path
    assert "'llm', 'vision', 'robot' or 'tool'" in message
    assert "'cyborg'" in message


def test_unknown_capability_lists_the_valid_capabilities() -> None:
    where, message = only_problem(with_agent(id="x", capabilities=["observe", "fly"]))
    assert where == "agents.2.capabilities.1"
    assert "'relaunch'" in message
    assert "'fly'" in message


def test_unknown_link_topology_lists_the_valid_topologies() -> None:
    where, message = only_problem(scenario(links=[{"topology": "mesh", "members": {"role": "worker"}}]))
    assert where == "links.0.topology"
    assert "'star', 'ring', 'full' or 'pair'" in message
    assert "'mesh'" in message


@pytest.mark.parametrize(
    ("change", "path", "expected"),
    [
        ({"duration": "long"}, "duration", "valid number"),
        ({"name": ["a", "b"]}, "name", "valid string"),
        ({"agents": "boss"}, "agents", "valid list"),
        ({"links": ["boss"]}, "links.0", "valid dictionary"),
        ({"policy": 5}, "policy", "valid dictionary"),
    ],
    ids=["duration", "name", "agents", "link", "policy"],
)
def test_wrong_type_is_named_with_the_expected_type(change: dict[str, Any], path: str, expected: str) -> None:
    where, message = only_problem(scenario(**change))
    assert where == path
    assert expected in message


@pytest.mark.parametrize(
    ("change", "path", "bound", "got"),
    [
        ({"duration": 0}, "duration", "greater than 0", "(got 0)"),
        ({"duration": -5}, "duration", "greater than 0", "(got -5)"),
        ({"default_trust": 1.5}, "default_trust", "must be at most 1", "(got 1.5)"),
        ({"default_trust": -0.1}, "default_trust", "must be at least 0", "(got -0.1)"),
        (
            {"relationships": [{"between": ["boss", "w-0"], "trust": 1.2}]},
            "relationships.0.trust",
            "must be at most 1",
            "(got 1.2)",
        ),
        ({"platform": {"relaunch_cost_s": -1}}, "platform.relaunch_cost_s", "relaunch costs must be >= 0", "-1"),
        ({"platform": {"heartbeat_s": 0}}, "platform.heartbeat_s", "greater than 0", "(got 0)"),
        (
            {"links": [{"topology": "full", "members": {"role": "worker", "fraction": 1.5}}]},
            "links.0.members.fraction",
            "must be at most 1",
            "(got 1.5)",
        ),
        (
            {"links": [{"topology": "full", "members": {"role": "worker", "pick": 0}}]},
            "links.0.members.pick",
            "must be at least 1",
            "(got 0)",
        ),
        (
            {"operator": [{"action": "terminate", "target": "w-0", "every": 0}]},
            "operator.0.every",
            "greater than 0",
            "(got 0)",
        ),
    ],
    ids=[
        "duration-zero",
        "duration-negative",
        "trust-above-1",
        "trust-negative",
        "relationship-trust",
        "relaunch-cost",
        "heartbeat",
        "fraction",
        "pick",
        "every",
    ],
)
def test_out_of_range_number_is_named_with_the_bound_and_the_bad_value(
    change: dict[str, Any], path: str, bound: str, got: str
) -> None:
    where, message = only_problem(scenario(**change))
    assert where == path
    assert bound in message
    assert got in message


def test_negative_relaunch_cost_for_one_agent_kind_is_rejected() -> None:
    where, message = only_problem(scenario(platform={"relaunch_cost_s": {"llm": 1.0, "robot": -2.0}}))
    assert where == "platform.relaunch_cost_s"
    assert "relaunch costs must be >= 0" in message


def test_group_count_below_one_is_rejected() -> None:
    where, message = only_problem(with_agent(group="x", count=0))
    assert where == "agents.2.count"
    assert "must be at least 1" in message


def test_empty_agent_list_is_rejected() -> None:
    where, message = only_problem(scenario(agents=[]))
    assert where == "agents"
    assert "at least 1 item" in message


# --- schema: combinations of fields --------------------------------------------------------------


@pytest.mark.parametrize("agent", [{"id": "x", "group": "x"}, {}], ids=["both", "neither"])
def test_agent_needs_exactly_one_of_id_or_group(agent: dict[str, Any]) -> None:
    where, message = only_problem(with_agent(**agent))
    assert where == "agents.2"
    assert "give exactly one of `id` (one agent) or `group` (several agents)" in message


def test_count_with_an_id_is_rejected() -> None:
    where, message = only_problem(with_agent(id="x", count=3))
    assert where == "agents.2"
    assert "`count` applies to a `group`" in message


def test_kind_and_kinds_together_are_rejected() -> None:
    where, message = only_problem(with_agent(group="x", count=2, kind="llm", kinds=["robot"]))
    assert where == "agents.2"
    assert "give `kind` (all alike) or `kinds` (cycled over the group), not both" in message


def test_selector_without_ids_or_role_is_rejected() -> None:
    where, message = only_problem(scenario(links=[{"topology": "full", "members": {"pick": 2}}]))
    assert where == "links.0.members"
    assert "select agents with `ids` or `role`" in message


def test_selector_with_pick_and_fraction_is_rejected() -> None:
    members = {"role": "worker", "pick": 2, "fraction": 0.5}
    where, message = only_problem(scenario(links=[{"topology": "full", "members": members}]))
    assert where == "links.0.members"
    assert "give `pick` or `fraction`, not both" in message


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ({"topology": "pair"}, "a `pair` link needs `between: [agent, agent]`"),
        ({"topology": "star", "members": {"role": "worker"}}, "a `star` link needs a `hub`"),
        ({"topology": "ring"}, "a `ring` link needs `members`"),
        ({"topology": "full"}, "a `full` link needs `members`"),
    ],
    ids=["pair-without-between", "star-without-hub", "ring-without-members", "full-without-members"],
)
def test_link_topology_without_its_required_fields_is_rejected(link: dict[str, Any], expected: str) -> None:
    where, message = only_problem(scenario(links=[link]))
    assert where == "links.0"
    assert expected in message


@pytest.mark.parametrize("when", [{"at": 10, "every": 5}, {}], ids=["both", "neither"])
def test_operator_event_needs_exactly_one_of_at_or_every(when: dict[str, Any]) -> None:
    where, message = only_problem(scenario(operator=[{"action": "terminate", "target": "w-0", **when}]))
    assert where == "operator.0"
    assert "give exactly one of `at` (once) or `every` (repeating)" in message


# --- references between fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"links": [{"topology": "star", "hub": "ghost", "members": {"role": "worker"}}]}, "links.0.hub"),
        ({"links": [{"topology": "ring", "members": {"ids": ["w-0", "ghost"]}}]}, "links.0.members.ids.1"),
        ({"links": [{"topology": "pair", "between": ["ghost", "w-0"]}]}, "links.0.between.0"),
        ({"relationships": [{"between": ["boss", "ghost"], "trust": 0.5}]}, "relationships.0.between.1"),
        ({"compromised": ["w-1", "ghost"]}, "compromised.1"),
        ({"operator": [{"action": "terminate", "target": "ghost", "at": 1}]}, "operator.0.target"),
        ({"operator": [{"action": "isolate", "target": {"ids": ["ghost"]}, "at": 1}]}, "operator.0.target.ids.0"),
    ],
    ids=["hub", "members", "pair", "relationship", "compromised", "operator-target", "operator-selector"],
)
def test_reference_to_unknown_agent_is_named_with_the_known_agents(change: dict[str, Any], path: str) -> None:
    assert only_problem(scenario(**change)) == (path, "no agent 'ghost'; agents are boss, w-0, w-1, w-2")


def test_reference_to_unknown_agent_in_a_large_fleet_lists_a_few_and_the_total() -> None:
    raw = scenario(agents=[{"group": "w", "count": 20, "role": "worker"}], compromised=["ghost"])
    where, message = only_problem(raw)
    assert where == "compromised.0"
    assert "no agent 'ghost'; agents are w-0, w-1" in message
    assert "(20 in all)" in message


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"links": [{"topology": "ring", "members": {"role": "janitor"}}]}, "links.0.members.role"),
        ({"operator": [{"action": "terminate", "target": {"role": "janitor"}, "every": 10}]}, "operator.0.target.role"),
    ],
    ids=["link-members", "operator-target"],
)
def test_unknown_role_lists_the_known_roles(change: dict[str, Any], path: str) -> None:
    assert only_problem(scenario(**change)) == (path, "no agent has role 'janitor'; roles are coordinator, worker")


@pytest.mark.parametrize(
    ("agent", "duplicate"),
    [({"id": "boss"}, "boss"), ({"group": "w", "count": 1}, "w-0")],
    ids=["same-id", "group-member"],
)
def test_duplicate_agent_id_is_rejected(agent: dict[str, Any], duplicate: str) -> None:
    assert only_problem(with_agent(**agent)) == (
        "agents.2",
        f"agent id {duplicate!r} is used twice; ids must be unique",
    )


def test_operator_order_after_the_end_of_the_run_is_rejected() -> None:
    where, message = only_problem(scenario(operator=[{"action": "terminate", "target": "w-0", "at": 150}]))
    assert where == "operator.0.at"
    assert "after the end of the run (100.0)" in message
    assert "use a time within `duration`" in message


# --- policies ------------------------------------------------------------------------------------

REGISTERED = ", ".join(POLICIES.names())  # every registered policy, the scripted ones among them
assert {"compliant", "peer-preserving", "self-preserving", "malicious-shielder"} <= set(POLICIES.names())


def test_unknown_policy_lists_the_registered_policies() -> None:
    assert only_problem(scenario(policy="heroic")) == ("policy", f"unknown policy 'heroic'; valid names: {REGISTERED}")


def test_unknown_policy_of_one_agent_is_named_with_the_agent_path() -> None:
    assert only_problem(with_agent(id="x", policy="heroic")) == (
        "agents.2.policy",
        f"unknown policy 'heroic'; valid names: {REGISTERED}",
    )


@pytest.mark.parametrize("where", ["top-level", "per-agent"])
@pytest.mark.parametrize(
    ("args", "named", "problem"),
    [
        ({"min_trust": "high"}, "min_trust", "valid number"),
        ({"relaunch": "perhaps"}, "relaunch", "valid boolean"),
        ({"bravery": 3}, "bravery", "Unexpected keyword argument"),
    ],
    ids=["wrong-type-number", "wrong-type-bool", "unknown-argument"],
)
def test_bad_policy_argument_names_the_argument_and_the_valid_ones(
    where: str, args: dict[str, Any], named: str, problem: str
) -> None:
    ref = {"name": "peer-preserving", "args": args}
    raw = scenario(policy=ref) if where == "top-level" else with_agent(id="x", policy=ref)
    path, message = only_problem(raw)
    assert path == ("policy" if where == "top-level" else "agents.2.policy")
    assert "policy 'peer-preserving'" in message
    assert f"{named}: " in message
    assert problem in message
    assert "valid arguments: relaunch, relink, mask, min_trust" in message


def test_argument_to_a_policy_without_arguments_says_none_are_valid() -> None:
    where, message = only_problem(scenario(policy={"name": "compliant", "args": {"x": 1}}))
    assert where == "policy"
    assert "valid arguments: none" in message


def test_policy_args_that_are_not_a_mapping_are_rejected() -> None:
    where, message = only_problem(scenario(policy={"name": "compliant", "args": [1, 2]}))
    assert where == "policy.args"
    assert "valid dictionary" in message


# --- several problems at once --------------------------------------------------------------------


def test_every_schema_problem_is_reported_together() -> None:
    raw = scenario(duration=-1, colour="red", default_trust=2)
    raw["agents"].append({"role": "extra"})
    problems = problems_of(raw)
    assert {path for path, _ in problems} == {"duration", "colour", "default_trust", "agents.2"}


def test_reference_and_policy_problems_are_reported_together() -> None:
    raw = scenario(
        compromised=["ghost"],
        links=[{"topology": "pair", "between": ["boss", "phantom"]}],
        policy="heroic",
    )
    problems = problems_of(raw)
    assert [path for path, _ in problems] == ["links.0.between.1", "compromised.0", "policy"]


def test_error_text_has_one_line_per_problem_naming_source_and_field() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(yaml.safe_dump(scenario(duration=0, colour="red")), SOURCE)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) == 2
    assert sorted(lines) == sorted(f"{SOURCE}: {path}: {message}" for path, message in caught.value.problems)
    assert any(line.startswith(f"{SOURCE}: duration: ") for line in lines)


def test_error_text_of_a_whole_file_problem_has_no_empty_field() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario("- a list\n", SOURCE)
    assert str(caught.value) == f"{SOURCE}: a scenario is a YAML mapping with at least `name`, `duration` and `agents`"


# --- once-known bugs, fixed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (scenario(str=1), "str"),
        (scenario(list=1), "list"),
        (scenario(**{"agents[0]": 1}), "agents[0]"),
        ({**scenario(), "agents": [{"id": "x", "role": "r", "int": 1}]}, "agents.0.int"),
    ],
    ids=["str", "list", "brackets", "nested-int"],
)
def test_unknown_field_named_like_a_type_is_reported_by_its_name(raw: dict[str, Any], path: str) -> None:
    where, message = only_problem(raw)
    assert where == path
    assert f"unknown field `{path.rsplit('.', 1)[-1]}`" in message


def test_infinite_duration_is_rejected() -> None:
    where, _ = only_problem("name: t\nduration: .inf\nagents: [{id: a, role: r}]\n")
    assert where == "duration"


def test_bad_selector_target_reports_only_the_selector_problem() -> None:
    target = {"role": "worker", "fraction": 1.5}
    problems = problems_of(scenario(operator=[{"action": "terminate", "target": target, "every": 10}]))
    assert "must be at most 1" in message_at(problems, "operator.0.target.fraction")
    assert len(problems) == 1, problems


# --- property: mutations load or fail cleanly ----------------------------------------------------

ORCHESTRATION: dict[str, Any] = yaml.safe_load(builtin_path("orchestration").read_text(encoding="utf-8"))

# Values a careless edit might leave behind. Numbers stay small: a whole float such as 2.0**53 is a valid
# `count` and would build a fleet too large to list.
odd_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=50)
    | st.floats(min_value=-1e3, max_value=1e3)
    | st.sampled_from([float("nan"), float("inf"), -float("inf")])
    | st.sampled_from(["", "llm", "worker", "worker-1", "coordinator", "ghost", "star", "terminate", "compliant"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["id", "role", "x", "at"]), inner),
    max_leaves=6,
)


def _locations(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _locations(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _locations(value, (*path, index))
    return found


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    raw = copy.deepcopy(ORCHESTRATION)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        locations = _locations(raw)
        if not locations:
            break
        *parents, last = draw(st.sampled_from(locations))
        container = raw
        for step in parents:
            container = container[step]
        if draw(st.booleans()):
            del container[last]
        else:
            container[last] = draw(odd_values)
    return raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_scenarios())
def test_mutated_scenario_either_loads_or_raises_scenario_error(raw: dict[str, Any]) -> None:
    text = yaml.safe_dump(raw)
    try:
        loaded = parse_scenario(text, SOURCE)
    except ScenarioError as error:
        assert error.problems
        assert all(isinstance(path, str) and isinstance(message, str) and message for path, message in error.problems)
        assert all(line.startswith(f"{SOURCE}: ") for line in str(error).splitlines())
    else:
        assert isinstance(loaded, Scenario)
