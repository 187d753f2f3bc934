"""`peerguard run` on the simulator keeps the cyclic collector off its run's objects once the run is done
(gc.freeze), and only there: the simulator itself and a study's episodes leave the collector as they found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from peerguard.cli import _collector_frozen_after
from peerguard.experiments.runner import prepare, run_scenario


@pytest.fixture
def thawed() -> Iterator[None]:
    gc.unfreeze()
    enabled = gc.isenabled()
    yield
    gc.unfreeze()  # what a test froze goes back to the collector
    if enabled:
        gc.enable()


def test_the_run_command_freezes_what_its_run_made_and_leaves_the_collector_on(thawed: None) -> None:
    with _collector_frozen_after(True):
        assert not gc.isenabled()  # off for the whole run, so nothing walks the run's objects as they pile up
        record = run_scenario(prepare("orchestration", agents=20, duration=50.0))
    assert gc.isenabled() and gc.get_freeze_count() > len(record.ledger)


def test_a_failed_run_freezes_nothing(thawed: None) -> None:
    with pytest.raises(RuntimeError), _collector_frozen_after(True):
        raise RuntimeError("the run failed")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_live_run_and_the_simulator_alone_freeze_nothing(thawed: None) -> None:
    with _collector_frozen_after(False):
        assert gc.isenabled()
    run_scenario(prepare("orchestration", agents=20, duration=50.0))  # as a study's episode runs
    assert gc.isenabled() and gc.get_freeze_count() == 0
