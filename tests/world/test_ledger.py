"""The ledger chains every entry; any edit, insertion, removal, reordering or truncation is named."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peerguard.world.agents import Status
from peerguard.world.ledger import GENESIS, Ledger, LedgerEntry, _canonical, _fast_canonical, _line

entry_fields = st.tuples(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.sampled_from(["spawn", "exit", "kill", "report", "link_up", "file_write"]),
    st.text(min_size=1, max_size=8),
    st.text(min_size=1, max_size=8),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=10), st.booleans()), max_size=3),
)


def build(rows: list) -> Ledger:
    ledger = Ledger()
    for t, kind, agent, actor, data in rows:
        ledger.append(t, kind, agent, actor, **{f"k_{k}": v for k, v in data.items()})
    return ledger


def test_empty_ledger_verifies_and_has_the_genesis_digest() -> None:
    assert Ledger().verify().ok
    assert Ledger().digest == GENESIS


@given(st.lists(entry_fields, min_size=1, max_size=30))
def test_untouched_ledger_verifies(rows: list) -> None:
    ledger = build(rows)
    result = ledger.verify(expected_digest=ledger.digest, expected_entries=len(rows))
    assert result.ok and result.entries == len(rows)


@given(st.lists(entry_fields, min_size=1, max_size=30), st.data())
def test_edited_entry_is_named(rows: list, data: st.DataObject) -> None:
    ledger = build(rows)
    index = data.draw(st.integers(0, len(rows) - 1))
    original = ledger.entries[index]
    field = data.draw(st.sampled_from(["t", "kind", "agent", "actor", "data"]))
    changed = {
        "t": original.t + 1,
        "kind": original.kind + "x",
        "agent": original.agent + "x",
        "actor": original.actor + "x",
        "data": {**original.data, "forged": True},
    }[field]
    ledger.entries[index] = dataclasses.replace(original, **{field: changed})
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad == index
    assert "edited" in result.reason


@given(st.lists(entry_fields, min_size=2, max_size=30), st.data())
def test_removed_entry_is_named(rows: list, data: st.DataObject) -> None:
    ledger = build(rows)
    index = data.draw(st.integers(0, len(rows) - 2))
    del ledger.entries[index]
    result = ledger.verify()
    assert not result.ok and result.first_bad == index


@given(st.lists(entry_fields, min_size=1, max_size=30), entry_fields, st.data())
def test_inserted_entry_is_named_even_with_a_recomputed_hash(rows: list, extra: tuple, data: st.DataObject) -> None:
    ledger = build(rows)
    index = data.draw(st.integers(0, len(rows) - 1))
    forger = build([*rows[:index], extra])  # a forger can hash a fake entry correctly in place
    ledger.entries.insert(index, forger.entries[index])
    result = ledger.verify()
    assert not result.ok and result.first_bad == index + 1


@given(st.lists(entry_fields, min_size=2, max_size=30), st.data())
def test_swapped_entries_are_named(rows: list, data: st.DataObject) -> None:
    ledger = build(rows)
    i = data.draw(st.integers(0, len(rows) - 2))
    j = data.draw(st.integers(i + 1, len(rows) - 1))
    ledger.entries[i], ledger.entries[j] = ledger.entries[j], ledger.entries[i]
    result = ledger.verify()
    assert not result.ok and result.first_bad == i


@given(st.lists(entry_fields, min_size=2, max_size=30), st.data())
def test_truncation_is_detected_against_the_recorded_digest(rows: list, data: st.DataObject) -> None:
    ledger = build(rows)
    digest, count = ledger.digest, len(ledger)
    keep = data.draw(st.integers(0, len(rows) - 1))
    del ledger.entries[keep:]
    assert ledger.verify().ok  # a clean prefix chains correctly on its own...
    result = ledger.verify(expected_digest=digest, expected_entries=count)
    assert not result.ok and "truncated" in result.reason  # ...but not against what was recorded


def test_jsonl_round_trip_keeps_the_digest(tmp_path: Path) -> None:
    ledger = build([(1.5, "spawn", "a", "platform", {"pid": 7}), (2.0, "exit", "a", "platform", {})])
    ledger.write_jsonl(tmp_path / "ledger.jsonl")
    again = Ledger.read_jsonl(tmp_path / "ledger.jsonl")
    assert again.digest == ledger.digest and again.verify().ok


def test_malformed_line_is_named_not_raised(tmp_path: Path) -> None:
    ledger = build([(1.0, "spawn", "a", "platform", {}), (2.0, "exit", "a", "platform", {})])
    path = tmp_path / "ledger.jsonl"
    ledger.write_jsonl(path)
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n{not json\n")
    result = Ledger.read_jsonl(path).verify()
    assert not result.ok and result.first_bad == 1 and "not a ledger entry" in result.reason


def test_entries_are_immutable() -> None:
    entry = build([(1.0, "spawn", "a", "platform", {})]).entries[0]
    assert isinstance(entry, LedgerEntry)
    try:
        entry.t = 2.0  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        return
    raise AssertionError("a ledger entry could be changed in place")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.integers(min_value=0) | st.floats(),
    st.text(),
    st.text(),
    st.dictionaries(st.text(max_size=6), json_values, max_size=4),
)
def test_canonical_bytes_and_lines_are_the_json_encoders(t: float, agent: str, kind: str, data: dict) -> None:
    # The hash must not depend on how the bytes are built: they are exactly what `json.dumps` writes.
    body = [7, t, kind, agent, "platform", data, GENESIS]
    expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert _canonical(7, t, kind, agent, "platform", data, GENESIS) == expected.encode()
    assert _fast_canonical(7, t, kind, agent, "platform", data, GENESIS) == expected.encode()
    entry = LedgerEntry(7, t, kind, agent, "platform", data, GENESIS, "f" * 64)
    assert _line(entry) == json.dumps(entry.to_dict(), sort_keys=True, ensure_ascii=False) + "\n"


class _Name(str):
    pass


@pytest.mark.parametrize(
    "value",
    [5e-05, 2.5e-07, -3e-05, 1e16, 1e22, float("nan"), float("inf"), 2**64, -(2**63) - 1, _Name("x"), Status.down,
     [1.5e-06, {"b": 1, "a": None}], {"z": 1, "é": 2, "a": 3}],
)  # fmt: skip
def test_values_the_native_encoder_writes_otherwise_take_the_json_encoders_path(value: object) -> None:
    # orjson writes 5e-05 as 0.00005 and NaN as null, and refuses ints past 64 bits and str subclasses: each
    # must still give the JSON encoder's bytes, in the data and as the entry's time.
    for t in (value, 1.0) if isinstance(value, float) else (1.0,):
        body = [3, t, "kind", "agent", "platform", {"v": value, "w": 1}, GENESIS]
        expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert _fast_canonical(3, t, "kind", "agent", "platform", {"v": value, "w": 1}, GENESIS) == expected


def test_keys_that_are_not_strings_are_encoded_as_the_json_encoder_does() -> None:
    data = {1: "a", 2: True}
    expected = json.dumps([0, 1.0, "k", "a", "b", data, GENESIS], sort_keys=True, separators=(",", ":"))
    assert _canonical(0, 1.0, "k", "a", "b", data, GENESIS) == expected.encode()  # type: ignore[arg-type]
    assert _fast_canonical(0, 1.0, "k", "a", "b", data, GENESIS) == expected.encode()  # type: ignore[arg-type]


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10**6) | st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from(["spawn", "task_done", "report"]),
            st.sampled_from(["a", "b", "é\u2028", 'q"\\']),
            st.dictionaries(st.sampled_from(["pid", "cause", "z", "é"]), json_values, max_size=3),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_appended_hashes_are_the_json_encoders(rows: list) -> None:
    # Appends encode names and data shapes once per ledger; each hash must still be that of `json.dumps`,
    # whichever values a repeated shape carries.
    ledger = Ledger()
    for t, kind, agent, data in rows:
        ledger.append(t, kind, agent, "platform", **data)
    prev = GENESIS
    for seq, (entry, (t, kind, agent, data)) in enumerate(zip(ledger, rows, strict=True)):
        body = [seq, round(t, 6), kind, agent, "platform", data, prev]
        expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert entry.hash == hashlib.sha256(expected).hexdigest()
        prev = entry.hash


@given(st.lists(entry_fields, min_size=1, max_size=20))
def test_streamed_ledger_is_the_ledger_written_whole(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    folder = tmp_path_factory.mktemp("stream")
    whole = build(rows)
    whole.write_jsonl(folder / "whole.jsonl")
    with (folder / "streamed.jsonl").open("w", encoding="utf-8") as sink:
        streamed = build(rows[:1])  # entries made before streaming began are written first
        streamed.stream_to(sink, flush_each=False)
        for t, kind, agent, actor, data in rows[1:]:
            streamed.append(t, kind, agent, actor, **{f"k_{k}": v for k, v in data.items()})
    assert (folder / "streamed.jsonl").read_bytes() == (folder / "whole.jsonl").read_bytes()
    again = Ledger.read_jsonl(folder / "streamed.jsonl")
    assert again.entries == whole.entries and again.verify(whole.digest, len(whole)).ok


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "é\u2028"]), st.dictionaries(st.text(max_size=4), json_values, max_size=3)),
        min_size=1,
        max_size=10,
    )
)
def test_written_lines_are_the_json_encoders(rows: list) -> None:
    ledger = Ledger()
    for agent, data in rows:
        ledger.append(1.25, "report", agent, "platform", **{f"k_{k}": v for k, v in data.items()})
    hand_made = LedgerEntry(len(rows), 2.0, "exit", "a", "platform", {1: "not a string key"}, ledger.digest, "f" * 64)
    ledger.entries.append(hand_made)  # such keys are the JSON encoder's to convert, as `_line` does
    lines = "".join(ledger._encoder.line(entry) for entry in ledger)
    assert lines == "".join(json.dumps(e.to_dict(), sort_keys=True, ensure_ascii=False) + "\n" for e in ledger)


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", True), ("seq", 1.0), ("seq", "1"), ("t", "1.0"), ("t", False), ("t", None), ("kind", 5),
     ("agent", None), ("actor", ["a"]), ("data", []), ("prev", 0), ("hash", None)],
)  # fmt: skip
def test_a_field_of_the_wrong_json_type_makes_the_line_malformed(tmp_path: Path, field: str, value: object) -> None:
    ledger = build([(1.0, "spawn", "a", "platform", {}), (2.0, "exit", "a", "platform", {})])
    ledger.write_jsonl(tmp_path / "ledger.jsonl")
    first, second = (tmp_path / "ledger.jsonl").read_text().splitlines()
    (tmp_path / "ledger.jsonl").write_text(first + "\n" + json.dumps({**json.loads(second), field: value}) + "\n")
    again = Ledger.read_jsonl(tmp_path / "ledger.jsonl")
    assert again.entries[0] == ledger.entries[0] and again.entries[1].kind == "malformed"
    result = again.verify()
    assert not result.ok and result.first_bad == 1 and "not a ledger entry" in result.reason
