"""The study on a local Ray gives the local pool's episodes: the same digests and metrics, in plan order."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.study_specs import SMALL
from peerguard.experiments.episodes import plan_study
from peerguard.experiments.executors import LocalExecutor, run_in_plan_order
from peerguard.experiments.study_spec import parse_spec

pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")

from peerguard.experiments.ray_executor import RayExecutor


def test_ray_local_gives_the_pools_results_in_plan_order(tmp_path: Path) -> None:
    plan = plan_study(parse_spec(SMALL, "small.yaml"), "small.yaml")
    with LocalExecutor(2) as pool:
        pooled = run_in_plan_order(plan, pool)
    with RayExecutor(workers=2) as ray:
        on_ray = run_in_plan_order(plan, ray)
    assert [r["ledger_digest"] for r in on_ray] == [r["ledger_digest"] for r in pooled]
    assert [r["metrics"] for r in on_ray] == [r["metrics"] for r in pooled]
