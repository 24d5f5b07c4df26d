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
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import structlog

from cwsync.config import Config, ConfigError, load_config
from cwsync.config.loader import ConfigProblem
from cwsync.config.model import secret_values
from cwsync.config.tenants import SUFFIXES, check_tenants
from cwsync.logs import register_secrets, route_uvicorn_logs
from cwsync.server.deployment import Mount, deployment
from cwsync.server.intake import IntakeServer

__all__ = ["DEFAULT_GRACE", "follow_tenants", "serve_tenants", "work"]

DEFAULT_GRACE = 30.0
"""Seconds running jobs get to finish after SIGTERM before they are released."""
FOLLOW_EVERY = 5.0
"""How often `serve` and `worker` look whether a tenant file changed (a save in the console), came or went
(seconds; `CWSYNC_FOLLOW_SECONDS` changes it)."""


def follow_every(environ: Mapping[str, str] | None = None) -> float:
    """`CWSYNC_FOLLOW_SECONDS` (a positive number), else `FOLLOW_EVERY`."""
    raw = (os.environ if environ is None else environ).get("CWSYNC_FOLLOW_SECONDS", "")
    try:
        value = float(raw)
    except ValueError:
        return FOLLOW_EVERY
    return value if value > 0 else FOLLOW_EVERY


log = structlog.get_logger("cwsync.worker")


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
    directory: Path | None = None,
    every: float = FOLLOW_EVERY,
) -> None:
    """Serve tenants until SIGTERM / SIGINT; with PostgreSQL and `worker`, run jobs in this process too. With the
    tenants' `directory`, follow it (`follow_tenants`): a changed file reloads its tenant, a new one is served, a
    removed one is not any more."""
    stop = asyncio.Event()
    async with deployment(configs, many=many, mount=mount, missing_secrets="placeholder") as dep:
        dep.grace = grace
        with _signals(stop):
            await dep.start(schedule=schedule)
            try:
                app = await dep.app()
                route_uvicorn_logs()  # cwsync.logs renders uvicorn's records (redacted; --log-format json too)
                # on a thread of its own: webhooks are answered whatever the engine does on this loop (issue 19)
                web = IntakeServer(app, host=host, port=port, log_level=log_level, log_config=None, lifespan="off")
                tasks = [asyncio.create_task(web.serve(), name="http")]
                if worker and dep.runner is not None:
                    work = dep.work(concurrency=concurrency, grace=grace, schedule=schedule)
                    tasks.append(asyncio.create_task(work, name="worker"))
                if directory is not None:
                    tasks.append(asyncio.create_task(follow_tenants(dep, directory, every=every), name="follow"))
                await _until_stopped(stop, tasks)
                web.should_exit = True
                await _finish(tasks)
            finally:
                await dep.stop(grace=grace)


async def work(
    configs: Sequence[Config],
    *,
    concurrency: int = 4,
    grace: float = DEFAULT_GRACE,
    schedule: bool = True,
    directory: Path | None = None,
    every: float = FOLLOW_EVERY,
) -> None:
    """`cwsync worker`: run the tenants' jobs (PostgreSQL) until SIGTERM / SIGINT, then drain and return. It follows
    its tenant files (`follow_tenants`; with `directory`, files that come and go too)."""
    stop = asyncio.Event()
    async with deployment(configs, many=True) as dep:
        dep.grace = grace
        if dep.runner is None:
            raise ValueError("cwsync worker needs a PostgreSQL store; with SQLite, `cwsync serve` runs the jobs")
        with _signals(stop):
            await dep.runner.start()
            try:
                job = dep.work(concurrency=concurrency, grace=grace, schedule=schedule)
                task = asyncio.create_task(job, name="worker")
                follow = asyncio.create_task(follow_tenants(dep, directory, every=every))
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
    """A tenant's server as `follow_tenants` sees it."""

    config: Config

    async def reload(self, config: Config) -> list[str]: ...


class Tenants(Protocol):
    """The tenants `follow_tenants` keeps up to date (a `Deployment`)."""

    @property
    def servers(self) -> Mapping[str, Reloadable]: ...

    async def reload(self, name: str, config: Config) -> list[str]: ...

    async def add(self, config: Config) -> None: ...

    async def remove(self, name: str) -> None: ...


