"""Running `cwsync serve` and `cwsync worker`: open the deployment, serve or work, drain on SIGTERM / SIGINT.

**Stopping.** Both install their own SIGTERM and SIGINT handlers (uvicorn's own would re-raise the signal once it
has stopped serving, which kills the process before cwsync has drained): the first signal stops taking requests
and jobs, running jobs get `grace` seconds to finish and are then released (back to the queue, their runs ended),
and the process exits 0. `docker stop` and `systemctl stop` send SIGTERM; give them more time than `grace`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import structlog
import uvicorn

from cwsync.config import Config, ConfigError, load_config
from cwsync.config.model import secret_values
from cwsync.logs import register_secrets, route_uvicorn_logs
from cwsync.server.deployment import Mount, deployment

__all__ = ["DEFAULT_GRACE", "serve", "serve_tenants", "work"]

DEFAULT_GRACE = 30.0
FOLLOW_EVERY = 5.0
"""How often `cwsync worker` looks whether a tenant's configuration file changed (a save in the console)."""
log = structlog.get_logger("cwsync.worker")
"""Seconds running jobs get to finish after SIGTERM before they are released."""


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handling: `_signals` stops it, so cwsync drains after it (see the module doc)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def serve(
    config: Config,
    *,
    schedule: bool = True,
    log_level: str = "info",
    worker: bool = True,
    grace: float = DEFAULT_GRACE,
    mount: Mount | None = None,
) -> None:
    """Serve one configuration file until SIGTERM / SIGINT (webhooks, jobs, scheduler, REST API); `mount` adds more
    to each tenant's app (the web console, which `cwsync serve` passes: the server package does not import it)."""
    await serve_tenants(
        [config],
        many=False,
        host=config.server.host,
        port=config.server.port,
        schedule=schedule,
        log_level=log_level,
        worker=worker,
        grace=grace,
        mount=mount,
    )


async def serve_tenants(
    configs: Sequence[Config],
    *,
    many: bool,
    host: str,
    port: int,
    schedule: bool = True,
    log_level: str = "info",
    worker: bool = True,
    grace: float = DEFAULT_GRACE,
    concurrency: int = 4,
    mount: Mount | None = None,
) -> None:
    """Serve tenants until SIGTERM / SIGINT; with PostgreSQL and `worker`, run jobs in this process too."""
    stop = asyncio.Event()
    async with deployment(configs, many=many, mount=mount, missing_secrets="placeholder") as dep:
        with _signals(stop):
            await dep.start(schedule=schedule)
            try:
                app = await dep.app()
                settings = uvicorn.Config(
                    app, host=host, port=port, log_level=log_level, log_config=None, lifespan="off"
                )
                route_uvicorn_logs()  # cwsync.logs renders uvicorn's records (redacted; --log-format json too)
                web = _Uvicorn(settings)
                tasks = [asyncio.create_task(web.serve(), name="http")]
                if worker and dep.runner is not None:
                    work = dep.work(concurrency=concurrency, grace=grace, schedule=schedule)
                    tasks.append(asyncio.create_task(work, name="worker"))
                await _until_stopped(stop, tasks)
                web.should_exit = True
                await _finish(tasks)
            finally:
                await dep.stop(grace=grace)


async def work(
    configs: Sequence[Config], *, concurrency: int = 4, grace: float = DEFAULT_GRACE, schedule: bool = True
) -> None:
    """`cwsync worker`: run the tenants' jobs (PostgreSQL) until SIGTERM / SIGINT, then drain and return."""
    stop = asyncio.Event()
    async with deployment(configs, many=True) as dep:
        if dep.runner is None:
            raise ValueError("cwsync worker needs a PostgreSQL store; with SQLite, `cwsync serve` runs the jobs")
        with _signals(stop):
            await dep.runner.start()
            try:
                job = dep.work(concurrency=concurrency, grace=grace, schedule=schedule)
                task = asyncio.create_task(job, name="worker")
                follow = asyncio.create_task(follow_files(dep.servers))
                try:
                    await _until_stopped(stop, [task])
                    await _finish([task])
                finally:
                    follow.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await follow
            finally:
                await dep.runner.stop()


class Reloadable(Protocol):
    """A tenant's server as `follow_files` sees it."""

    config: Config

    async def reload(self, config: Config) -> list[str]: ...


async def follow_files(servers: Mapping[str, Reloadable], *, every: float = FOLLOW_EVERY) -> None:
    """Until cancelled: a tenant's configuration file that changed (saved in the console of `cwsync serve`, or by
    hand) is loaded again and its server reloaded (`Server.reload`), so a worker runs its next jobs with it without
    a restart. A file that does not load is logged and the worker keeps what it had."""
    files = {name: server.config.source for name, server in servers.items() if server.config.source}
    seen = {name: _digest(path) for name, path in files.items()}
    while True:
        await asyncio.sleep(every)
        for name, path in files.items():
            digest = _digest(path)
            if digest == seen[name] or digest is None:
                continue
            seen[name] = digest
            try:
                config = await asyncio.to_thread(load_config, Path(path))
                register_secrets(secret_values(config))  # no log line shows the new ones
                later = await servers[name].reload(config)
            except (ConfigError, OSError) as exc:
                log.warning("worker.reload_refused", tenant=name, file=path, error=str(exc))
                continue
            except Exception as exc:  # a mapping or connection the reload refused: keep what it had
                log.warning("worker.reload_failed", tenant=name, file=path, error=f"{type(exc).__name__}: {exc}")
                continue
            log.info("worker.reloaded", tenant=name, file=path, later=later)


def _digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


async def _until_stopped(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Until a signal, or until one of `tasks` ends (an error: raised)."""
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    for task in done:
        if task is not waiter and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    """Stop the HTTP server (it was told to) and cancel the worker, which drains within its grace period."""
    for task in tasks:
        if task.get_name() == "worker":
            task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
