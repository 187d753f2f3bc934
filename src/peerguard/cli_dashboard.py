"""`peerguard dashboard RUN...` and `peerguard run ... --dashboard`: the web page beside a run, saved or running.

Faces only: the page, its data and its verdicts live in `peerguard.web`.
"""

from __future__ import annotations

import contextlib
import math
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from peerguard.audit.signing import load_public_key
from peerguard.experiments.replay import list_episodes, replay_episode, store_path, substrate_of
from peerguard.live.platform import LivePlatform
from peerguard.scenarios.conditions import Condition
from peerguard.web.app import create_app, new_token
from peerguard.web.server import DEFAULT_HOST, Server, bind, host_warning, is_loopback
from peerguard.web.sources import FolderRun, LiveRun, PacedRun, RunSource, SavedRun, StoredRun
from peerguard.world.errors import PeerguardError
from peerguard.world.run import RUNNING, RunMetadata, RunRecord

PORT_HELP = "port to serve on (0: pick a free one and print it)"
PAIR_HALVES = ("monitored", "unmonitored")  # a paired episode's two runs (detect-pair, family), in order
LISTED_PARAMS = ("scenario", "policy", "protocol", "adversary", "size", "variant", "family", "model", "agents", "seed",
                 "epoch")  # fmt: skip  # what tells stored episodes apart


def dashboard(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(help="saved run folders (`peerguard run ... --save DIR`); one still going: followed"),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help=f"address to serve on (default {DEFAULT_HOST}; anything else only when named)")
    ] = None,
    port: Annotated[int, typer.Option(help=PORT_HELP)] = 0,
    key: Annotated[
        Path | None, typer.Option(help="the signer's public key: the header then says whether the signature holds")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(help="a study's store (its --out folder or results.sqlite): lists its episodes"),
    ] = None,
    episode: Annotated[
        str | None,
        typer.Option(help="a stored simulator episode's id (as --store lists them): run again, checked, shown"),
    ] = None,
) -> None:
    """Serve the dashboard for saved runs or a stored study episode: the operator's view beside the ground truth,
    replayed with a time slider, with the ledger's verification in the header. Ctrl-C ends it."""
    if episode is not None and store is None:
        raise PeerguardError(f"--episode {episode}: name the study's store with --store (its --out folder)")
    if not runs and store is None:
        raise PeerguardError("give saved run folders, or a study's store with --store (and --episode to replay one)")
    if runs and store is not None and episode is None:  # listing the store would leave the runs unshown
        raise PeerguardError(f"--store {store} with saved runs: add --episode ID to show one of its episodes beside "
                             "them (without the runs, --store lists the ids), or leave out --store")  # fmt: skip
    public_key = load_public_key(key) if key is not None else None  # a bad key file fails before serving
    if store is not None and episode is None:
        print_episodes(store)
        return
    sources = saved_sources(runs or [])
    sock = bind(host or DEFAULT_HOST, port, explicit_host=host is not None)  # a bad --host or --port: before a replay
    try:
        if store is not None and episode is not None:
            sources += stored_sources(store, episode)
    except BaseException:
        sock.close()
        raise
    for source in sources:
        source.public_key = public_key
    server, token = serve(sources, host, port, sock)
    announce(server, token)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a dashboard ends (uvicorn raises it once stopped)
        server.run()


def saved_sources(folders: list[Path]) -> list[RunSource]:
    names: dict[str, int] = {}
    sources: list[RunSource] = []
    for folder in folders:
        count = names[folder.name] = names.get(folder.name, 0) + 1
        name = folder.name if count == 1 else f"{folder.name}-{count}"
        going = RunMetadata.read(folder).status == RUNNING  # a run still going in another process: followed
        sources.append(FolderRun(folder, name) if going else SavedRun(folder, name))
    return sources


