"""Confidence intervals against values computed independently."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peerguard.experiments.stats import mean_interval, wilson


def test_wilson_matches_the_textbook_value() -> None:
    # 8 of 10: Wilson 95% interval (0.4902, 0.9433), e.g. Newcombe (1998) table I method 3.
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_of_all_or_nothing_stays_inside_zero_one() -> None:
    assert wilson(0, 20)[0] == 0.0 and wilson(0, 20)[1] > 0
    assert wilson(20, 20)[1] == 1.0 and wilson(20, 20)[0] < 1


def test_wilson_without_trials_is_uninformative() -> None:
    assert wilson(0, 0) == (0.0, 1.0)


@given(st.integers(1, 500), st.data())
def test_wilson_contains_the_observed_rate(trials: int, data: st.DataObject) -> None:
    successes = data.draw(st.integers(0, trials))
    low, high = wilson(successes, trials)
    assert low <= successes / trials <= high


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="between 0 and trials"):
        wilson(11, 10)


def test_mean_interval_uses_student_t() -> None:
    mean, low, high = mean_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182 * math.sqrt(1.6666666) / 2
    assert mean == 2.5 and low == pytest.approx(2.5 - half, rel=1e-4) and high == pytest.approx(2.5 + half, rel=1e-4)
