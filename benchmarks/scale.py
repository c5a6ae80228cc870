"""Scale: 10,000 concurrent ``generate()`` calls in one process, memory and CPU.

Creates are not throttled (the subject is 10,000 waits at once, not the create
limit); status queries keep the client's default budget, and the emulator enforces
the API's 10 a second, time-scaled. Memory is the process's peak resident size
(``ru_maxrss``: interpreter and libraries included, the emulator excluded), CPU the
user and system time of this process from the first create to the last result.
"""

from __future__ import annotations

import asyncio
import time
import typing

import attrs

import sora2pro
from benchmarks._harness import (
    API_KEY,
    Figure,
    Result,
    TimeScale,
    cpu_seconds,
    emulators,
    peak_rss_mb,
)

NAME = "scale"


@attrs.frozen
class Sizes:
    """How much to measure."""

    tasks: int
    factor: float


FULL = Sizes(tasks=10_000, factor=0.01)
SMOKE = Sizes(tasks=20, factor=0.0002)


async def run(*, smoke: bool) -> Result:
    sizes = SMOKE if smoke else FULL
    scale = TimeScale(sizes.factor)
    config = scale.emulator(create_limit=False)
    async with emulators(config) as (emulator,):
        before = peak_rss_mb()
        cpu, started = cpu_seconds(), time.monotonic()
        async with sora2pro.Client(
            API_KEY,
            base_url=emulator.url,
            poll=scale.poll(),
            retry=scale.retry(),
            rate_limits=scale.limits(throttle_creates=False),
        ) as client:
            waits = (client.generate(f"video number {n}", timeout=None) for n in range(sizes.tasks))
            await asyncio.gather(*waits)
        cpu = cpu_seconds() - cpu
        wall = scale.real(time.monotonic() - started)
        peak = peak_rss_mb()
        stats = await emulator.stats()
    settings: dict[str, object] = {**attrs.asdict(sizes), "emulator": config}
    return Result(
        figures(tasks=sizes.tasks, before=before, peak=peak, cpu=cpu, wall=wall, stats=stats),
        settings,
    )


def figures(
    *, tasks: int, before: float, peak: float, cpu: float, wall: float, stats: dict[str, typing.Any]
) -> list[Figure]:
    per_task = 1000 * cpu / tasks
    return [
        Figure("peak memory (RSS)", peak, "MB", "< 200", peak < 200),
        Figure("peak RSS before the client started", before, "MB"),
        Figure("CPU per task", per_task, "ms", "< 2", per_task < 2),
        Figure("CPU in all", cpu, "s"),
        Figure("time until the last task was seen to end", wall, "s"),
        Figure("status requests per task", stats["requests"]["recordInfo"] / tasks),
        Figure("429 answers to status queries", stats["rate_limited"].get("recordInfo", 0)),
    ]
