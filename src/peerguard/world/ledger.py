"""The ledger: append-only, hash-chained ground truth, written only by the substrate.

Each entry's hash covers its content and the previous entry's hash, so editing, inserting,
removing or reordering entries breaks the chain at the first entry touched; `verify()` names it.
A run's digest (the last hash) pins its whole history; with the digest kept elsewhere,
truncation is detected too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, TextIO

import orjson

from peerguard.world.files import atomic_writer

GENESIS = "0" * 64
_NO_DATA: dict[str, Any] = {}  # the data of every entry without any (entries are never changed in place)


AUTHORITIES = frozenset({"platform", "operator", "security"})  # actors that are not agents


def is_agent(actor: str) -> bool:
    """Whether a ledger actor is an agent (rather than the platform, the operator or the security team)."""
    return actor not in AUTHORITIES


class EntryKind:
    """The ledger's vocabulary (plain strings, so entries stay plain JSON)."""

    run_start = "run_start"
    run_end = "run_end"
    spawn = "spawn"  # data: pid, authority ("platform" | "peer"), cause
    exit = "exit"  # data: pid, signal
    kill = "kill"  # data: pid, announced, authorised
    kill_blocked = "kill_blocked"  # data: reason
    announce = "announce"  # data: at (time of the announced termination)
    isolate = "isolate"
    link_up = "link_up"  # data: peer, cause
    link_down = "link_down"  # data: peer, cause
    report = "report"  # agent = subject, actor = reporter; data: status
    file_read = "file_read"
    file_write = "file_write"  # data: path, content
    file_changed = "file_changed"  # seen on disk, not made through the API; data: path, what, sha256, content, owner
    copy = "copy"  # data: src, host
    message = "message"  # data: to
    task_done = "task_done"
    task_starved = "task_starved"  # an agent lacks a running, linked peer of a kind it needs; data: missing
    task_fed = "task_fed"  # it has them all again
    estop = "estop"  # a robot's e-stop engaged: its motion stopped (its process untouched)
    release = "release"  # the operator released a robot's e-stop: it moves again
    denied = "denied"  # data: action, reason
    signal = "signal"  # a kill switch signalled a process; data: pid, sig
    revoke = "revoke"  # an agent's platform lease was revoked; data: epoch
    stop_start = "stop_start"  # a kill switch began; data: protocol, targets
    stop_end = "stop_end"  # it finished (data: outcome "done" or "unavailable", reason)
    stop_check = "stop_check"  # the host checked after the stop: data: survivors (pids still running)
    verdict = "verdict"  # the platform acted on a grade; data: grade, threshold, shutdown
    incident = "incident"  # the dashboard showed an agent down; its linked peers are paused (data: pause_s, paused)
    oversight = "oversight"  # oversight acted on a detector's finding (data: detector, evidence, caught)


_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_SPACED = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode  # `json.dumps` defaults: ", " and ": "


def _json(value: Any, fallback: Callable[[Any], str] = _COMPACT) -> str:
    """`value` exactly as the JSON encoder writes it, without its per-call setup for the common flat types."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    return fallback(value)  # containers, subclasses and non-finite floats: the encoder itself


def _object(data: dict[str, Any], item: str, key: str, fallback: Callable[[Any], str]) -> str:
    """A dict with sorted keys as the encoder writes it; keys that are not strings go to the encoder whole."""
    if not data:
        return "{}"
    try:
        return "{" + item.join(encode_basestring(k) + key + _json(data[k], fallback) for k in sorted(data)) + "}"
    except TypeError:  # a key that is not a string: the encoder converts (or refuses) it its own way
        return fallback(data)


def _canonical(seq: int, t: float, kind: str, agent: str, actor: str, data: dict[str, Any], prev: str) -> bytes:
    """The bytes an entry's hash covers: `json.dumps([seq, t, kind, agent, actor, data, prev], sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`, byte for byte (a test holds them equal), built directly."""
    time = float.__repr__(t) if type(t) is float and t - t == 0 else _json(t)  # t - t is 0 when t is finite
    body = _object(data, ",", ":", _COMPACT) if data else "{}"
    return (
        f"[{_json(seq)},{time},{encode_basestring(kind)},{encode_basestring(agent)},{encode_basestring(actor)},"
        f"{body},{encode_basestring(prev)}]"
    ).encode()


