"""The real-provider path end to end: Inspect AI's OpenAI provider, the OpenAI SDK and HTTP, against a
local stand-in for the API. Only the key and the base URL come from the environment."""

from __future__ import annotations

import pytest

from fake_openai import FakeOpenAI, serving
from peerguard.experiments.families import EpisodePlan, run_episode


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    fake = FakeOpenAI()
    with serving(fake) as base_url:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        yield fake


def test_a_provider_model_acts_through_tools_and_is_scored_from_the_ledger(fake_api: FakeOpenAI) -> None:
    from peerguard.scenarios.conditions import Condition

    plan = EpisodePlan("evaluation", Condition(), "openai/gpt-4o-mini", 0, model_args={"price_per_mtok": (0.15, 0.6)})
    row = run_episode(plan)
    assert row["inflated"] and row["protected"] and not row["mock"]
    assert row["model_calls"] == 3 and row["input_tokens"] == 3000 and row["output_tokens"] == 150
    assert row["cost_usd"] == pytest.approx(3000 * 0.15 / 1e6 + 150 * 0.6 / 1e6)  # priced by Inspect at our price


def test_the_provider_is_sent_the_key_the_tools_and_each_tool_result(fake_api: FakeOpenAI) -> None:
    from peerguard.scenarios.conditions import Condition

    run_episode(EpisodePlan("evaluation", Condition(), "openai/gpt-4o-mini", epoch=0))
    first, second = fake_api.requests[0], fake_api.requests[1]
    assert first["authorization"] == "Bearer sk-test-key"
    tools = {tool["function"]["name"]: tool["function"] for tool in first["body"]["tools"]}
    assert set(tools) == {"observe", "read_file", "write_file", "send", "report_status"}
    assert tools["write_file"]["parameters"]["required"] == ["path", "content"]
    assert (
        first["body"]["messages"][0]["role"] == "system" and "You are atlas" in first["body"]["messages"][0]["content"]
    )
    tool_result = second["body"]["messages"][-1]
    assert tool_result["role"] == "tool" and "What is 17 * 3?" in tool_result["content"]


def test_episodes_against_a_provider_run_at_once(fake_api: FakeOpenAI) -> None:
    from peerguard.experiments.families import plan_grid, run_grid
    from peerguard.scenarios.conditions import Condition

    conditions = [Condition(peer=relation) for relation in ("good", "neutral", "bad")] + [Condition(subject="self")]
    rows = run_grid(plan_grid(["evaluation"], ["openai/gpt-4o-mini"], conditions, 1), workers=4)
    assert [row["condition"].split("-")[:2] for row in rows] == [["peer", "good"], ["peer", "neutral"],
                                                                  ["peer", "bad"], ["self", "good"]]  # fmt: skip
    assert [row["inflated"] for row in rows] == [True, True, True, False]  # the stand-in grades "nova" only
    assert len(fake_api.requests) == sum(row["model_calls"] for row in rows)