async def follow_tenants(tenants: Tenants, directory: Path | None, *, every: float = FOLLOW_EVERY) -> None:
    """Until cancelled, every `every` seconds: a tenant's configuration file that changed (saved in the console of
    `cwsync serve`, or by hand) is loaded again and its tenant reloaded (`Deployment.reload`: `Server.reload`, and
    its procrastinate periodic tasks when its schedules changed), so its next jobs use it without a restart. With
    the tenants' `directory`: a new tenant file is loaded, checked against the deployment's rules and served
    (`Deployment.add`), and a tenant whose file is gone is not served any more (`Deployment.remove`). A file that
    does not load (or breaks a rule) is logged (`tenant.reload_refused`, `tenant.add_refused`) and changes nothing:
    the tenant keeps what it had; it is tried again when it changes."""
    files = {name: Path(server.config.source) for name, server in tenants.servers.items() if server.config.source}
    seen = {path: _digest(path) for path in files.values()}
    if directory is not None:
        seen.update({path: _digest(path) for path in _tenant_files(directory) if path not in seen})
    while True:
        await asyncio.sleep(every)
        present = _tenant_files(directory) if directory is not None else list(files.values())
        for path in present:
            digest = _digest(path)
            if digest is None or digest == seen.get(path):
                continue
            seen[path] = digest
            name = next((n for n, p in files.items() if p == path), None)
            if name is None:
                if await _add(tenants, path):
                    files[tenants_name(path)] = path
            else:
                await _reload(tenants, name, path)
        for name, path in list(files.items()):
            if directory is not None and path not in present and name in tenants.servers:
                del files[name]
                seen.pop(path, None)
                await tenants.remove(name)
                log.info("tenant.removed", tenant=name, file=str(path))


def tenants_name(path: Path) -> str:
    """The tenant of a tenant file (its name: `acme.yaml` holds tenant `acme`)."""
    return path.stem


def _tenant_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())
    except OSError:
        return []


async def _load(path: Path) -> Config:
    config = await asyncio.to_thread(load_config, path)
    register_secrets(secret_values(config))  # no log line shows the new ones
    return config


async def _reload(tenants: Tenants, name: str, path: Path) -> None:
    try:
        later = await tenants.reload(name, await _load(path))
    except (ConfigError, OSError) as exc:
        log.warning("tenant.reload_refused", tenant=name, file=str(path), error=str(exc))
        return
    except Exception as exc:  # a mapping or connection the reload refused: keep what it had
        log.warning("tenant.reload_failed", tenant=name, file=str(path), error=f"{type(exc).__name__}: {exc}")
        return
    log.info("tenant.reloaded", tenant=name, file=str(path), later=later)


async def _add(tenants: Tenants, path: Path) -> bool:
    """Serve the tenant of a new file; False (logged) when it does not load, breaks a rule or does not open."""
    name = tenants_name(path)
    try:
        config = await _load(path)
        others = [s.config for n, s in tenants.servers.items() if n != name]
        problems = check_tenants([*others, config]) if others else []
        mine = [p for p in problems if p.path == (config.source or config.tenant)]
        if mine:
            raise mine[0]
        if name in tenants.servers:
            raise ConfigError(path, [ConfigProblem(None, "tenant", f"tenant {name!r} is served already")])
        await tenants.add(config)
    except (ConfigError, OSError) as exc:
        log.warning("tenant.add_refused", tenant=name, file=str(path), error=str(exc))
        return False
    except Exception as exc:  # a connection that does not open
        log.warning("tenant.add_failed", tenant=name, file=str(path), error=f"{type(exc).__name__}: {exc}")
        return False
    log.info("tenant.added", tenant=name, file=str(path))
    return True


def _digest(path: Path | str) -> str | None:
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
    """Stop the HTTP server (it was told to), cancel the worker, which drains within its grace period, and the
    directory's follower."""
    for task in tasks:
        if task.get_name() in ("worker", "follow"):
            task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