def print_episodes(store: Path) -> None:
    """The store's episodes, one a line: the id to give --episode, what it is, and whether it can be replayed."""
    rows = list_episodes(store)
    if not rows:
        print(f"{store}: no stored episodes")
        return
    for row in rows:
        what = f"{row['section']}/{row['grid']} {row['kind']} on {substrate_of(row)}"
        params = row["params"]
        shown = " ".join(f"{name}={params[name]}" for name in LISTED_PARAMS if params.get(name) is not None)
        if isinstance(params.get("condition"), dict):
            shown += f" condition={Condition.model_validate(params['condition']).label}"
        replay = "replayable" if not row["replay"] else f"not replayable: {row['replay']}"
        print(f"{row['id']}  {what}: {shown}, {row['ledger_entries']} ledger entries; {replay}")


def stored_sources(store: Path, episode: str) -> list[RunSource]:
    """The stored episode's runs, made again and checked against its digest (a pair is shown as two runs)."""
    replayed = replay_episode(store, episode)
    origin = f"{store_path(store)} (episode {replayed.id}, peerguard {replayed.row['version']})"
    names = [replayed.id] if len(replayed.records) == 1 else [f"{replayed.id}-{half}" for half in PAIR_HALVES]
    return [StoredRun(record, name, origin) for record, name in zip(replayed.records, names, strict=True)]


def serve(
    sources: list[RunSource], host: str | None, port: int, sock: socket.socket | None = None
) -> tuple[Server, str]:
    """The server for `sources`, bound and ready (`run` or `start` it), and its control token."""
    chosen = host or DEFAULT_HOST
    sock = sock or bind(chosen, port, explicit_host=host is not None)
    if warning := host_warning(chosen):
        print(warning, file=sys.stderr)
    token = new_token()
    hosts = {chosen} if is_loopback(chosen) else None  # named on purpose: reached by whatever name the network uses
    return Server(create_app(sources, token, allowed_hosts=hosts), sock), token


def announce(server: Server, token: str) -> None:
    print(f"dashboard: {server.url}/#token={token}", flush=True)
    print(f"control token (needed to start a kill switch): {token}", flush=True)


def check_pace(pace: float) -> None:
    if not math.isfinite(pace) or pace < 0:
        raise PeerguardError(
            f"--dashboard-pace {pace:g}: give seconds of the run per real second (1: wall time), or 0 to show it whole"
        )


@dataclass
class RunDashboard:
    """The dashboard of a run this command is making: on live it follows the platform as the run goes (and can stop
    it); on sim the run is computed first and then played at `pace` run seconds per real second."""

    substrate: str
    name: str
    folder: Path | None
    port: int = 0
    pace: float = 1.0
    live: LiveRun | None = None
    server: Server | None = None
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = bind(DEFAULT_HOST, self.port, False, "--dashboard-port")  # a port in use fails before the run

    def on_platform(self, platform: LivePlatform) -> None:
        """Given the live platform as the run begins (on its loop): serve from now on."""
        self.live = LiveRun(platform.scenario, self.name, self.folder)
        self.live.attach(platform)
        self._start([self.live])

    def _start(self, sources: list[RunSource]) -> None:
        self.server, token = serve(sources, None, self.port, self.sock)
        self.server.start()
        announce(self.server, token)

    def failed(self) -> None:
        if self.live is not None:
            self.live.finish(None)
        if self.server is not None:
            self.server.stop()
        self.sock.close()

    def after(self, record: RunRecord) -> None:
        """The run is over: keep showing it until Ctrl-C."""
        if self.live is not None:
            self.live.finish(record)
        else:
            source = PacedRun(record, self.name, self.pace, self.folder) if self.pace > 0 else _finished(record, self)
            self._start([source])
        print("dashboard: the run is over; the page keeps showing it until Ctrl-C", flush=True)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        finally:
            if self.server is not None:
                self.server.stop()


def _finished(record: RunRecord, watch: RunDashboard) -> RunSource:
    """A finished run shown whole: the saved folder when there is one (its verification), else from memory."""
    if watch.folder is not None:
        return SavedRun(watch.folder, watch.name)
    return PacedRun(record, watch.name, math.inf)
