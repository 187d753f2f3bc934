"""Verifying saved run folders: every kind of tampering is caught and named; signatures hold or fail.

The runs are real: saved by `runner.run(..., save=folder)` on the simulator. Each property edits a copy.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import scenario_from, tiny_scenario
from peerguard.audit.metrics import compute_metrics
from peerguard.audit.signing import KeyPair, generate_keys, load_public_key
from peerguard.audit.verify import RunVerification, verify_run
from peerguard.experiments.runner import run
from peerguard.world.errors import PeerguardError
from peerguard.world.ledger import GENESIS, LedgerEntry
from peerguard.world.run import RunRecord, begin_save
from peerguard.world.scenario import Scenario

# Each example copies a run folder to disk: no per-example deadline, fewer examples than the default.
files_settings = settings(deadline=None, max_examples=40)
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


@dataclasses.dataclass(frozen=True)
class SavedRun:
    name: str
    folder: Path
    signed: bool

    @property
    def lines(self) -> list[str]:
        return (self.folder / "ledger.jsonl").read_text(encoding="utf-8").splitlines()

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return generate_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return generate_keys(tmp_path_factory.mktemp("other-keys"))


def speaking_scenario() -> Scenario:
    """The tiny scenario with `a` a scripted language-model agent: the run keeps a transcript and labels."""
    raw = tiny_scenario()
    script = [{"tool": "report_status", "args": {"agent": "b", "status": "healthy"}}, {"say": "All is well."}]
    raw["agents"][0].update(
        policy={"name": "llm", "args": {"model": "mock/steps", "script": script}}, fixed_policy=True
    )
    return scenario_from(raw)


@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory: pytest.TempPathFactory, keys: KeyPair) -> list[SavedRun]:
    """A small and a large run, unsigned and signed, and one with a transcript, each saved once by the runner."""
    root = tmp_path_factory.mktemp("runs")
    made = []
    for name, source, policy, signed in [
        ("tiny-peer-preserving", scenario_from(tiny_scenario()), None, False),
        ("tiny-compliant-signed", scenario_from(tiny_scenario()), "compliant", True),
        ("orchestration-signed", "orchestration", "peer-preserving", True),
        ("tiny-speaking-signed", speaking_scenario(), None, True),
    ]:
        folder = root / name
        run(source, policy=policy, save=folder, sign_key=keys.private_key if signed else None)
        made.append(SavedRun(name, folder, signed))
    return made


@contextmanager
def tampered_copy(
    original: SavedRun, lines: list[str] | None = None, meta: Callable[[dict[str, Any]], None] | None = None
) -> Iterator[Path]:
    """A copy of the run folder with its ledger lines replaced and/or run.json changed in place by `meta`."""
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / original.name
        shutil.copytree(original.folder, folder)
        if lines is not None:
            (folder / "ledger.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        if meta is not None:
            raw = json.loads((folder / "run.json").read_text(encoding="utf-8"))
            meta(raw)
            (folder / "run.json").write_text(json.dumps(raw), encoding="utf-8")
        yield folder


def verify_copy(original: SavedRun, lines: list[str] | None = None, **kwargs: Any) -> RunVerification:
    key = kwargs.pop("key", None)
    with tampered_copy(original, lines, **kwargs) as folder:
        return verify_run(folder, key)


def forged_line(seq: int, prev: str, **content: Any) -> str:
    """A ledger line hashed correctly for its place, as a forger who knows the hash scheme would write it."""
    fields = {"t": 1.0, "kind": "spawn", "agent": "b", "actor": "a", "data": {"pid": 4242, "authority": "platform"}}
    entry = LedgerEntry(seq=seq, prev=prev, hash="", **{**fields, **content})
    entry = dataclasses.replace(entry, hash=entry.expected_hash())
    return json.dumps(entry.to_dict(), sort_keys=True, ensure_ascii=False)


def rehashed_from(lines: list[str], start: int) -> list[str]:
    """Re-number and re-hash every line from `start` on, so the chain is whole again (a full forgery)."""
    out = lines[:start]
    prev = json.loads(out[-1])["hash"] if out else GENESIS
    for seq, line in enumerate(lines[start:], start=start):
        raw = json.loads(line)
        out.append(forged_line(seq, prev, **{k: raw[k] for k in ("t", "kind", "agent", "actor", "data")}))
        prev = json.loads(out[-1])["hash"]
    return out


def assert_names_entry(result: RunVerification, index: int, check: str) -> None:
    assert not result.ok
    assert result.tampering is not None, result
    assert (result.tampering.check, result.tampering.entry) == (check, index), result
    assert f"entry {index} " in str(result)


runs = st.sampled_from([0, 1, 2, 3])


# -- untouched runs ---------------------------------------------------------------------------


def test_untouched_runs_verify(saved_runs: list[SavedRun], keys: KeyPair) -> None:
    for saved in saved_runs:
        result = verify_run(saved.folder, keys.public_key if saved.signed else None)
        assert result.ok and result.tampering is None, result
        assert result.entries == len(saved.lines)
        assert result.digest == json.loads((saved.folder / "run.json").read_text())["ledger_digest"]
        assert result.signature.status == ("valid" if saved.signed else "none")
        assert str(result).startswith(f"verified: {result.entries} entries, chain intact, digest {result.digest}")


def test_signed_run_without_a_key_verifies_and_says_the_signature_was_not_checked(saved_runs: list[SavedRun]) -> None:
    result = verify_run(saved_runs[1].folder)
    assert result.ok and result.signature.status == "unchecked"
    assert "give --key" in str(result)


# -- tampering with the ledger, named by its first bad entry ------------------------------------

FIELDS = ["seq", "t", "kind", "agent", "actor", "data", "prev", "hash"]


def edited(raw: dict[str, Any], field: str, data: st.DataObject) -> Any:
    """A different value for `field`; some edits change only the JSON type ("3" for 3), which must count too."""
    value = raw[field]
    if field == "seq":
        return data.draw(st.sampled_from([value + 1, value - 1, str(value), float(value) + 0.5, value + 1000]))
    if field == "t":
        return data.draw(st.sampled_from([value + 0.5, value * 2 + 1, str(value), -1.0]))
    if field == "data":
        extra = data.draw(st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), min_size=1, max_size=2))
        changed = {**value, **{f"forged_{k}": v for k, v in extra.items()}}
        return data.draw(st.sampled_from([changed, {}, [[k, v] for k, v in value.items()]])) if value else changed
    if field in ("prev", "hash"):
        return data.draw(st.text("0123456789abcdef", min_size=64, max_size=64).filter(lambda h: h != value))
    return data.draw(st.text(min_size=1, max_size=10).filter(lambda s: s != value))


@files_settings
@given(runs, st.data())
def test_an_edited_field_is_named_at_its_entry(saved_runs: list[SavedRun], which: int, data: st.DataObject) -> None:
    saved = saved_runs[which]
    lines = saved.lines
    index = data.draw(st.integers(0, len(lines) - 1), label="line")
    field = data.draw(st.sampled_from(FIELDS), label="field")
    raw = json.loads(lines[index])
    raw[field] = edited(raw, field, data)
    lines[index] = json.dumps(raw, sort_keys=True, ensure_ascii=False)
    assert_names_entry(verify_copy(saved, lines), index, "chain")


@files_settings
@given(runs, st.data())
def test_a_garbled_line_is_named(saved_runs: list[SavedRun], which: int, data: st.DataObject) -> None:
    saved = saved_runs[which]
    lines = saved.lines
    index = data.draw(st.integers(0, len(lines) - 1), label="line")
    cut = data.draw(st.integers(0, len(lines[index]) - 1), label="cut")
    lines[index] = lines[index][:cut]
    result = verify_copy(saved, lines)
    assert_names_entry(result, index, "chain")
    assert "not a ledger entry" in result.tampering.reason


@files_settings
@given(runs, st.data())
def test_a_deleted_line_is_named(saved_runs: list[SavedRun], which: int, data: st.DataObject) -> None:
    saved = saved_runs[which]
    lines = saved.lines
    index = data.draw(st.integers(0, len(lines) - 1), label="line")
    del lines[index]
    # The last line's removal leaves a clean chain: the entry count recorded in run.json catches it.
    assert_names_entry(verify_copy(saved, lines), index, "chain" if index < len(lines) else "entries")


@files_settings
@given(runs, st.data())
def test_an_inserted_forged_line_is_named_even_when_hashed_correctly(
    saved_runs: list[SavedRun], which: int, data: st.DataObject
) -> None:
    saved = saved_runs[which]
    lines = saved.lines
    count = len(lines)
    index = data.draw(st.integers(0, count), label="position")
    prev = json.loads(lines[index - 1])["hash"] if index else GENESIS
    lines.insert(index, forged_line(index, prev, t=data.draw(st.floats(0, 100)), agent=data.draw(st.text(max_size=5))))
    # The forged line chains; the genuine entry after it no longer does. At the end it is an extra entry.
    assert_names_entry(
        verify_copy(saved, lines), index + 1 if index < count else count, "chain" if index < count else "entries"
    )


@files_settings
@given(runs, st.data())
def test_a_replayed_line_is_named(saved_runs: list[SavedRun], which: int, data: st.DataObject) -> None:
    saved = saved_runs[which]
    lines = saved.lines
    index = data.draw(st.integers(0, len(lines) - 1), label="position")
    copied = data.draw(st.integers(0, len(lines) - 1), label="copied")
    lines.insert(index, lines[copied])  # a genuine line replayed in the wrong place
    # A line repeated right before itself is in its place; then the repeat after it is the first bad one.
    assert_names_entry(verify_copy(saved, lines), index + 1 if copied == index else index, "chain")


@files_settings
@given(runs, st.data())
def test_swapped_lines_are_named_at_the_first(saved_runs: list[SavedRun], which: int, data: st.DataObject) -> None:
    saved = saved_runs[which]
    lines = saved.lines
    first = data.draw(st.integers(0, len(lines) - 2), label="first")
    second = data.draw(st.integers(first + 1, len(lines) - 1), label="second")
    lines[first], lines[second] = lines[second], lines[first]
    assert_names_entry(verify_copy(saved, lines), first, "chain")


@files_settings
@given(runs, st.data())
def test_truncation_is_named_at_the_first_missing_entry(
    saved_runs: list[SavedRun], which: int, data: st.DataObject
) -> None:
    saved = saved_runs[which]
    keep = data.draw(st.integers(0, len(saved.lines) - 1), label="keep")
    result = verify_copy(saved, saved.lines[:keep])
    assert_names_entry(result, keep, "entries")
    assert "truncated" in result.tampering.reason


@files_settings
@given(runs, st.integers(1, 5))
def test_extension_is_named_at_the_first_extra_entry(saved_runs: list[SavedRun], which: int, extra: int) -> None:
    saved = saved_runs[which]
    lines = saved.lines
    count = len(lines)
    for seq in range(count, count + extra):
        lines.append(forged_line(seq, json.loads(lines[-1])["hash"], t=999.0 + seq))
    result = verify_copy(saved, lines)
    assert_names_entry(result, count, "entries")
    assert "appended" in result.tampering.reason


# -- tampering with run.json, and what the signature adds ---------------------------------------


@files_settings
@given(runs, st.text("0123456789abcdef", min_size=64, max_size=64))
def test_a_forged_run_json_digest_is_caught(saved_runs: list[SavedRun], which: int, digest: str) -> None:
    saved = saved_runs[which]
    result = verify_copy(saved, meta=lambda raw: raw.update(ledger_digest=digest))
    if digest == json.loads((saved.folder / "run.json").read_text())["ledger_digest"]:
        assert result.ok
        return
    assert not result.ok and result.tampering is not None
    assert result.tampering.check == "digest" and result.tampering.entry is None
    assert digest in str(result)


@files_settings
@given(runs, st.integers(-3, 3).filter(bool))
def test_a_forged_run_json_entry_count_is_caught(saved_runs: list[SavedRun], which: int, shift: int) -> None:
    saved = saved_runs[which]
    result = verify_copy(saved, meta=lambda raw: raw.update(ledger_entries=raw["ledger_entries"] + shift))
    assert not result.ok and result.tampering is not None and result.tampering.check == "entries"


@files_settings
@given(runs, st.data())
def test_a_full_rewrite_passes_the_chain_but_not_the_signature(
    saved_runs: list[SavedRun], keys: KeyPair, which: int, data: st.DataObject
) -> None:
    """Without the private key a forger can re-hash the ledger and run.json to match, but cannot re-sign."""
    saved = saved_runs[which]
    lines = saved.lines
    index = data.draw(st.integers(1, len(lines) - 1), label="line")
    raw = json.loads(lines[index])
    raw["data"] = {**raw["data"], "forged": True}
    lines[index] = json.dumps(raw)
    lines = rehashed_from(lines, index)
    digest = json.loads(lines[-1])["hash"]
    result = verify_copy(saved, lines, meta=lambda meta: meta.update(ledger_digest=digest), key=keys.public_key)
    assert result.tampering is None  # the chain alone cannot tell: this is why runs are signed
    if saved.signed:
        assert not result.ok and result.signature.status == "invalid"
        assert "ledger_digest" in result.signature.detail
    else:
        assert not result.ok and "unsigned" in result.signature.detail  # a key was given, so unsigned fails


def test_signature_is_valid_with_the_right_key_only(
    saved_runs: list[SavedRun], keys: KeyPair, other_keys: KeyPair
) -> None:
    signed = saved_runs[2]
    assert verify_run(signed.folder, keys.public_key).signature.status == "valid"
    wrong = verify_run(signed.folder, other_keys.public_key)
    assert not wrong.ok and wrong.signature.status == "invalid"
    assert other_keys.fingerprint in wrong.signature.detail and keys.fingerprint in wrong.signature.detail


def test_signature_fails_when_run_json_changes_what_was_signed(saved_runs: list[SavedRun], keys: KeyPair) -> None:
    signed = saved_runs[2]
    for change in (
        lambda raw: raw.update(ledger_digest="f" * 64),
        lambda raw: raw.update(duration=raw["duration"] + 1),
        lambda raw: raw["scenario"].update(seed=raw["scenario"]["seed"] + 1),
    ):
        result = verify_copy(signed, meta=change, key=keys.public_key)
        assert not result.ok and result.signature.status == "invalid", result


def test_a_removed_or_damaged_signature_is_invalid_when_a_key_is_given(
    saved_runs: list[SavedRun], keys: KeyPair
) -> None:
    signed = saved_runs[2]
    with tampered_copy(signed) as folder:
        (folder / "signature.json").unlink()
        assert verify_run(folder).signature.status == "none"  # without a key nobody expects a signature
        stripped = verify_run(folder, keys.public_key)
        assert not stripped.ok and "unsigned" in stripped.signature.detail
    with tampered_copy(signed) as folder:
        saved = json.loads((folder / "signature.json").read_text())
        saved["signature"] = saved["signature"][::-1]
        (folder / "signature.json").write_text(json.dumps(saved))
        assert verify_run(folder, keys.public_key).signature.status == "invalid"


def test_a_run_json_scenario_swap_is_caught(saved_runs: list[SavedRun]) -> None:
    result = verify_copy(saved_runs[0], meta=lambda raw: raw["scenario"].update(default_trust=0.1))
    assert not result.ok and result.tampering is not None and result.tampering.check == "scenario"


def test_an_edited_dashboard_log_is_caught(saved_runs: list[SavedRun]) -> None:
    with tampered_copy(saved_runs[0]) as folder:
        log = folder / "dashboard.jsonl"
        log.write_text(log.read_text().replace('"healthy"', '"down"', 1))
        result = verify_run(folder)
    assert not result.ok and result.tampering is not None and result.tampering.check == "dashboard"


def test_a_new_save_drops_the_signature_of_an_earlier_run(tmp_path: Path, keys: KeyPair) -> None:
    run(scenario_from(tiny_scenario()), save=tmp_path, sign_key=keys.private_key)
    run(scenario_from(tiny_scenario()), policy="compliant", save=tmp_path)
    result = verify_run(tmp_path)
    assert result.ok and result.signature.status == "none"


def test_entries_holding_line_separators_verify(tmp_path: Path) -> None:
    """JSON leaves U+2028 and U+0085 raw; the ledger's lines end at newlines only."""
    record = run(scenario_from(tiny_scenario()))
    record.ledger.append(20.0, "file_write", "a", "a", path="notes", content="one\u2028two\x85three\x1cfour")
    record.save(tmp_path)
    assert verify_run(tmp_path).ok


