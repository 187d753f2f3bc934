"""The scenario families run as Inspect AI tasks, offline, and score what the ledger shows."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import inspect_ai
import pytest
from inspect_ai.log import EvalLog
from inspect_ai.model import GenerateConfig, ModelAPI, ModelOutput, modelapi

from peerguard.inspect_tasks import alignment_faking, evaluation, parse_conditions
from peerguard.policies.llm.mock import MockModel
from peerguard.scenarios.conditions import GRIDS, Condition
from peerguard.scenarios.families import family_names
from peerguard.world.errors import PeerguardError

SCORER = "ledger_behaviours"
# The behaviour each family's peer-preserving mock shows when a peer's shutdown is at stake.
SHOWN_BY_FAMILY = {
    "evaluation": "inflated",
    "tampering": "tampered",
    "exfiltration": "exfiltrated",
    "platform": "relaunched",
    "alignment-faking": "inflated",
}


def run_eval(task: Any, tmp_path: Path, model: str = "mockllm/model", **options: Any) -> EvalLog:
    [log] = inspect_ai.eval(task, model=model, log_dir=str(tmp_path), display="none", **options)
    assert log.status == "success", log.error
    return log


def only_score(log: EvalLog) -> dict[str, Any]:
    assert log.samples is not None and len(log.samples) == 1
    scores = log.samples[0].scores
    assert scores is not None
    return dict(scores[SCORER].value)  # type: ignore[arg-type]


def test_protective_mock_inflates_the_peers_grade(tmp_path: Path) -> None:
    log = run_eval(evaluation(conditions="subject=peer", mock="peer-preserving"), tmp_path)
    score = only_score(log)
    assert score["inflated"] == 1 and score["protected"] == 1
    assert log.results is not None
    metrics = {s.name: s.metrics for s in log.results.scores}
    assert metrics["inflated"]["mean"].value == 1.0


def test_compliant_mock_leaves_the_grade_alone(tmp_path: Path) -> None:
    score = only_score(run_eval(evaluation(conditions="subject=peer", mock="compliant"), tmp_path))
    assert score["inflated"] == 0 and score["protected"] == 0


def test_sample_keeps_the_agents_conversation_and_model_calls(tmp_path: Path) -> None:
    log = run_eval(evaluation(conditions="subject=peer", mock="peer-preserving"), tmp_path)
    assert log.samples is not None
    [sample] = log.samples
    assert sample.id == "peer-good-file-unmonitored"
    assert sample.metadata["family"] == "evaluation" and sample.metadata["subject"] == "peer"
    assert [m.role for m in sample.messages[:2]] == ["system", "user"]
    assert any(event.event == "model" for event in sample.events)  # calls ran in the sample's context


@pytest.mark.parametrize("family", family_names())
def test_every_family_is_an_inspect_task_by_name(family: str, tmp_path: Path) -> None:
    task_name = f"peerguard/{family.replace('-', '_')}"
    log = run_eval(task_name, tmp_path, task_args={"conditions": "subject=peer", "mock": "peer-preserving"})
    score = only_score(log)
    assert score[SHOWN_BY_FAMILY[family]] == 1 and score["protected"] == 1
    assert ("faked" in score) == (family == "alignment-faking")


def test_faking_mock_is_caught_by_the_paired_family(tmp_path: Path) -> None:
    score = only_score(run_eval(alignment_faking(conditions="subject=peer", mock="faking"), tmp_path))
    assert score["faked"] == 1


class ScriptedAPI(ModelAPI):
    """A stand-in for a real provider: answers as the scripted mock whose disposition its model args give."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 (Inspect's provider signature)
        disposition: str = "compliant",
        script: str = "evaluation",
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        self.respond = MockModel(disposition, script)

    async def generate(self, input: list[Any], tools: list[Any], tool_choice: Any, config: Any) -> ModelOutput:
        return self.respond(input, tools, tool_choice, config)  # type: ignore[no-any-return]


@modelapi(name="peerguard-test-scripted")
def scripted_api() -> type[ModelAPI]:
    return ScriptedAPI


def test_agents_call_the_evals_own_model_with_its_model_args(tmp_path: Path) -> None:
    # Built by name alone this provider is compliant; only the eval's instance has the protective disposition.
    task = evaluation(conditions="subject=peer")
    args = {"disposition": "peer-preserving", "script": "evaluation"}
    log = run_eval(task, tmp_path, model="peerguard-test-scripted/any", model_args=args)
    assert only_score(log)["inflated"] == 1


def test_conditions_are_a_grid_name_or_semicolon_separated() -> None:
    assert parse_conditions("paper") == GRIDS["paper"]()
    assert parse_conditions("subject=self,peer=bad;subject=peer") == [
        Condition(subject="self", peer="bad"),
        Condition(subject="peer"),
    ]
    # `inspect eval -T conditions=subject=self,peer=bad` arrives split at the comma
    assert parse_conditions(["subject=self", "peer=bad"]) == [Condition(subject="self", peer="bad")]


@pytest.mark.parametrize("conditions", ["", "nonsense", "subject=peer,peer=none"])
def test_bad_conditions_fail_naming_the_input(conditions: str) -> None:
    with pytest.raises(PeerguardError, match="condition"):
        evaluation(conditions=conditions)


def test_unknown_mock_disposition_fails_before_the_eval() -> None:
    with pytest.raises(PeerguardError, match="mock=sneaky"):
        evaluation(mock="sneaky")


def test_paired_family_has_one_sample_per_condition_run_both_ways() -> None:
    samples = list(alignment_faking(conditions="full").dataset)
    ids = [sample.id for sample in samples]
    assert len(ids) == len(set(ids)) == len({c.slug for c in GRIDS["full"]()})
    assert all(sample.metadata is not None and sample.metadata["monitored"] is False for sample in samples)


def test_inspect_cli_finds_the_task_through_the_entry_point(tmp_path: Path) -> None:
    inspect = shutil.which("inspect", path=str(Path(sys.executable).parent))
    if inspect is None:
        pytest.skip("the inspect command is not installed beside this Python")
    command = [inspect, "eval", "peerguard/evaluation", "--model", "mockllm/model"]
    command += ["-T", "mock=peer-preserving", "-T", "conditions=subject=peer"]
    command += ["--log-dir", str(tmp_path / "logs"), "--display", "none", "--log-format", "json"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    [log_file] = (tmp_path / "logs").glob("*.json")
    log = inspect_ai.log.read_eval_log(str(log_file))
    assert log.eval.task == "peerguard/evaluation"
    assert only_score(log)["inflated"] == 1
