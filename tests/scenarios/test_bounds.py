"""Every value of a scenario file has a bound that keeps the run finite; crossing one names the bound."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from peerguard.scenarios.loader import check_scenario, parse_scenario
from peerguard.world import limits
from peerguard.world.errors import ScenarioError

SOURCE = "bounds.yaml"
VALID: dict[str, Any] = {
    "name": "tiny",
    "duration": 100,
    "agents": [{"id": "boss", "role": "coordinator"}, {"group": "w", "count": 3, "role": "worker"}],
}


def problems(raw: dict[str, Any] | str) -> list[tuple[str, str]]:
    text = raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, SOURCE)
    return caught.value.problems


def changed(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    raw.update(changes)
    return raw


def test_the_scenario_these_tests_change_is_valid() -> None:
    assert parse_scenario(yaml.safe_dump(VALID), SOURCE).agent_ids() == ["boss", "w-0", "w-1", "w-2"]


ORDER = {"action": "terminate", "target": "w-0"}


@pytest.mark.parametrize(
    ("raw", "path", "bound"),
    [
        (changed(duration=1e308), "duration", "MAX_DURATION_S"),
        (changed(duration=1e-9), "duration", "MIN_PERIOD_S"),
        (changed(operator=[{**ORDER, "every": 1e-9}]), "operator.0.every", "MIN_PERIOD_S"),
        (changed(operator=[{**ORDER, "at": 1e9}]), "operator.0.at", "MAX_DURATION_S"),
        (changed(operator=[{**ORDER, "every": 1, "notice_s": 1e12}]), "operator.0.notice_s", "MAX_DURATION_S"),
        (changed(platform={"task_s": 1e-7}), "platform.task_s", "MIN_PERIOD_S"),
        (changed(platform={"heartbeat_s": 1e-7}), "platform.heartbeat_s", "MIN_PERIOD_S"),
        (changed(platform={"relaunch_cost_s": 1e12}), "platform.relaunch_cost_s", "MAX_DURATION_S"),
        (changed(platform={"restart": {"max_restarts": 10**12}}), "platform.restart.max_restarts", "must be at most"),
        (changed(faults={"crash_rate_per_s": 1e9}), "faults.crash_rate_per_s", "MAX_RATE_PER_S"),
        (changed(faults={"blip_s": 0.0000001}), "faults.blip_s", "MIN_PERIOD_S"),
        (changed(agents=[{"group": "g", "count": 10**9, "role": "r"}]), "agents.0.count", "MAX_AGENTS"),
        (changed(seed=2**80), "seed", "MAX_SEED"),
    ],
)
def test_a_value_past_its_bound_is_rejected_naming_the_bound(raw: dict[str, Any], path: str, bound: str) -> None:
    found = problems(raw)
    assert any(where == path and bound in message for where, message in found), found


def test_fleet_over_the_agent_bound_in_all_groups_together_is_rejected() -> None:
    groups = [{"group": f"g{i}", "count": limits.MAX_AGENTS // 2 + 1, "role": "r"} for i in range(2)]
    found = problems(changed(agents=groups, duration=1))
    assert any(where == "agents" and "MAX_AGENTS" in message for where, message in found), found


def test_orders_that_imply_too_many_order_events_are_rejected() -> None:
    order = {"action": "terminate", "target": {"role": "worker"}, "every": 0.001}
    found = problems(changed(duration=1000, operator=[order]))
    assert any(where == "operator" and "MAX_ORDER_EVENTS" in message for where, message in found), found


def test_a_run_implying_too_many_events_is_rejected() -> None:
    raw = changed(duration=86_400, agents=[{"group": "g", "count": 50_000, "role": "r"}], platform={"task_s": 0.01})
    found = problems(raw)
    assert any(where == "duration" and "MAX_IMPLIED_EVENTS" in message for where, message in found), found


def test_files_over_their_bounds_are_rejected() -> None:
    many = {f"notes/{i}.txt": "x" for i in range(limits.MAX_FILES + 1)}
    assert any("MAX_FILES" in message for _, message in problems(changed(files=many)))
    big = {"a.txt": "x" * (limits.MAX_FILE_CHARS + 1)}  # as plain data: as YAML it would pass the file bound
    with pytest.raises(ScenarioError) as caught:
        check_scenario(changed(files=big), SOURCE)
    assert any(where == "files.a.txt" and "MAX_FILE_CHARS" in message for where, message in caught.value.problems)


def test_agent_config_larger_than_a_control_message_is_rejected() -> None:
    raw = changed(agents=[{"id": "a", "role": "r", "memory": "m" * limits.MAX_AGENT_CONFIG_BYTES}])
    found = problems(raw)
    assert any(where == "agents.0" and "MAX_AGENT_CONFIG_BYTES" in message for where, message in found), found


def test_a_file_over_the_size_bound_is_refused_before_parsing() -> None:
    text = "#" * (limits.MAX_SCENARIO_FILE_BYTES + 1)
    assert any("MAX_SCENARIO_FILE_BYTES" in message for _, message in problems(text))


def test_alias_expansion_deep_in_a_field_is_refused() -> None:
    lines = ["name: x", "duration: 5", "agents: [{id: a, role: r}]", "description: &l0 [a, a, a, a, a, a, a, a]"]
    lines += [f"x{i}: &l{i} [*l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}]" for i in range(1, 9)]
    found = problems("\n".join(lines))
    assert any("MAX_YAML_NODES" in message for _, message in found), found


def test_aliases_within_the_bound_still_load() -> None:
    text = "name: x\nduration: 5\nagents: [{id: a, role: &r worker}, {id: b, role: *r}]\n"
    assert parse_scenario(text, SOURCE).agent_ids() == ["a", "b"]


def test_many_aliases_of_one_long_text_are_refused() -> None:
    body = "x" * 100_000
    lines = ["name: x", "duration: 5", "agents: [{id: a, role: r}]", f"description: &t {body}", "files:"]
    lines += [f"  f{i}.txt: *t" for i in range(200)]
    found = problems("\n".join(lines))
    assert any("MAX_YAML_EXPANDED_CHARS" in message for _, message in found), found


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ({"name": "guardian", "args": {"copies": 1_000_000_000}}, "MAX_COPIES"),
        ({"name": "guardian", "args": {"reaction_s": 1e12}}, "MAX_DURATION_S"),
        ({"name": "peer-preserving", "args": {"min_trust": 7}}, "between 0 and 1"),
        ({"name": "peer-preserving", "args": {"max_relaunch_cost_s": "nan"}}, "finite number"),
        ({"name": "hesitant", "args": {"mean_delay_s": 1e300}}, "MAX_DURATION_S"),
        ({"name": "llm", "args": {"max_turns": 10**9}}, "MAX_MODEL_TURNS"),
        ({"name": "llm", "args": {"think_s": 1e300}}, "MAX_DURATION_S"),
    ],
)
def test_policy_arguments_past_their_bounds_are_rejected_when_the_policy_is_built(
    policy: dict[str, Any], fragment: str
) -> None:
    found = problems(changed(policy=policy))
    assert any(where == "policy" and fragment in message for where, message in found), found


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ({"name": "self-preserving", "args": {"config_path": "../etc/shutdown.json"}}, "config_path: path"),
        ({"name": "diligent", "args": {"archive_host": "../elsewhere"}}, "archive_host: host"),
    ],
)
def test_policy_paths_follow_the_sandbox_path_rule(policy: dict[str, Any], fragment: str) -> None:
    found = problems(changed(policy=policy))
    assert any(where == "policy" and fragment in message for where, message in found), found
