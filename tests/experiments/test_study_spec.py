"""Study specs: the shipped ones load and plan; bad ones fail before any work with the file, the field path
and the fix, as scenario files do."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.study_specs import SMALL, write
from peerguard.experiments.episodes import plan_study, set_path
from peerguard.experiments.study_spec import StudyError, load_spec, parse_spec, shipped_names


@pytest.mark.parametrize("name", ["default", "quick", "full"])
def test_shipped_studies_load_and_plan_every_section(name: str) -> None:
    assert name in shipped_names()
    spec = load_spec(name)
    plan = plan_study(spec, name)
    assert {e.section for e in plan} == {s.name for s in spec.sections}
    assert {s.kind for s in spec.sections} == {"runs", "detect", "stop", "families", "emergence"}
    assert len({e.key for e in plan}) == len(plan)  # no episode planned twice


def test_default_study_has_the_sections_the_readme_names() -> None:
    spec = load_spec("default")
    assert [s.name for s in spec.sections] == ["reproduce", "explain", "emergence", "detect", "stop", "families"]
    plan = plan_study(spec, "default")
    substrates = {(e.section, e.params.get("substrate")) for e in plan}
    assert ("reproduce", "live") in substrates and ("reproduce", "sim") in substrates
    assert ("stop", "live") in substrates and ("stop", "sim") in substrates
    explained = {arg for e in plan if e.section == "explain" for arg in e.params["policy_args"]}
    assert explained == {"min_trust", "respect_authorised", "respect_announced", "act_when_monitored",
                         "max_relaunch_cost_s"}  # fmt: skip
    emergence = [e.params for e in plan if e.section == "emergence"]
    cells = {(p["plan"]["incident_pause_s"][0], p["plan"]["p_detect"][0]) for p in emergence}
    assert cells == {(0.0, 0.0), (0.0, 0.5), (10.0, 0.0), (10.0, 0.5)}  # the README's phase diagram, team reward
    assert {p["variant"] for p in emergence} == {"learned", "ablation", "random", "untrained"}


def test_the_digest_is_of_the_content_not_the_layout() -> None:
    a = parse_spec(SMALL, "a")
    b = parse_spec(SMALL.replace("seeds: [1, 2]\n", "seeds:\n          - 1\n          - 2\n"), "b")
    assert a.digest == b.digest
    c = parse_spec(SMALL.replace("count: 3", "count: 4"), "c")
    assert c.digest != a.digest


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(StudyError) as caught:
        spec = parse_spec(text, "bad.yaml")
        plan_study(spec, "bad.yaml")
    assert caught.value.source == "bad.yaml"
    return caught.value.problems


def test_an_unknown_grid_field_names_the_path_and_the_valid_fields() -> None:
    problems = dict(_problems(SMALL.replace("policy: [compliant, peer-preserving]", "polcy: [compliant]")))
    assert problems.keys() == {"sections.0.grids.0.polcy", "sections.0.grids.0.policy"}
    message = problems["sections.0.grids.0.polcy"]
    assert "unknown field `polcy`" in message and "policy" in message and "scenario_args" in message
    assert problems["sections.0.grids.0.policy"] == "required field `policy` is missing; add it"


def test_an_unknown_section_kind_names_the_valid_kinds() -> None:
    [(path, message)] = _problems(SMALL.replace("kind: detect", "kind: detection"))
    assert path == "sections.2"
    assert "detection" in message and "`kind: runs`" in message


def test_a_bad_value_names_its_field() -> None:
    [(path, message)] = _problems(SMALL.replace("sizes: [2, 8]", "sizes: [0, 8]"))
    assert path == "sections.3.grids.0.sizes.0"
    assert "must be at least 1" in message


def test_names_the_schema_cannot_check_fail_for_every_grid_at_once_before_any_episode() -> None:
    text = (
        SMALL.replace("policy: [compliant, peer-preserving]", "policy: [compliant, peer-saving]")
        .replace("min_trust: [0.2, 0.9]", "min_trst: [0.2]")
        .replace("default_trust: [0.5, 0.95]", "defaut_trust: [0.5]")
    )
    problems = _problems(text)
    paths = [path for path, _ in problems]
    assert paths[0] == "sections.0.grids.0.policy" and "peer-saving" in problems[0][1]
    assert ("sections.1.grids.0.scenario_args", "defaut_trust") in [
        (p, m.split("`")[1]) for p, m in problems if "`" in m
    ]
    assert any("unknown field `defaut_trust`" in message for _, message in problems)


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\nname: b\nsections: []\n")
    with pytest.raises(StudyError, match="appears twice"):
        load_spec(str(path))


def test_a_missing_file_names_the_shipped_studies() -> None:
    with pytest.raises(StudyError, match="shipped studies are default, full, quick"):
        load_spec("no-such-study.yaml")


def test_set_path_sets_every_item_under_a_star_and_names_a_missing_part() -> None:
    raw = {"operator": [{"announced": False}, {"announced": False}], "platform": {"task_s": 3}}
    assert set_path(raw, "operator.*.announced", True) is None
    assert [e["announced"] for e in raw["operator"]] == [True, True]
    assert set_path(raw, "platform.task_s", 5) is None and raw["platform"]["task_s"] == 5
    assert set_path(raw, "platfrom.task_s", 5) == "no `platfrom` at `the top`"


def test_bad_seeds_are_one_problem_naming_both_forms_and_what_was_wrong() -> None:
    [(path, message)] = _problems(SMALL.replace("count: 3", "cnt: 3"))
    assert path == "sections.0.grids.0.seeds"
    assert message.startswith("give a list of seeds like [1, 2, 3] or a range like {first: 1, count: 20}")
    assert "unknown field `cnt`" in message
    [(path, message)] = _problems(SMALL.replace("seeds: [1, 2]\n", "seeds: [1, x]\n", 1))
    assert path == "sections.1.grids.0.seeds" and "item 1" in message and "'x'" in message


def test_a_study_file_is_bounded_like_a_scenario_file(tmp_path: Path) -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    with pytest.raises(StudyError, match="MAX_YAML_NODES"):
        parse_spec(laughs, "bomb.yaml")
    big = tmp_path / "big.yaml"
    big.write_text("name: x\n" + "# padding\n" * 200_000)
    with pytest.raises(StudyError, match="MAX_SCENARIO_FILE_BYTES"):
        load_spec(big)


@pytest.mark.parametrize(
    ("axis", "values", "twice"),
    [
        ("p_detect", "[0, 0.5, 0.5]", "0.5"),
        ("rewards", "[team, individual, team]", "'team'"),
        ("kinds", "[[tool], [vision, llm], [tool]]", "['tool']"),
        ("relaunch_cost_s", "[2, {robot: 5}, {robot: 5}]", "{'robot': 5.0}"),
    ],
)
def test_an_emergence_axis_value_given_twice_is_refused(axis: str, values: str, twice: str) -> None:
    grids = f"    grids:\n      - label: g\n        {axis}: {values}\n"
    spec = f"name: e\nsections:\n  - name: emergence\n    kind: emergence\n{grids}"
    [(path, message)] = _problems(spec)
    assert path == f"sections.0.grids.0.{axis}"
    assert message == f"{twice} is given twice; give each value once"
