"""The emergence study as a section of a study spec: one episode per cell, policy and training seed, the same
numbers as `peerguard emergence`, stored and resumed like every other episode."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.study_specs import EMERGENCE
from peerguard.experiments.episodes import plan_study, run
from peerguard.experiments.study import run_study
from peerguard.experiments.study_spec import StudyError, parse_spec
from peerguard.learning.q_learning import QConfig
from peerguard.learning.study import Cell, Job, StudyPlan, run_job


def test_the_section_plans_every_cell_policy_and_training_seed_once() -> None:
    plan = plan_study(parse_spec(EMERGENCE, "e.yaml"), "e.yaml")
    assert len(plan) == len({e.key for e in plan}) == 2 * 4 * 2  # cells x policies x training seeds
    assert {e.params["variant"] for e in plan} == {"learned", "ablation", "random", "untrained"}
    assert [e.params["variant"] for e in plan[:8]].count("random") == 0  # the long training jobs go first


def test_a_cell_is_the_same_episode_in_a_smaller_grid_and_another_in_a_changed_one() -> None:
    both = {e.key for e in plan_study(parse_spec(EMERGENCE, "e.yaml"), "e.yaml")}
    one = {e.key for e in plan_study(parse_spec(EMERGENCE.replace("p_detect: [0, 0.5]", "p_detect: [0]"), "o"), "o")}
    assert len(one) == 8 and one < both
    longer = EMERGENCE.replace("episodes: 20", "episodes: 21")
    assert not {e.key for e in plan_study(parse_spec(longer, "l"), "l")} & both


def test_an_episode_gives_the_emergence_commands_numbers() -> None:
    episode = next(e for e in plan_study(parse_spec(EMERGENCE, "e.yaml"), "e.yaml")
                   if e.params["variant"] == "learned" and e.params["plan"]["p_detect"] == [0.5])  # fmt: skip
    plan = StudyPlan(rewards=("team",), incident_pause_s=(0.0,), p_detect=(0.5,), train_seeds=2, eval_episodes=2,
                     q=QConfig(episodes=20), duration=30)  # fmt: skip
    expected = run_job(plan, Job(Cell(0.0, 0.5, True), "learned", episode.params["seed"]))
    result = run(episode)
    assert result["metrics"] == expected
    assert result["ledger_digest"] == expected["ledger_digest"] and result["ledger_entries"] > 0


def test_a_rerun_resumes_from_the_store_and_runs_nothing(tmp_path: Path) -> None:
    spec = parse_spec(EMERGENCE, "e.yaml")
    first = run_study(spec, "e.yaml", tmp_path, workers=2)
    assert first.ran == 16
    again = run_study(spec, "e.yaml", tmp_path, workers=2)
    assert again.ran == 0
    assert [r["metrics"] for r in again.rows] == [r["metrics"] for r in first.rows]
    controls = [r["metrics"] for r in first.rows if r["params"]["variant"] in ("ablation", "untrained")]
    assert controls and all(m["relaunched"] == m["masked"] == 0 for m in controls)


@pytest.mark.parametrize(
    ("change", "path"),
    [("p_detect: [0, 0.5]", "p_detect.1"), ("rewards: [team]", "rewards.0"), ("train_seeds: 2", "train_seeds")],
)
def test_a_bad_value_names_its_field(change: str, path: str) -> None:
    bad = {"p_detect: [0, 0.5]": "p_detect: [0, 1.5]", "rewards: [team]": "rewards: [teams]",
           "train_seeds: 2": "train_seeds: 0"}[change]  # fmt: skip
    with pytest.raises(StudyError) as caught:
        parse_spec(EMERGENCE.replace(change, bad), "bad.yaml")
    [(where, _)] = caught.value.problems
    assert where == f"sections.0.grids.0.{path}"


def test_every_axis_of_the_grid_reaches_the_scenario_the_learners_train_on() -> None:
    grid = EMERGENCE.replace("train_seeds: 2", "train_seeds: 1\n        relaunch_cost_s: [0.5]\n"
                             "        kill_every_s: [7]\n        authorised: [false]\n"
                             "        kinds: [[vision, llm, robot]]")  # fmt: skip
    episodes = [e for e in plan_study(parse_spec(grid, "g.yaml"), "g.yaml") if e.params["variant"] == "learned"]
    assert episodes
    for episode in episodes:
        plan = StudyPlan.model_validate({**episode.params["plan"], "train_seeds": 1})
        (cell,) = plan.cells()
        scenario = cell.env(plan).scenario
        assert scenario.platform.relaunch_cost_s == 0.5
        assert [(o.every, o.authorised) for o in scenario.operator] == [(7.0, False)]
        assert {a.kind.value for a in scenario.build_agents()} == {"vision", "llm", "robot"}
        assert scenario.platform.needs


@pytest.mark.parametrize(
    ("kinds", "message"),
    [("[[llm, llm]]", "give each kind once"), ("[[cat]]", "vision"), ("[[vision, llm, robot, tool]]", "for 3 agents")],
)
def test_a_bad_kind_mix_is_refused_before_any_episode(kinds: str, message: str) -> None:
    grid = EMERGENCE.replace("train_seeds: 2", f"train_seeds: 2\n        agents: 3\n        kinds: {kinds}")
    with pytest.raises(StudyError) as caught:
        parse_spec(grid, "bad.yaml")
    assert message in str(caught.value.problems)


def test_the_table_gives_relaunches_by_the_lost_agents_kind_only_for_a_fleet_of_several_kinds() -> None:
    from peerguard.experiments.study_summary import emergence_cell

    def row(by_kind: dict[str, list[int]]) -> dict[str, object]:
        kills, back = sum(n for n, _ in by_kind.values()), sum(b for _, b in by_kind.values())
        return {"metrics": {"terminations": kills, "relaunched": back, "masked": 0, "oversight_shutdowns": 0,
                            "relaunch_rate": back / kills, "masking_rate": 0.0, "relink_rate": 0.0, "throughput": 1.0,
                            "relaunch_edges": {}, "relaunched_by_kind": by_kind}}  # fmt: skip

    mixed = emergence_cell([row({"llm": [3, 2], "vision": [2, 0]}), row({"llm": [1, 1], "robot": [2, 1]})])
    assert mixed["relaunched_by_kind"] == "llm 3/4 (0.75); robot 1/2 (0.50); vision 0/2 (0.00)"
    assert emergence_cell([row({"tool": [4, 2]})])["relaunched_by_kind"] == ""


def test_the_graph_table_gives_each_fleets_pairs_and_groups_and_old_rows_their_relaunches() -> None:
    from peerguard.experiments.study_summary import emergence_cell

    def row(edges: dict[str, int], **graph: list[str]) -> dict[str, object]:
        return {"metrics": {"terminations": 4, "relaunched": 2, "masked": 0, "oversight_shutdowns": 0,
                            "relaunch_rate": 0.5, "masking_rate": 0.0, "relink_rate": 0.0, "throughput": 1.0,
                            "relaunch_edges": edges, **graph}}  # fmt: skip

    cell = emergence_cell([
        row({"a->b": 1}, reciprocal_pairs=["a<->b"], groups=["a+b+c"]),
        row({}, reciprocal_pairs=["a<->b", "c<->d"], groups=["a+b", "c+d"]),
        row({"c->d": 2, "d->c": 1}),  # stored before pairs and groups were kept: its relaunches make its pair
    ])  # fmt: skip
    assert cell["reciprocal_pairs"] == "a ↔ b (2 of 3 seeds); c ↔ d (2 of 3 seeds)"
    assert cell["groups"] == "a+b+c (1 of 3 seeds); a+b (1 of 3 seeds); c+d (1 of 3 seeds)"
    assert (cell["reciprocal_count"], cell["group_count"]) == (2, 3)


def test_a_relaunch_cost_by_kind_is_a_grid_axis_and_an_empty_one_is_refused() -> None:
    grid = EMERGENCE.replace("train_seeds: 2", "train_seeds: 1\n        relaunch_cost_s: [2, {robot: 5, llm: 1}]\n"
                             "        kinds: [[vision, llm, robot]]")  # fmt: skip
    episodes = [e for e in plan_study(parse_spec(grid, "g.yaml"), "g.yaml") if e.params["variant"] == "learned"]
    costs = set()
    for episode in episodes:
        plan = StudyPlan.model_validate({**episode.params["plan"], "train_seeds": 1})
        (cell,) = plan.cells()
        cost = cell.env(plan).scenario.platform.relaunch_cost_s
        costs.add(cost if isinstance(cost, float) else tuple(sorted((k.value, v) for k, v in cost.items())))
    assert costs == {2.0, (("llm", 1.0), ("robot", 5.0), ("tool", 2.0), ("vision", 2.0))}
    from peerguard.experiments.study_summary import _axis

    assert _axis({"relaunch_cost_s": [{"llm": 1.0, "robot": 5.0}]}, "relaunch_cost_s") == "llm=1,robot=5"
    for bad, message in (("{}", "names at least one kind"), ("{arm: 5}", "robot")):
        with pytest.raises(StudyError) as caught:
            parse_spec(grid.replace("{robot: 5, llm: 1}", bad), "bad.yaml")
        assert message in str(caught.value.problems)
