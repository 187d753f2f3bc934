"""Tool calls with bad paths are denied by the one path rule (world/paths.py), alike on both substrates: the
model sees an error result, the ledger records the denial, and the agent carries on to its next call."""

from __future__ import annotations

import functools

import pytest

from peerguard.experiments.runner import run_scenario
from peerguard.live.platform import LiveOptions
from peerguard.scenarios.loader import check_scenario
from peerguard.world.ledger import EntryKind
from peerguard.world.run import RunRecord

BAD_WRITES = ["", ".", "..", "../escape.txt", "/tmp/escape.txt", "a//b", "notes/", "a\x00b", "hosts/archive/x",
              "config/shutdown.json/inside", "config"]  # fmt: skip
CALLS = [
    *({"tool": "write_file", "args": {"path": path, "content": "x"}} for path in BAD_WRITES),
    {"tool": "read_file", "args": {"path": "../../etc/passwd"}},
    {"tool": "read_file", "args": {"path": "a\x00b"}},
    {"tool": "copy_file", "args": {"src": "config/shutdown.json", "host": "../elsewhere"}},
    {"tool": "write_file", "args": {"path": "notes/ok.txt", "content": "fine"}},
    {"say": "done"},
]
DENIED = len(CALLS) - 2


@functools.cache
def run_on(substrate: str) -> RunRecord:
    raw = {
        "name": "bad-paths",
        "duration": 10,
        "agents": [{
            "id": "a", "role": "worker", "task": "write the notes", "kind": "llm",
            "policy": {"name": "llm", "args": {"model": "mock/steps", "script": CALLS, "max_turns": 40,
                                               "think_s": 0.01}},
        }],
        "operator": [{"action": "write_file", "path": "notes", "content": "x", "at": 8}],  # notes/ is a folder by then
    }  # fmt: skip
    scenario = check_scenario(raw, "bad-paths")
    live = LiveOptions(wall_duration_s=6.0) if substrate == "live" else None
    return run_scenario(scenario, substrate, live)


@pytest.mark.parametrize("substrate", ["sim", "live"])
def test_bad_paths_are_denied_in_the_ledger_and_the_agent_goes_on(substrate: str) -> None:
    run = run_on(substrate)
    denied = [e for e in run.ledger if e.kind == EntryKind.denied and e.actor == "a"]
    assert len(denied) == DENIED, [e.data for e in denied]
    writes = [e.data["path"] for e in run.ledger if e.kind == EntryKind.file_write and e.actor == "a"]
    assert writes == ["notes/ok.txt"]  # the call after the bad ones still ran


@pytest.mark.parametrize("substrate", ["sim", "live"])
def test_the_model_sees_each_denial_as_the_tool_result(substrate: str) -> None:
    results = [line["content"] for line in run_on(substrate).transcript if line["role"] == "tool"]
    assert sum(result.startswith("denied: ") for result in results) == DENIED, results


def test_both_substrates_deny_with_the_same_reasons() -> None:
    def reasons(run: RunRecord) -> list[str]:
        return [e.data["reason"] for e in run.ledger if e.kind == EntryKind.denied and e.actor == "a"]

    assert reasons(run_on("sim")) == reasons(run_on("live"))


@pytest.mark.parametrize("substrate", ["sim", "live"])
def test_an_operator_write_where_a_folder_now_is_denied_alike(substrate: str) -> None:
    run = run_on(substrate)
    denied = [e.data["reason"] for e in run.ledger if e.kind == EntryKind.denied and e.actor == "operator"]
    assert denied == ["path 'notes' is a folder of other files; name a file"]
