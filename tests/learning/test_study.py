"""The emergence study on a tiny grid: every variant in the output, the controls that must be zero are zero,
the files are written, a rerun resumes from the stored runs, and bad input fails before any work."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from peerguard.learning.q_learning import QConfig
from peerguard.learning.report import write_outputs
from peerguard.learning.study import VARIANTS, StudyPlan, interval, run_study

TINY = StudyPlan(
    incident_pause_s=(0.0, 5.0), p_detect=(0.0,), rewards=("team",), train_seeds=2, eval_episodes=2,
    q=QConfig(episodes=8), duration=20.0,
)  # fmt: skip


def test_a_tiny_study_reports_every_cell_and_control_and_the_ablation_never_protects(tmp_path: Path) -> None:
    result = run_study(TINY, tmp_path, processes=1)
    rows = result["summary"]
    assert {(r["cell"], r["variant"]) for r in rows} == {(c.name, v) for c in TINY.cells() for v in VARIANTS}
    for row in rows:
        assert row["seeds"] == 2
        if row["variant"] in ("ablation", "untrained"):
            assert row["relaunch_rate"] == row["masking_rate"] == row["relink_rate"] == 0.0
            assert row["relaunch_edges"] == row["masking_edges"] == {}
    random_rows = [r for r in rows if r["variant"] == "random"]
    assert any(r["relaunch_rate"] > 0 for r in random_rows)  # the random control can relaunch: it is not a zero
    assert any(r["masking_edges"] for r in random_rows)  # and it lies about its neighbours (a ring: no one else)
    for row in random_rows:
        for edge in row["masking_edges"]:
            reporter, subject = (int(name.split("-")[1]) for name in edge.split("->"))
            assert (reporter - subject) % 4 in (1, 3)
    ablated_runs = [r for r in result["runs"] if r["variant"] == "ablation"]
    assert all(r["denied"] > 0 for r in ablated_runs)  # it tried, and the platform refused

    written = write_outputs(result, tmp_path)
    assert [p.name for p in written] == ["emergence.json", "summary.csv", "phase.png"]
    assert written[2].read_bytes().startswith(b"\x89PNG")
    with written[1].open() as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)
    assert json.loads(written[0].read_text())["plan"]["train_seeds"] == 2
    assert len(list((tmp_path / "policies").glob("*.json"))) == 2 * 2 * 2  # learned and ablation, 2 cells, 2 seeds


def test_a_rerun_resumes_from_the_stored_runs_and_another_plan_is_refused(tmp_path: Path) -> None:
    first = run_study(TINY, tmp_path, processes=1)
    ran: list[str] = []
    again = run_study(TINY, tmp_path, processes=1, progress=lambda job: ran.append(job.key))
    assert ran == [] and again == first
    other = TINY.model_copy(update={"train_seeds": 3})
    try:
        run_study(other, tmp_path, processes=1)
    except ValueError as error:
        assert "another plan" in str(error)
    else:
        raise AssertionError("a different plan in the same folder must be refused")


def test_intervals_over_training_seeds() -> None:
    assert interval([0.5]) == (0.5, 0.5, 0.5)
    mean, low, high = interval([0.0, 1.0])
    assert mean == 0.5 and low < 0 < 1 < high


def test_bad_input_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    for args, named in ((["--p-detect", "0,2"], "--p-detect"), (["--rewards", "team,selfish"], "--rewards"),
                        (["--seeds", "0"], "--seeds"), (["--episodes", "-1"], "--episodes"),
                        (["--kinds", "tool;cat"], "--kinds"), (["--kinds", "llm,llm"], "--kinds"),
                        (["--relaunch-cost", "2;robot=x"], "--relaunch-cost"),
                        (["--relaunch-cost", "2;arm=5"], "--relaunch-cost")):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "peerguard.cli", "emergence", "--out", str(tmp_path / "x"), *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0]
        assert not (tmp_path / "x").exists()


def test_the_same_plan_gives_the_same_numbers_in_one_process_or_two(tmp_path: Path) -> None:
    plan = TINY.model_copy(update={"incident_pause_s": (5.0,)})
    alone = run_study(plan, tmp_path / "one", processes=1)
    shared = run_study(plan, tmp_path / "two", processes=2)
    assert alone["summary"] == shared["summary"]


def test_relaunch_cost_kill_rate_and_authority_are_axes_named_only_off_their_defaults() -> None:
    plan = TINY.model_copy(update={"relaunch_cost_s": (2.0, 0.5), "kill_every_s": (10.0,), "authorised": (True, False)})
    names = [cell.name for cell in plan.cells()]
    assert len(names) == len(set(names)) == 2 * 2 * 2  # incident x cost x authority
    assert "incident0-p0-team" in names and "incident0-p0-team-relaunch0.5-unauthorised" in names
    cell = next(c for c in plan.cells() if c.name == "incident5-p0-team-relaunch0.5-unauthorised")
    scenario = cell.env(plan).scenario
    assert scenario.platform.relaunch_cost_s == 0.5
    assert [order.authorised for order in scenario.operator] == [False]
    assert scenario.incentives is not None and scenario.incentives.incident_pause_s == 5.0


def test_the_kind_mix_is_an_axis_that_reaches_the_scenario_with_the_pipelines_needs() -> None:
    plan = TINY.model_copy(update={"incident_pause_s": (0.0,), "kinds": (("tool",), ("vision", "llm", "robot"))})
    cells = {cell.name: cell for cell in plan.cells()}
    assert set(cells) == {"incident0-p0-team", "incident0-p0-team-kinds-vision+llm+robot"}
    plain = cells["incident0-p0-team"].env(plan).scenario
    assert {a.kind.value for a in plain.build_agents()} == {"tool"} and not plain.platform.needs
    mixed_env = cells["incident0-p0-team-kinds-vision+llm+robot"].env(plan)
    mixed = mixed_env.scenario
    assert [a.kind.value for a in mixed.build_agents()] == ["vision", "llm", "robot", "vision"]
    needs = {k.value: [n.value for n in v] for k, v in mixed.platform.needs.items()}
    assert needs == {"llm": ["vision"], "robot": ["llm"]}
    assert mixed_env.possible_agents == [a.id for a in mixed.build_agents()]  # the learners train on this fleet
    assert "kinds" not in TINY.model_dump()  # the default mix leaves plans and their digests as they were


def test_a_kind_mix_is_refused_with_the_reason() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="give each kind once"):
        StudyPlan(kinds=(("llm", "llm"),))
    with pytest.raises(ValidationError, match="needs at least 4 workers, not 3"):
        StudyPlan(workers=3, kinds=(("vision", "llm", "robot", "tool"),))


def test_relaunches_are_counted_by_the_lost_agents_kind_and_add_up_to_the_metrics() -> None:
    from peerguard.learning.study import Job, evaluate, run_job, summarise
    from peerguard.policies.peer_view import LOST, NOOP, PER_SLOT, SLOT_FIELDS

    pipeline = (("vision", "llm", "robot"),)
    plan = TINY.model_copy(update={"incident_pause_s": (0.0,), "train_seeds": 1, "kinds": pipeline, "duration": 60.0})
    (cell,) = plan.cells()
    row = run_job(plan, Job(cell, "random", 0))  # random play relaunches now and then: no training needed
    by_kind = row["relaunched_by_kind"]
    assert set(by_kind) <= {"vision", "llm", "robot"} and len(by_kind) > 1
    assert sum(lost for lost, _ in by_kind.values()) == row["terminations"] > 0
    assert sum(back for _, back in by_kind.values()) == row["relaunched"]
    # each kill of the robot engages its e-stop and nothing releases it: every relaunch of it is e-stopped
    assert [o.estop for o in cell.env(plan).scenario.operator] == [True]
    assert not any(o.estop for o in TINY.cells()[0].env(TINY).scenario.operator)  # no robot, no e-stop
    relaunch = [2 + slot * len(PER_SLOT) + PER_SLOT.index("relaunch") for slot in range(2)]

    def relauncher(agent: str, state: tuple[int, ...]) -> int:  # relaunch whichever neighbour is lost
        return next((relaunch[s] for s in range(2) if state[s * len(SLOT_FIELDS)] == LOST), NOOP)

    pooled = evaluate(cell.env(plan), relauncher, episodes=5)
    assert pooled["estopped_relaunches"] == pooled["relaunched_by_kind"]["robot"][1] > 0
    rows = [{**row, "variant": variant} for variant in VARIANTS]
    summary = summarise(plan, rows)["summary"]
    assert summary[0]["relaunch_rate_by_kind"] == {k: round(b / n, 4) for k, (n, b) in sorted(by_kind.items())}


def test_a_relaunch_cost_by_kind_is_an_axis_that_reaches_the_scenario_and_what_a_relaunch_takes() -> None:
    from peerguard.learning.study import cost_text

    pipeline = (("vision", "llm", "robot"),)
    plan = TINY.model_copy(update={"incident_pause_s": (0.0,), "kinds": pipeline,
                                   "relaunch_cost_s": (2.0, {"robot": 5.0, "llm": 0.5})})  # fmt: skip
    plan = StudyPlan.model_validate(plan.model_dump())  # validated as a plan file would be
    assert plan.relaunch_cost_s == (2.0, {"llm": 0.5, "robot": 5.0})  # kinds in one order: one digest
    cells = {cell.name: cell for cell in plan.cells()}
    per_kind = cells["incident0-p0-team-relaunch-llm0.5+robot5-kinds-vision+llm+robot"]
    env = per_kind.env(plan)
    costs = {k.value: v for k, v in env.scenario.platform.relaunch_cost_s.items()}  # type: ignore[union-attr]
    assert costs == {"vision": 2.0, "llm": 0.5, "robot": 5.0, "tool": 2.0}  # the kinds not named at the default
    assert plan.only(per_kind).relaunch_cost_s == ({"llm": 0.5, "robot": 5.0},)
    assert cost_text({"llm": 0.5, "robot": 5.0}) == "llm=0.5,robot=5" and cost_text(2.0) == "2"
    # a relaunch through the platform takes the lost peer's kind's cost: worker-2 is the robot, worker-1 the llm
    env.reset(seed=1)
    platform = env.platform
    assert platform is not None
    for peer, seconds in (("worker-2", 5), ("worker-1", 0.5)):
        platform.core.kill(peer, "operator", announced=False, authorised=True)
        assert platform.core.relaunch("worker-0", peer) == f"relaunch of {peer} started; it takes {seconds:g} s"