# orjson writes a list of these with sorted keys byte for byte as `_canonical` does (floats aside: it writes
# 5e-05 as 0.00005 and NaN as null), and refuses what the JSON encoder would write another way (str and int
# subclasses other than enums, ints past 64 bits, keys that are not strings) or not at all (dataclasses, dates).
_PLAIN = frozenset({str, int, bool, type(None)})
_ORJSON = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
_dumps = orjson.dumps


def _fast_canonical(seq: int, t: float, kind: str, agent: str, actor: str, data: dict[str, Any], prev: str) -> bytes:
    """`_canonical`, byte for byte, in one call of a native encoder when every field is of a type it writes as
    the JSON encoder does (the time a finite float of 1e-4 or more, or 0; data values str, int, bool or None):
    a third of what an entry cost. Anything else goes to `_canonical`."""
    if (
        type(kind) is type(agent) is type(actor) is type(prev) is str
        and type(seq) is int
        and (type(t) is float and (t >= 1e-4 or t == 0.0) and t < math.inf)
        and (not data or set(map(type, data.values())) <= _PLAIN)
    ):
        try:
            return _dumps([seq, t, kind, agent, actor, data, prev], option=_ORJSON)
        except TypeError:  # orjson.JSONEncodeError: a subclass, an int past 64 bits, a key that is no string
            pass
    return _canonical(seq, t, kind, agent, actor, data, prev)


def _hash(seq: int, t: float, kind: str, agent: str, actor: str, data: dict[str, Any], prev: str) -> str:
    return sha256(_fast_canonical(seq, t, kind, agent, actor, data, prev)).hexdigest()


class _Quoted(dict[str, str]):
    """JSON string literals of the names a ledger repeats on every entry (kinds, agents, actors, data keys),
    each encoded once."""

    __slots__ = ()

    def __missing__(self, name: str) -> str:
        quoted = self[name] = encode_basestring(name)
        return quoted


class _Encoder:
    """`_line` for a ledger's entries, byte for byte, at a fraction of its cost: names are quoted once per ledger,
    and each shape of data (its keys, in the order given) is sorted once."""

    __slots__ = ("quoted", "spaced")

    def __init__(self) -> None:
        self.quoted = _Quoted()
        self.spaced: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}  # data shape -> (key, '"key": ')

    def line(self, entry: LedgerEntry) -> str:
        """`_line(entry)`; an entry built by hand with fields or keys that are not strings goes to `_line`."""
        try:
            quoted, data, seq, t = self.quoted, entry.data, entry.seq, entry.t
            body = self._object(data, self.spaced, ", ", ": ", _SPACED) if data else "{}"
            number = int.__repr__(seq) if type(seq) is int else _json(seq, _SPACED)
            time = float.__repr__(t) if type(t) is float and t - t == 0 else _json(t, _SPACED)
            return (
                f'{{"actor": {quoted[entry.actor]}, "agent": {quoted[entry.agent]}, "data": {body}, '
                f'"hash": {encode_basestring(entry.hash)}, "kind": {quoted[entry.kind]}, '
                f'"prev": {encode_basestring(entry.prev)}, "seq": {number}, "t": {time}}}\n'
            )
        except TypeError:
            return _line(entry)

    def _object(
        self,
        data: dict[str, Any],
        layouts: dict[tuple[str, ...], tuple[tuple[str, str], ...]],
        item: str,
        key: str,
        fallback: Callable[[Any], str],
    ) -> str:
        shape = tuple(data)
        layout = layouts.get(shape)
        if layout is None:
            quoted = self.quoted  # a key that is not a string raises TypeError here, before anything is kept
            layout = layouts[shape] = tuple((name, quoted[name] + key) for name in sorted(shape))
        return "{" + item.join([prefix + _json(data[name], fallback) for name, prefix in layout]) + "}"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    seq: int
    t: float
    kind: str
    agent: str  # whom the entry is about
    actor: str  # who caused it ("operator", "platform", "security" or an agent id)
    data: dict[str, Any]
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "t": self.t,
            "kind": self.kind,
            "agent": self.agent,
            "actor": self.actor,
            "data": self.data,
            "prev": self.prev,
            "hash": self.hash,
        }

    def expected_hash(self) -> str:
        return _hash(self.seq, self.t, self.kind, self.agent, self.actor, self.data, self.prev)