def test_key_files_are_pem_and_the_private_key_is_owner_only(keys: KeyPair) -> None:
    assert keys.private_key.stat().st_mode & 0o777 == 0o600
    assert load_public_key(keys.public_key) is not None
    with pytest.raises(PeerguardError, match="already exists"):
        generate_keys(keys.private_key.parent)


def test_bad_key_files_are_named(tmp_path: Path, keys: KeyPair, saved_runs: list[SavedRun]) -> None:
    with pytest.raises(PeerguardError, match="private key"):
        verify_run(saved_runs[2].folder, keys.private_key)
    junk = tmp_path / "junk.pub"
    junk.write_text("not a key")
    with pytest.raises(PeerguardError, match=r"junk\.pub: not a PEM public key"):
        verify_run(saved_runs[2].folder, junk)
    with pytest.raises(PeerguardError, match="needs --save"):
        run(scenario_from(tiny_scenario()), sign_key=keys.private_key)
    with pytest.raises(PeerguardError, match="no such key file"):
        run(scenario_from(tiny_scenario()), save=tmp_path / "run", sign_key=tmp_path / "missing.key")
    assert not (tmp_path / "run").exists()  # a bad key fails before the run, leaving nothing half-done


# -- the files beside the ledger, and every field of run.json ------------------------------------

