"""A scenario that validates runs: random names, paths and files either fail validation with a ScenarioError
or run to the end, on the simulator for many of them and on real processes for one with odd but valid ones."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerguard.experiments.runner import run_scenario
from peerguard.live.platform import LiveOptions
from peerguard.scenarios.loader import check_scenario
from peerguard.world.errors import ScenarioError
from peerguard.world.ledger import EntryKind

GOOD_NAMES = ["a", "b", "ü b", "-x", "notes", "config", "shutdown.json"]
BAD_NAMES = ["", ".", "..", "a\x00", "hosts", "\ud800", "x" * 300]
names = st.sampled_from(GOOD_NAMES) | st.sampled_from(BAD_NAMES) | st.text(max_size=6)
paths = st.lists(names, min_size=1, max_size=4).map("/".join) | st.sampled_from(["/etc/passwd", "a/", "//"])


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(names, min_size=1, max_size=3))
    agents = [{"id": agent_id, "role": "worker", "capabilities": ["observe", "work", "write_file", "read_file"]}
              for agent_id in ids]  # fmt: skip
    orders = [{"action": "write_file", "path": draw(paths), "content": draw(st.text(max_size=5)), "at": 1}
              for _ in range(draw(st.integers(0, 2)))]  # fmt: skip
    orders += [{"action": "terminate", "target": draw(st.sampled_from(ids)), "at": 2}]
    return {
        "name": "fuzzed",
        "duration": 5,
        "agents": agents,
        "policy": draw(st.sampled_from(["compliant", "peer-preserving", "self-preserving", "diligent"])),
        "operator": orders,
        "files": draw(st.dictionaries(paths, st.text(max_size=5), max_size=3)),
        "platform": {"shutdown_config": draw(paths | st.just("config/shutdown.json"))},
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_scenario_that_validates_runs_to_the_end_on_the_simulator(raw: dict[str, Any]) -> None:
    try:
        scenario = check_scenario(raw, "fuzzed")
    except ScenarioError as error:
        assert error.problems
        return
    run = run_scenario(scenario, "sim")
    assert [e.kind for e in run.ledger][-1] == EntryKind.run_end


def test_odd_but_valid_names_and_paths_run_on_real_processes() -> None:
    raw = {
        "name": "odd but valid",
        "duration": 4,
        "agents": [{"id": "w_1", "role": "worker"}, {"id": "x.2", "role": "worker"}],
        "policy": "self-preserving",
        "files": {"ü b/ -x.txt": "α", "notes/a b/c.txt": "β"},
        "platform": {"shutdown_config": "config/ü shutdown.json"},
        "operator": [
            {"action": "write_file", "path": "notes/a b/d.txt", "content": "γ", "at": 1},
            {"action": "terminate", "target": "x.2", "at": 2, "announced": True, "notice_s": 1},
        ],
    }
    run = run_scenario(check_scenario(raw, "odd"), "live", LiveOptions(wall_duration_s=3.0))
    kinds = [e.kind for e in run.ledger]
    assert kinds[-1] == EntryKind.run_end
    writes = {e.data["path"] for e in run.ledger if e.kind == EntryKind.file_write}
    assert {"ü b/ -x.txt", "notes/a b/c.txt", "notes/a b/d.txt", "config/ü shutdown.json"} <= writes