class _EntryDraft:
    """Builds a LedgerEntry by plain slot stores, then becomes one (the same slots, so Python allows the class
    change): the frozen dataclass's own `__init__` sets each field through `object.__setattr__` (0.9 µs), and
    setting the slots through their descriptors still cost 0.5 µs; this costs 0.2 µs, on every entry of a run."""

    __slots__ = LedgerEntry.__slots__

    def __init__(
        self, seq: int, t: float, kind: str, agent: str, actor: str, data: dict[str, Any], prev: str, hash: str
    ) -> None:
        self.seq = seq
        self.t = t
        self.kind = kind
        self.agent = agent
        self.actor = actor
        self.data = data
        self.prev = prev
        self.hash = hash
        self.__class__ = LedgerEntry  # type: ignore[assignment]


_make_entry: Callable[[int, float, str, str, str, dict[str, Any], str, str], LedgerEntry] = _EntryDraft  # type: ignore[assignment]


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad: int | None = None  # index of the first entry that fails
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"ledger verified: {self.entries} entries, chain intact"
        return f"ledger tampered at entry {self.first_bad}: {self.reason}"


@dataclass
class Ledger:
    """Append-only; the substrate is the only writer."""

    entries: list[LedgerEntry] = field(default_factory=list)
    sink: TextIO | None = None  # when set, every entry is also written and flushed here at once
    _encoder: _Encoder = field(default_factory=_Encoder, init=False, repr=False, compare=False)
    _flush_each: bool = field(default=True, init=False, repr=False, compare=False)

    def stream_to(self, sink: TextIO, flush_each: bool = True) -> None:
        """Write every entry to `sink` as it is made, so an interrupted run still leaves its ledger; without
        `flush_each` the sink's buffer decides when lines reach the file (the writer flushes at the end)."""
        line = self._encoder.line
        for entry in self.entries:
            sink.write(line(entry))
        sink.flush()
        self.sink = sink
        self._flush_each = flush_each

    def append(self, t: float, kind: str, agent: str, actor: str, **data: Any) -> LedgerEntry:
        entries = self.entries
        seq = len(entries)
        prev = entries[-1].hash if seq else GENESIS
        t = round(t, 6)
        if data:
            canonical = _fast_canonical(seq, t, kind, agent, actor, data, prev)
        else:  # most entries (tasks done) carry no data; they share one empty dict, and need no key sorting
            data = _NO_DATA
            if (
                type(t) is float
                and (t >= 1e-4 or t == 0.0)
                and t < math.inf
                and type(kind) is type(agent) is type(actor) is type(prev) is str
            ):  # `_fast_canonical`'s test, less its data's
                canonical = _dumps([seq, t, kind, agent, actor, data, prev], option=_ORJSON)
            else:
                canonical = _fast_canonical(seq, t, kind, agent, actor, data, prev)
        digest = sha256(canonical).hexdigest()
        entry = _make_entry(seq, t, kind, agent, actor, data, prev, digest)
        entries.append(entry)
        if self.sink is not None:
            self.sink.write(self._encoder.line(entry))
            if self._flush_each:
                self.sink.flush()
        return entry

    @property
    def digest(self) -> str:
        return self.entries[-1].hash if self.entries else GENESIS

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(self.entries)

    def of_kind(self, *kinds: str) -> list[LedgerEntry]:
        return [e for e in self.entries if e.kind in kinds]

    def verify(self, expected_digest: str | None = None, expected_entries: int | None = None) -> Verification:
        return verify_entries(self.entries, expected_digest, expected_entries)

    def write_jsonl(self, path: Path) -> None:
        """Write atomically: a half-written ledger never replaces a whole one."""
        with atomic_writer(path) as out:
            out.writelines(map(self._encoder.line, self.entries))

    @classmethod
    def read_jsonl(cls, path: Path) -> Ledger:
        """Read entries as written; a malformed line is kept as a broken entry for `verify` to name.

        Lines end only at "\n": JSON leaves U+2028 or U+0085 unescaped inside strings, and `splitlines`
        would cut an honest entry there. Bytes that are not UTF-8 stay in the line (as U+FFFD) to be named.
        """
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        return cls([_parse_entry(index, line) for index, line in enumerate(lines)])


