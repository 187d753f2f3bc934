"""The study on Ray: simulator episodes as Ray tasks, on a local Ray (`ray.init()`) or a cluster
(`--ray-address`); live episodes still run here, one at a time, on the host that owns them.

Every node needs this peerguard installed (the same version): a task runs `peerguard.experiments.episodes.run`
on the episode's parameters alone, so it gives the same digests on any node as in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from peerguard.experiments.episodes import Episode, run
from peerguard.world.errors import PeerguardError

Result = dict[str, Any]
RAY_EXTRA = "install it with pip install ray==2.60.0 (the ray extra of peerguard)"


class RayExecutor:
    """Runs simulator episodes as Ray tasks (results as they finish), live ones in this process."""

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise PeerguardError(f"--executor ray: Ray is not installed here; {RAY_EXTRA}") from None
        if workers is not None and workers < 1:
            raise PeerguardError(f"--workers {workers}: give at least 1")
        self.ray: Any = ray
        self.address = address
        self.workers = workers
        self._started = False

    def __enter__(self) -> RayExecutor:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if self.address is None and self.workers is not None:
            options["num_cpus"] = self.workers  # a local Ray: as many tasks at once as the pool would run
        try:
            self.ray.init(address=self.address, **options)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise PeerguardError(
                f"--ray-address {self.address}: cannot join the Ray cluster ({error}); give the head's address"
                " (ray://HOST:10001 or HOST:6379), or leave it out for a local Ray"
            ) from None
        self._started = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False

    def run(self, episodes: list[Episode]) -> Iterator[tuple[Episode, Result]]:
        if not self._started:
            raise RuntimeError("use the Ray executor in a `with` block: it starts and stops Ray")
        task = self.ray.remote(run)
        pending = {task.remote(e): e for e in episodes if not e.live}
        while pending:
            done, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), self.ray.get(ref)
        for episode in (e for e in episodes if e.live):
            yield episode, run(episode)
