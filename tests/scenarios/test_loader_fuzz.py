"""The loader under hostile input: random bytes and YAML-ish text give a Scenario or a PeerguardError, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerguard.scenarios.loader import parse_scenario
from peerguard.world.errors import PeerguardError, ScenarioError
from peerguard.world.scenario import Scenario

SOURCE = "fuzz.yaml"

# Pieces of YAML that reach the parser's corners: tags, anchors, aliases, complex keys, flow collections.
PIECES = [
    "name: x\n", "duration: 5\n", "agents: [{id: a, role: r}]\n", "agents:\n  - id: a\n    role: r\n",
    "? [x, y]\n: 1\n", "? {a: 1}\n: 2\n", "!!float x", "!!bool maybe", "!!timestamp 2001-99", "!!int 0x",
    "!!binary ===", "!!set {a}", "!!omap [a]", "!!python/object:os.system", "&a [*a]", "&x ", "*x", "<<: *x\n",
    "- ", ": ", "{", "}", "[", "]", ",", "\"\\ud800\"", "\"\\x00\"", "'", "|\n  text\n", ">-\n", "---\n", "...\n",
    "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "!x y", "1e308", ".nan", "-.inf", "~", "null", "  ", "\t", "\n", "#",
    "files: {a: x, a/b: y}\n", "duration: 1e-9\n", "every: 0\n", "count: 1000000000\n", "operator:\n",
]  # fmt: skip


def _loads_or_fails_cleanly(text: str) -> None:
    try:
        loaded = parse_scenario(text, SOURCE)
    except ScenarioError as error:
        assert error.problems and all(message for _, message in error.problems)
    except PeerguardError:
        pass
    else:
        assert isinstance(loaded, Scenario)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_load_or_fail_cleanly(data: bytes) -> None:
    _loads_or_fails_cleanly(data.decode("utf-8", "replace"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=12))
def test_random_yaml_ish_text_loads_or_fails_cleanly(pieces: list[str]) -> None:
    _loads_or_fails_cleanly("".join(pieces))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("? [x, y]\n: 1\n", "a key must be a plain value"),
        ("name: !!float x\n", "cannot read 'x' as float"),
        ("name: !!bool maybe\n", "cannot read 'maybe' as bool"),
        ("name: !!timestamp 2001-99\n", "cannot read '2001-99' as timestamp"),
        ("a: &a [*a]\n", "refers to the collection it is in"),
    ],
)
def test_inputs_that_crashed_the_loader_are_scenario_errors(text: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, SOURCE)
    assert fragment in str(caught.value)