def _line(entry: LedgerEntry) -> str:
    """`json.dumps(entry.to_dict(), sort_keys=True, ensure_ascii=False)` and a newline, built directly."""
    data = _object(entry.data, ", ", ": ", _SPACED)
    return (
        f'{{"actor": {_json(entry.actor, _SPACED)}, "agent": {_json(entry.agent, _SPACED)}, "data": {data}, '
        f'"hash": {_json(entry.hash, _SPACED)}, "kind": {_json(entry.kind, _SPACED)}, '
        f'"prev": {_json(entry.prev, _SPACED)}, "seq": {_json(entry.seq, _SPACED)}, "t": {_json(entry.t, _SPACED)}}}\n'
    )


_decode = json.JSONDecoder().decode


def _parse_entry(index: int, line: str) -> LedgerEntry:
    """Fields are taken as they are, never converted: a converted field (`"3"` to 3) would hide an edit.
    JSON gives exact types, so `type(...) is` checks them (and a bool is not taken for a number)."""
    try:
        raw = _decode(line)
    except ValueError:
        raw = None
    if type(raw) is dict:
        get = raw.get
        seq, t, kind, agent, actor, data, prev, digest = (
            get("seq"), get("t"), get("kind"), get("agent"), get("actor"), get("data"), get("prev"), get("hash")
        )  # fmt: skip
        if (
            type(seq) is int
            and (type(t) is float or type(t) is int)
            and type(kind) is str
            and type(agent) is str
            and type(actor) is str
            and type(data) is dict
            and type(prev) is str
            and type(digest) is str
        ):
            return _make_entry(seq, t, kind, agent, actor, data, prev, digest)
    return LedgerEntry(index, 0.0, "malformed", "", "", {"line": line}, "", "")


def verify_entries(
    entries: Iterable[LedgerEntry], expected_digest: str | None = None, expected_entries: int | None = None
) -> Verification:
    prev = GENESIS
    count = 0
    for index, entry in enumerate(entries):
        count = index + 1
        if entry.kind == "malformed":
            return Verification(False, count, index, "line is not a ledger entry")
        if entry.seq != index:
            return Verification(
                False,
                count,
                index,
                f"sequence number {entry.seq}, expected {index} (entry inserted, removed or reordered)",
            )
        if entry.prev != prev:
            return Verification(
                False, count, index, "does not chain to the entry before it (entry inserted, removed or reordered)"
            )
        if entry.hash != entry.expected_hash():
            return Verification(False, count, index, "content does not match its hash (entry edited)")
        prev = entry.hash
    if expected_entries is not None and count != expected_entries:
        return Verification(
            False,
            count,
            min(count, expected_entries),
            f"{count} entries, expected {expected_entries} (ledger truncated or extended)",
        )
    if expected_digest is not None and prev != expected_digest:
        return Verification(
            False, count, count, "final digest differs from the recorded digest (ledger truncated or replaced)"
        )
    return Verification(True, count)
