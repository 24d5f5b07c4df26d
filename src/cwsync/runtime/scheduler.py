"""The scheduler: every `every_seconds`, one job per (tenant, pair, kind) into a `JobQueue`.

::

    scheduler = Scheduler(runner, [Schedule(tenant="acme", pair="companies", kind="incremental", every_seconds=300)])
    await scheduler.run()          # until cancelled; `tick(now)` is one step of it

**Slots.** A schedule is due at the multiples of its period counted from the Unix epoch (every 300 s: :00, :05,
...), in UTC. So the times do not depend on when the process started, and a restart keeps the same rhythm.

**Restarts.** The last slot enqueued per schedule is kept in memory only. The first tick of a process takes the
current slot as already done, so a restart never re-runs every schedule at once; the next job comes at the next
slot, at most one period later — the same wait as if the process had not restarted (the polling cycle is the
backstop, so one late slot is harmless). The price: a slot that passes while no scheduler runs is skipped, not
made up. Keeping it in memory spares a table and a write per tick; the store's runs already tell when a pair last
ran, for whoever needs it.

**No pile-up.** Each job carries the queueing key `sched:{tenant}:{pair}:{kind}`: while one still waits (a slow
earlier job holds the pair's lock), the next slot's enqueue is absorbed by it. Slots missed while the process was
busy (or suspended) also give one job, not one per slot.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from cwsync.runtime.jobs import Clock, JobQueue, JobSpec, utc_now
from cwsync.store import JobKind

__all__ = ["Schedule", "Scheduler", "Sleep", "cron_of"]

Sleep = Callable[[float], Awaitable[None]]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RETRY_SECONDS = 5.0

log = structlog.get_logger("cwsync.scheduler")


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """Run `kind` for `pair` of `tenant` every `every_seconds` seconds."""

    tenant: str
    pair: str
    kind: JobKind
    every_seconds: float

    def __post_init__(self) -> None:
        if not self.every_seconds > 0:
            raise ValueError(f"every_seconds must be positive, got {self.every_seconds!r}")

    @property
    def queueing_key(self) -> str:
        """The key that keeps at most one of this schedule's jobs waiting."""
        return f"sched:{self.tenant}:{self.pair}:{self.kind}"

    def slot(self, now: datetime) -> datetime:
        """The latest slot at or before `now` (slots are multiples of the period since the epoch)."""
        periods = math.floor((now - EPOCH).total_seconds() / self.every_seconds)
        return EPOCH + timedelta(seconds=periods * self.every_seconds)

    def next_slot(self, now: datetime) -> datetime:
        """The first slot after `now`."""
        return self.slot(now) + timedelta(seconds=self.every_seconds)


CRON_STEPS = (
    (1, 60, "* * * * * */{n}"),  # seconds (croniter's optional sixth field)
    (60, 60, "*/{n} * * * *"),  # minutes
    (3600, 24, "0 */{n} * * *"),  # hours
)


def cron_of(every_seconds: float) -> str:
    """The cron expression of a period, for the scale-out scheduler (procrastinate's periodic tasks).

    Cron steps restart each minute, hour or day, so a period runs on the slots of the largest step that divides its
    unit and is no longer than it (every 7 minutes runs every 6; every 45 s every 30 s; more than a day, daily);
    the slots are the same as `Schedule.slot`'s whenever the period divides its unit (5 min, 15 s, 6 h...).
    """
    for unit, per, template in CRON_STEPS:
        wanted = every_seconds / unit
        if wanted < per:
            step = max([d for d in range(1, per + 1) if per % d == 0 and d <= max(wanted, 1)])
            return "* * * * *" if unit == 60 and step == 1 else template.format(n=step)
    return "0 0 * * *"


class Scheduler:
    """Enqueues each schedule's job once per slot; see the module docstring for slots and restarts."""

    def __init__(
        self,
        queue: JobQueue,
        schedules: Sequence[Schedule],
        *,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Schedule `schedules` onto `queue`; raises `ValueError` when one (tenant, pair, kind) appears twice."""
        keys = [s.queueing_key for s in schedules]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"scheduled twice: {', '.join(duplicates)}")
        self._queue = queue
        self._schedules = tuple(schedules)
        self._clock = clock
        self._sleep = sleep
        self._last: dict[Schedule, datetime] = {}  # the last slot enqueued (or taken as done) per schedule

    async def run(self) -> None:
        """Tick, sleep until the next slot, and again, until cancelled.

        A tick that fails (the store is away) is logged and tried again after `RETRY_SECONDS` (or at the next slot,
        if sooner); the schedules it did not enqueue are still due then.
        """
        if not self._schedules:
            return
        while True:
            now = self._clock()
            delay = min(s.next_slot(now) - now for s in self._schedules).total_seconds()
            try:
                await self.tick(now)
            except Exception as exc:
                tenants = ",".join(sorted({s.tenant for s in self._schedules}))
                log.warning("schedule.tick_failed", tenant=tenants, error=repr(exc))
                delay = min(delay, RETRY_SECONDS)
            await self._sleep(max(0.0, delay))

    async def tick(self, now: datetime) -> list[Schedule]:
        """Enqueue the schedules whose slot came since the last tick; returns them (coalesced ones included).

        The first tick only notes the current slots (see "Restarts" in the module docstring).
        """
        due: list[Schedule] = []
        for schedule in self._schedules:
            slot = schedule.slot(now)
            last = self._last.setdefault(schedule, slot)
            if slot > last:
                await self._enqueue(schedule, slot)
                self._last[schedule] = slot
                due.append(schedule)
        return due

    async def _enqueue(self, schedule: Schedule, slot: datetime) -> None:
        spec = JobSpec(
            tenant=schedule.tenant,
            pair=schedule.pair,
            kind=schedule.kind,
            queueing_key=schedule.queueing_key,
            payload={"trigger": "schedule", "slot": slot.isoformat()},
        )
        job_id = await self._queue.enqueue(spec)
        log.info("schedule.enqueued", tenant=schedule.tenant, pair=schedule.pair, kind=schedule.kind, job_id=job_id)
