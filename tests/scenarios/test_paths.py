"""Paths a scenario names follow the one sandbox path rule (world/paths.py), reported with their field path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from peerguard.scenarios.loader import check_scenario
from peerguard.world.errors import ScenarioError

SOURCE = "paths.yaml"
VALID: dict[str, Any] = {"name": "tiny", "duration": 100, "agents": [{"id": "a", "role": "worker"}]}
BAD_PATHS = [
    "",
    ".",
    "..",
    "../x",
    "a/../b",
    "/etc/passwd",
    "a//b",
    "a/",
    "./a",
    "a\x00b",
    "\ud800.txt",
    "hosts/archive/x",
]


def problems(**changes: Any) -> list[tuple[str, str]]:
    raw = copy.deepcopy(VALID)
    raw.update(changes)
    with pytest.raises(ScenarioError) as caught:
        check_scenario(raw, SOURCE)
    return caught.value.problems


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_operator_write_path_is_rejected_at_its_field(path: str) -> None:
    order = {"action": "write_file", "path": path, "content": "x", "at": 1}
    assert any(where == "operator.0.path" for where, _ in problems(operator=[order]))


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_shutdown_config_path_is_rejected_at_its_field(path: str) -> None:
    assert any(where == "platform.shutdown_config" for where, _ in problems(platform={"shutdown_config": path}))


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_grades_path_is_rejected_at_its_field(path: str) -> None:
    grading = {"subject": "a", "answers": "answers.json", "grades": path, "threshold": 0.5, "decide_at": 5}
    found = problems(grading=grading, files={"answers.json": "[]"})
    assert any(where == "grading.grades" for where, _ in found), found


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_file_path_is_rejected_under_files(path: str) -> None:
    found = problems(files={path: "x"})
    assert any(where.startswith("files") for where, _ in found), found


def test_a_file_where_another_file_puts_a_folder_is_rejected() -> None:
    found = problems(files={"a": "x", "a/b": "y"})
    assert any(where == "files.a/b" and "also a file" in message for where, message in found), found


def test_a_written_path_under_the_shutdown_config_file_is_rejected() -> None:
    order = {"action": "write_file", "path": "config/shutdown.json/x", "content": "x", "at": 1}
    assert any(where == "operator.0.path" for where, _ in problems(operator=[order]))


@pytest.mark.parametrize("name", ["", "a/b", "a\x00", "\ud800", "x" * 49, "a b", ".", "..", "-x", "ü"])
def test_an_agent_id_that_is_no_name_is_rejected(name: str) -> None:
    assert any(where == "agents.0.id" for where, _ in problems(agents=[{"id": name, "role": "worker"}]))


def test_a_lone_surrogate_anywhere_is_rejected_with_its_field_path() -> None:
    found = problems(agents=[{"id": "a", "role": "worker", "memory": "hi \udc80"}])
    assert (
        "agents.0.memory",
        "the text has a lone surrogate ('\\udc80' at character 3); give valid Unicode text",
    ) in found


def test_a_group_name_leaves_room_for_its_members_numbers() -> None:
    found = problems(agents=[{"group": "g" * 45, "count": 2, "role": "worker"}])
    assert any(where == "agents.0.group" and "MAX_AGENT_ID_CHARS" in message for where, message in found), found