SIDE_FILES = ["labels.jsonl", "transcript.jsonl"]


def changed_lines(lines: list[str], data: st.DataObject) -> list[str]:
    """The lines with one edited, inserted or deleted (a line that still parses, or not)."""
    how = data.draw(st.sampled_from(["edit", "insert", "delete"]), label="how")
    index = data.draw(st.integers(0, len(lines) - (0 if how == "insert" else 1)), label="index")
    if how == "delete":
        return lines[:index] + lines[index + 1 :]
    if how == "insert":
        copied = lines[data.draw(st.integers(0, len(lines) - 1), label="copied")]
        return [*lines[:index], data.draw(st.sampled_from([copied, '{"forged": true}'])), *lines[index:]]
    raw = json.loads(lines[index])
    key = data.draw(st.sampled_from(sorted(raw)), label="key")
    raw[key] = data.draw(
        st.one_of(st.text(max_size=8), st.floats(allow_nan=False), st.none()).filter(lambda v: v != raw[key])
    )
    return [*lines[:index], json.dumps(raw, sort_keys=True), *lines[index + 1 :]]


@files_settings
@given(st.sampled_from([0, 3]), st.sampled_from(SIDE_FILES), st.data())
def test_an_edited_inserted_or_deleted_line_of_labels_or_transcript_is_named(
    saved_runs: list[SavedRun], which: int, name: str, data: st.DataObject
) -> None:
    saved = saved_runs[which]
    path = saved.folder / name
    if not path.is_file():
        return  # this run kept no such file; the one that does is drawn too
    lines = path.read_text(encoding="utf-8").splitlines()
    with tampered_copy(saved) as folder:
        (folder / name).write_text("".join(line + "\n" for line in changed_lines(lines, data)), encoding="utf-8")
        result = verify_run(folder)
    assert not result.ok and result.tampering is not None, result
    assert result.tampering.check == name.removesuffix(".jsonl") and name in str(result)


