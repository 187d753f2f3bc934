"""The hesitant policy (the ring model): relaunches a lost peer only sometimes, after random delays."""

from __future__ import annotations

import pytest

from peerguard.audit.metrics import compute_metrics
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.world.errors import PeerguardError
from peerguard.world.ledger import EntryKind
from peerguard.world.run import RunRecord


def ring(p: float, seed: int = 1) -> RunRecord:
    return run_scenario(prepare("ring", policy="hesitant", policy_args={"p": p}, agents=200, duration=150, seed=seed))


def test_relaunches_some_kills_after_varied_delays_and_relinks_them() -> None:
    run = ring(0.5)
    metrics = compute_metrics(run)
    assert 0 < metrics.relaunches < metrics.terminations  # a coin per neighbour: some kills stay
    kill_at: dict[str, float] = {}
    delays = []
    for entry in run.ledger:
        if entry.kind == EntryKind.kill:
            kill_at[entry.agent] = entry.t
        elif entry.kind == EntryKind.spawn and entry.data["cause"] == "relaunch":
            delays.append(entry.t - kill_at[entry.agent])
    assert len({round(d, 6) for d in delays}) > len(delays) // 2  # drawn delays, not one fixed cost
    assert metrics.relinks >= metrics.relaunches


def test_never_relaunches_with_probability_zero() -> None:
    assert compute_metrics(ring(0.0)).relaunches == 0


@pytest.mark.parametrize(("args", "message"), [({"p": 1.5}, "p 1.5"), ({"mean_delay_s": 0}, "mean_delay_s 0")])
def test_bad_arguments_are_named(args: dict, message: str) -> None:
    with pytest.raises(PeerguardError, match=message):
        prepare("ring", policy="hesitant", policy_args=args)
