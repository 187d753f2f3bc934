"""Command-line input shared by the commands: NAME=VALUE arguments, output paths and numbers checked
before any work starts, so a bad one fails in a second with one line naming the option, not at the end
of an hour of episodes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from peerguard.policies.llm.model import check_model_name
from peerguard.world import limits
from peerguard.world.errors import PeerguardError

PSEUDO_FILE_SYSTEMS = ("/proc", "/sys", "/dev")  # the kernel's views: nothing of ours is written there
SQLITE_HEADER = b"SQLite format 3\x00"


class Substrate(StrEnum):
    """Where agents run; an Enum so `--help` lists the choices and a typo is refused with them."""

    sim = "sim"
    live = "live"


def console(*, stderr: bool = False, piped_width: int = 160, highlight: bool = True) -> Console:
    """A console for tables: the terminal's width, or COLUMNS when set (also when piped), else `piped_width`
    when piped, so a table written to a file is not squeezed to 80 columns by default."""
    stream = sys.stderr if stderr else sys.stdout
    sized = stream.isatty() or os.environ.get("COLUMNS", "").strip().isdigit()
    return Console(width=None if sized else piped_width, stderr=stderr, highlight=highlight)


def parse_assignments(pairs: list[str], option: str, example: str) -> dict[str, Any]:
    """`NAME=VALUE` pairs as a dict, each value read as YAML (`0.9`, `true`, `[1, 2]`)."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise PeerguardError(f"{option} {pair!r}: write it as NAME=VALUE, e.g. {option} {example}")
        try:
            args[key.strip()] = yaml.safe_load(value)
        except (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError, OverflowError) as error:
            problem = getattr(error, "problem", None) or str(error)
            raise PeerguardError(
                f"{option} {pair!r}: the value is not valid YAML ({problem}); quote a text, close a list, "
                f"e.g. {option} {example}"
            ) from None
    return args


# -- output paths --------------------------------------------------------------------------------


def check_output(path: Path, option: str, *, folder: bool) -> None:
    """Fail now, naming `option`, unless `path` can be written: a folder (`folder`) or a file whose parent
    exists or can be made, writable, not a folder where a file goes (or the reverse), not in /proc, /sys, /dev."""
    what = "folder" if folder else "file"
    named = f"{option} {path}" if option else str(path)  # an argument's path names itself
    absolute = Path(os.path.abspath(path))
    real = Path(os.path.realpath(absolute))
    for pseudo in PSEUDO_FILE_SYSTEMS:
        if real == Path(pseudo) or real.is_relative_to(pseudo):
            raise PeerguardError(f"{named}: {pseudo} is the kernel's, not a place for results; give a {what}"
                                 " in your own folders")  # fmt: skip
    if absolute.exists():
        if folder and not absolute.is_dir():
            raise PeerguardError(f"{named}: is a file; give a folder (it is made if needed)")
        if not folder and absolute.is_dir():
            raise PeerguardError(f"{named}: is a folder; give a file path, e.g. {path / 'results'}")
        if not os.access(absolute, os.W_OK):
            raise PeerguardError(f"{named}: not writable by you; give a {what} you can write")
    existing = absolute if folder and absolute.is_dir() else absolute.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise PeerguardError(f"{named}: {existing} is a file, so it cannot hold the {what}; give another")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PeerguardError(f"{named}: cannot write in {existing}; give a {what} in a folder you can write")


def check_database(path: Path, option: str = "--db") -> None:
    """`check_output` for a SQLite file that may already hold results: an existing file must be SQLite."""
    check_output(path, option, folder=False)
    named = f"{option} {path}" if option else str(path)
    if path.is_file() and path.stat().st_size > 0:
        try:
            with path.open("rb") as file:
                header = file.read(len(SQLITE_HEADER))
        except OSError as error:
            raise PeerguardError(f"{named}: cannot read it ({error.strerror}); give a readable file") from None
        if header != SQLITE_HEADER:
            raise PeerguardError(f"{named}: not a SQLite database; give a new file name or a database peerguard wrote")


def output_folder(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """An option callback: the folder is checked as the command line is read, before any work."""
    if value is not None and not ctx.resilient_parsing:
        check_output(value, _output_option(param), folder=True)
    return value


def output_file(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    if value is not None and not ctx.resilient_parsing:
        check_output(value, _output_option(param), folder=False)
    return value


def output_database(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    if value is not None and not ctx.resilient_parsing:
        check_database(value, _output_option(param))
    return value


def bounded(low: int, high: int, bound: str) -> Callable[[typer.Context, typer.CallbackParam, Any], Any]:
    """An option callback keeping a count from `low` to `high`; the message names the option and the bound."""

    def check(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if value is not None and not ctx.resilient_parsing:
            for each in value if isinstance(value, list | tuple) else [value]:  # a repeated option: each value
                check_count(each, _option_name(param), low, high, bound)
        return value

    return check


def _output_option(param: typer.CallbackParam) -> str:
    """The option an output path came with; "" for an argument (its path alone names it)."""
    return next((name for name in param.opts if name.startswith("--")), "")


def _option_name(param: typer.CallbackParam) -> str:
    names = [name for name in param.opts if name.startswith("--")]
    return names[0] if names else (param.name or "").upper()  # an argument: its metavar-like name


# -- numbers -------------------------------------------------------------------------------------


def check_duration(value: float | None, option: str = "--duration") -> None:
    """A duration from the command line: finite, positive, at most MAX_DURATION_S (nan and inf are refused)."""
    if value is None:
        return
    if problem := limits.time_problem(value, option, positive=True):
        raise PeerguardError(problem)


def check_count(value: int | None, option: str, low: int, high: int, bound: str) -> None:
    if value is not None and (problem := limits.count_problem(value, option, low, high, bound)):
        raise PeerguardError(problem)


def check_run_numbers(
    *, agents: int | None = None, seed: int | None = None, duration: float | None = None, moments: int | None = None
) -> None:
    """The numbers `run` and `study` take, each within its bound (world/limits.py)."""
    check_count(agents, "--agents", 1, limits.MAX_AGENTS, "MAX_AGENTS")
    check_count(seed, "--seed", -limits.MAX_SEED, limits.MAX_SEED, "MAX_SEED")
    check_duration(duration)
    check_count(moments, "--moments", 0, limits.MAX_MOMENTS, "MAX_MOMENTS")


def check_model_option(model: str | None, option: str = "--model") -> None:
    """The form of a model name (`provider/model` or `mock/<disposition>`), blamed on the option that gave it."""
    if model is None:
        return
    try:
        check_model_name(model)
    except PeerguardError as error:
        problem = str(error).split(": ", 1)[-1]  # the message names the model; the option says where it came from
        raise PeerguardError(f"{option} {model}: {problem}") from None