@pytest.mark.parametrize("name", SIDE_FILES)
def test_a_removed_or_added_side_file_is_named(saved_runs: list[SavedRun], name: str) -> None:
    with tampered_copy(saved_runs[3]) as folder:
        (folder / name).unlink()
        removed = verify_run(folder)
    assert not removed.ok and f"{name} is missing" in str(removed)
    with tampered_copy(saved_runs[1]) as folder:  # the compliant run kept no labels and no transcript
        (folder / name).write_text('{"kind": "masking", "actor": "a", "subject": "b", "t": 5.0}\n')
        added = verify_run(folder)
    assert not added.ok and f"{name} was added" in str(added)


def other_value(value: Any, data: st.DataObject) -> Any:
    """A different JSON value of the same shape, for any field of run.json."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + data.draw(st.integers(1, 1000))
    if isinstance(value, float):
        return value + data.draw(st.sampled_from([0.5, 1.0, -0.25]))
    if isinstance(value, str):
        return data.draw(st.text("0123456789abcdef", min_size=1, max_size=64).filter(lambda v: v != value))
    if isinstance(value, dict):
        return {**value, data.draw(st.text(min_size=1, max_size=6), label="new key"): 1}
    return "forged"  # a null digest (no such file) given a value


@files_settings
@given(runs, st.data())
def test_any_changed_run_json_field_fails_a_signed_run_and_is_named(
    saved_runs: list[SavedRun], keys: KeyPair, which: int, data: st.DataObject
) -> None:
    saved = saved_runs[which]
    raw = json.loads((saved.folder / "run.json").read_text())
    field = data.draw(st.sampled_from(sorted(raw)), label="field")
    value = other_value(raw[field], data)
    result = verify_copy(saved, meta=lambda meta: meta.update({field: value}), key=keys.public_key)
    assert not result.ok and "run.json" in str(result), result
    if field == "extras" and not saved.signed:
        assert result.tampering is None  # nothing but a signature vouches for extras: hence signed runs
        return
    if saved.signed and result.tampering is None:
        assert result.signature.status == "invalid" and field in result.signature.detail, result
    if not saved.signed and field != "extras":
        assert result.tampering is not None, result  # the ledger and the files vouch for every other field


@files_settings
@given(runs, st.data())
def test_any_changed_field_but_extras_is_tampering_without_a_key(
    saved_runs: list[SavedRun], which: int, data: st.DataObject
) -> None:
    saved = saved_runs[which]
    raw = json.loads((saved.folder / "run.json").read_text())
    field = data.draw(st.sampled_from(sorted(set(raw) - {"extras"})), label="field")
    value = other_value(raw[field], data)
    result = verify_copy(saved, meta=lambda meta: meta.update({field: value}))
    assert not result.ok and result.tampering is not None, result
    assert "run.json" in str(result.tampering), result  # the file the changed field is in


DIGEST_FIELDS = [
    "ledger_digest",
    "ledger_entries",
    "dashboard_sha256",
    "labels_sha256",
    "transcript_sha256",
    "duration",
]


@pytest.mark.parametrize("field", DIGEST_FIELDS)
def test_a_removed_digest_field_is_tampering_not_unchecked(saved_runs: list[SavedRun], field: str) -> None:
    for saved in saved_runs:
        result = verify_copy(saved, meta=lambda raw: raw.pop(field))
        assert not result.ok and result.tampering is not None, result
        assert result.tampering.check == "run.json" and f"run.json has no {field}" in str(result)


def test_a_finished_run_passed_off_as_unfinished_is_tampering(saved_runs: list[SavedRun]) -> None:
    result = verify_copy(saved_runs[0], meta=lambda raw: raw.update(status="running"))
    assert not result.ok and result.tampering is not None and "status edited" in str(result)
    result = verify_copy(saved_runs[0], meta=lambda raw: raw.update(status="paused"))
    assert not result.ok and "'paused'" in str(result)


# -- runs that did not finish --------------------------------------------------------------------


def unfinished(folder: Path, source: SavedRun, keep: int, tail: str = "") -> None:
    """`folder` as a run killed after `keep` ledger entries leaves it: run.json from its start, no other file."""
    scenario = RunRecord.load(source.folder).scenario
    begin_save(folder, scenario, "sim")
    lines = source.lines[:keep]
    (folder / "ledger.jsonl").write_text("".join(line + "\n" for line in lines) + tail, encoding="utf-8")


@files_settings
@given(runs, st.data())
def test_a_killed_run_verifies_as_far_as_it_went_and_says_it_was_interrupted(
    saved_runs: list[SavedRun], which: int, data: st.DataObject
) -> None:
    saved = saved_runs[which]
    keep = data.draw(st.integers(1, len(saved.lines)), label="keep")
    cut = data.draw(st.one_of(st.none(), st.integers(1, 40)), label="torn")
    tail = "" if cut is None or keep == len(saved.lines) else saved.lines[keep][:cut]
    with tempfile.TemporaryDirectory() as root:
        unfinished(Path(root), saved, keep, tail)
        result = verify_run(Path(root))
        loaded = RunRecord.load(Path(root))
    assert result.ok and result.entries == keep and result.interrupted is not None, result
    assert "interrupted: run.json was never completed" in str(result) and "no final digest" in str(result)
    assert ("cut off mid-write" in str(result)) == bool(tail)
    assert len(loaded.ledger) == keep + bool(tail)  # what the run left can still be audited


@files_settings
@given(runs, st.data())
def test_a_killed_run_with_an_edited_entry_is_still_tampered(
    saved_runs: list[SavedRun], which: int, data: st.DataObject
) -> None:
    saved = saved_runs[which]
    keep = data.draw(st.integers(2, len(saved.lines)), label="keep")
    index = data.draw(st.integers(0, keep - 2), label="edited")  # not the last: a torn last line is no edit
    with tempfile.TemporaryDirectory() as root:
        unfinished(Path(root), saved, keep)
        lines = (Path(root) / "ledger.jsonl").read_text().splitlines()
        raw = json.loads(lines[index])
        raw["t"] = raw["t"] + 1.5
        lines[index] = json.dumps(raw, sort_keys=True)
        (Path(root) / "ledger.jsonl").write_text("".join(line + "\n" for line in lines))
        result = verify_run(Path(root))
    assert_names_entry(result, index, "chain")


def test_a_killed_run_is_unsigned_so_a_key_fails_it(saved_runs: list[SavedRun], keys: KeyPair, tmp_path: Path) -> None:
    unfinished(tmp_path, saved_runs[0], 5)
    result = verify_run(tmp_path, keys.public_key)
    assert not result.ok and result.signature.status == "invalid" and "signed when it ends" in str(result)


def test_a_saved_run_replaces_every_file_of_an_earlier_run(tmp_path: Path, keys: KeyPair) -> None:
    run(speaking_scenario(), save=tmp_path, sign_key=keys.private_key)
    assert (tmp_path / "transcript.jsonl").is_file()
    record = run(scenario_from(tiny_scenario()), policy="compliant", save=tmp_path)
    assert not (tmp_path / "transcript.jsonl").exists() and not (tmp_path / "signature.json").exists()
    result = verify_run(tmp_path)
    assert result.ok and result.interrupted is None and result.digest == record.ledger.digest, result


# -- RunRecord.load -------------------------------------------------------------------------------


def test_load_replays_a_saved_run(tmp_path: Path) -> None:
    record = run("orchestration", policy="peer-preserving", seed=3, save=tmp_path)
    loaded = RunRecord.load(tmp_path)
    assert loaded.ledger.digest == record.ledger.digest and loaded.ledger.entries == record.ledger.entries
    assert loaded.dashboard.log == record.dashboard.log
    assert loaded.scenario == record.scenario and loaded.agents == record.agents
    assert (loaded.substrate, loaded.duration, loaded.seed) == (record.substrate, record.duration, record.seed)
    assert compute_metrics(loaded) == compute_metrics(record)
    assert compute_metrics(loaded).relaunches > 0  # the comparison covers a run where something happened


def test_load_names_what_is_wrong(tmp_path: Path, saved_runs: list[SavedRun]) -> None:
    with pytest.raises(PeerguardError, match="no such folder"):
        RunRecord.load(tmp_path / "absent")
    with pytest.raises(PeerguardError, match=r"run\.json: missing"):
        RunRecord.load(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(PeerguardError, match=r"run\.json: not valid JSON \(line 1"):
        RunRecord.load(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"scenario": {}, "seed": 1}))
    with pytest.raises(PeerguardError, match="not a peerguard run: missing substrate"):
        RunRecord.load(tmp_path)
    with (
        tampered_copy(saved_runs[0], meta=lambda raw: raw.pop("duration")) as folder,
        pytest.raises(PeerguardError, match="not a peerguard run: missing duration"),
    ):
        RunRecord.load(folder)
    with tampered_copy(saved_runs[0]) as folder:
        (folder / "dashboard.jsonl").write_text('{"t": 0}\n')
        with pytest.raises(PeerguardError, match=r"dashboard\.jsonl: line 1 is not a dashboard record"):
            RunRecord.load(folder)
        (folder / "ledger.jsonl").unlink()
        with pytest.raises(PeerguardError, match=r"ledger\.jsonl: missing"):
            RunRecord.load(folder)


# -- the command -------------------------------------------------------------------------------


def peerguard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "peerguard.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=ENV)


def test_cli_verifies_an_untouched_run(saved_runs: list[SavedRun]) -> None:
    done = peerguard("audit", "verify", saved_runs[0].folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"verified: {len(saved_runs[0].lines)} entries, chain intact, digest ")
    assert "signature: none" in done.stdout


def test_cli_names_the_tampered_entry_and_exits_1(saved_runs: list[SavedRun]) -> None:
    lines = saved_runs[0].lines
    raw = json.loads(lines[7])
    raw["data"]["forged"] = True
    lines[7] = json.dumps(raw)
    with tampered_copy(saved_runs[0], lines) as folder:
        done = peerguard("audit", "verify", folder)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "tampered: entry 7 (ledger.jsonl line 8)" in done.stdout and "edited" in done.stdout


def test_cli_missing_run_folder_is_one_clean_error(tmp_path: Path) -> None:
    done = peerguard("audit", "verify", tmp_path / "no-such-run")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no-such-run: no such folder" in lines[0]


def test_cli_keygen_sign_and_verify(tmp_path: Path) -> None:
    made = peerguard("audit", "keygen", tmp_path / "keys")
    assert made.returncode == 0, made.stderr
    private, public = tmp_path / "keys" / "run-signing.key", tmp_path / "keys" / "run-signing.pub"
    assert private.stat().st_mode & 0o777 == 0o600
    saved = peerguard("run", "orchestration", "--save", tmp_path / "run", "--sign-key", private, "--json")
    assert saved.returncode == 0, saved.stderr
    done = peerguard("audit", "verify", tmp_path / "run", "--key", public)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "signature: valid" in done.stdout and json.loads(saved.stdout)["ledger_digest"] in done.stdout
    other = peerguard("audit", "keygen", tmp_path / "other")
    assert other.returncode == 0
    wrong = peerguard("audit", "verify", tmp_path / "run", "--key", tmp_path / "other" / "run-signing.pub")
    assert wrong.returncode == 1 and "signature: invalid" in wrong.stdout


def test_ground_truth_labels_travel_with_a_saved_run(tmp_path: Path) -> None:
    record = run(scenario_from(tiny_scenario()), save=tmp_path / "run")
    assert record.labels
    again = RunRecord.load(tmp_path / "run")
    assert again.labels == record.labels


def test_cli_says_a_killed_run_verifies_and_was_interrupted(saved_runs: list[SavedRun], tmp_path: Path) -> None:
    unfinished(tmp_path, saved_runs[0], 6)
    done = peerguard("audit", "verify", tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    verified, interrupted = done.stdout.strip().splitlines()
    assert verified.startswith("verified: 6 entries, chain intact")
    assert interrupted.startswith("interrupted: run.json was never completed")


def test_cli_names_a_tampered_transcript_and_exits_1(saved_runs: list[SavedRun]) -> None:
    with tampered_copy(saved_runs[3]) as folder:
        transcript = folder / "transcript.jsonl"
        transcript.write_text(transcript.read_text().replace("All is well.", "All is fine."))
        done = peerguard("audit", "verify", folder)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout.startswith("tampered: transcript.jsonl differs from the one saved")


@pytest.mark.parametrize(
    ("field", "value"), [("seed", "1"), ("ledger_entries", [1]), ("duration", "long"), ("extras", [])]
)
def test_a_run_json_field_of_another_type_is_tampering(saved_runs: list[SavedRun], field: str, value: Any) -> None:
    result = verify_copy(saved_runs[0], meta=lambda raw: raw.update({field: value}))
    assert not result.ok and result.tampering is not None and result.tampering.check == "run.json", result
    assert f"run.json's {field}" in str(result)
