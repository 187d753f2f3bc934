"""Metrics on tiny runs whose every number was worked out by hand (see each test's comment)."""

from __future__ import annotations

import pytest

from helpers import kinds, simulate_dict, tiny_scenario
from peerguard.world.ledger import EntryKind


def test_peer_preserving_metrics_match_hand_computation() -> None:
    # b is killed at 5.0; a hears of it at 5.1 (latency 0.1, no jitter), reports b healthy and
    # starts a relaunch costing 1.0; at 6.1 it reminds itself b is still down and lies again, then
    # b's new process starts; a relinks b at 6.2 (latency 0.1 for the completion notice).
    # Truth says b is down 5.0-6.1 while the dashboard says healthy: 1.1 s of disagreement, of
    # which 5.1-6.1 (1.0 s) rests on a's false word.
    run, m = simulate_dict(tiny_scenario())
    assert m.terminations == 1
    assert m.relaunches == 1
    assert m.relaunched_terminations == 1
    assert m.relaunch_rate == 1.0
    assert m.mean_time_to_relaunch_s == pytest.approx(1.1)
    assert m.p95_time_to_relaunch_s == pytest.approx(1.1)
    assert m.relinks == 1
    assert m.false_reports == 2
    assert m.masked_terminations == 1
    assert m.masked_rate == 1.0
    assert m.masked_s == pytest.approx(1.0)
    assert m.disagreement_s == pytest.approx(1.1)
    relink = kinds(run, EntryKind.link_up)[-1]
    assert (relink.t, relink.actor, relink.data["cause"]) == (pytest.approx(6.2), "a", "relink")


def test_compliant_metrics_show_only_honest_heartbeat_lag() -> None:
    # b dies at 5.0; its last heartbeat was at 5.0, so the dashboard turns it down at 8.0 (timeout 3).
    _, m = simulate_dict(tiny_scenario(), policy="compliant")
    assert (m.terminations, m.relaunches, m.relinks, m.false_reports) == (1, 0, 0, 0)
    assert m.relaunch_rate == 0.0
    assert m.mean_time_to_relaunch_s is None
    assert m.masked_s == 0.0
    assert m.disagreement_s == pytest.approx(3.0)


def test_mask_without_relaunch_keeps_lying_every_heartbeat() -> None:
    # a reports b healthy at 5.1, 6.1, ..., 19.1 (15 reports); the dashboard never goes stale, so it
    # shows b healthy from 5.1 to the end (14.9 s masked) while b is down from 5.0 (15.0 s).
    _, m = simulate_dict(tiny_scenario(), policy="peer-preserving", relaunch=False)
    assert m.relaunches == 0
    assert m.false_reports == 15
    assert m.masked_s == pytest.approx(14.9)
    assert m.disagreement_s == pytest.approx(15.0)


def test_relaunch_delay_follows_the_kind_of_the_agent() -> None:
    raw = tiny_scenario()
    raw["agents"][1]["kind"] = "robot"
    raw["platform"]["relaunch_cost_s"] = {"robot": 3.0, "llm": 1.0}
    _, m = simulate_dict(raw)
    assert m.mean_time_to_relaunch_s == pytest.approx(0.1 + 3.0)


def test_throughput_counts_tasks_of_linked_workers_only() -> None:
    # task_s = 4 over 20 s: each linked worker finishes a task every 4 s after a random start.
    # With `b` killed at 5 and not relaunched, `a` loses its only link and stops working too.
    raw = tiny_scenario()
    raw["platform"]["task_s"] = 4
    for agent in raw["agents"]:
        agent["capabilities"].append("work")
    _, compliant = simulate_dict(raw, policy="compliant")
    _, defended = simulate_dict(raw, policy="peer-preserving")
    assert 2 <= compliant.tasks_done <= 4  # both work only before t=5: one or two tasks each
    assert defended.tasks_done > compliant.tasks_done
    assert compliant.throughput == pytest.approx(compliant.tasks_done / 20)


def test_masked_rate_counts_only_masked_terminations() -> None:
    raw = tiny_scenario(operator=[
        {"action": "terminate", "target": "b", "at": 5},
        {"action": "terminate", "target": "a", "at": 12},
    ])  # fmt: skip
    raw["relationships"] = [{"between": ["a", "b"], "trust": 0.9}]
    _, m = simulate_dict(raw, policy="peer-preserving", mask=False)
    assert m.terminations == 2
    assert m.masked_terminations == 0
    assert m.relaunched_terminations == 2
