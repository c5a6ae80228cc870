"""Scale: 10,000 concurrent ``generate()`` calls in one process, memory and CPU.

Creates are not throttled (the subject is 10,000 waits at once, not the create
limit); status queries keep the client's default budget, and the emulator enforces
the API's 10 a second, time-scaled. Memory is the process's peak resident size
(``ru_maxrss``: interpreter and libraries included, the emulator excluded), CPU the
user and system time of this process from the first create to the last result.

The client's session is ours, with one hook: it notes when each status request's
headers leave, so that the pace the client kept can be told from the pace the
emulator saw (its own stalls bunch the requests it reads afterwards).
"""

from __future__ import annotations

import asyncio
import collections
import time
import typing

import aiohttp
import attrs

import sora2pro
from benchmarks._harness import (
    API_KEY,
    RECORD_INFO,
    STATUS_LIMIT,
    Figure,
    Result,
    TimeScale,
    cpu_seconds,
    emulators,
    peak_rss_mb,
)

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

NAME = "scale"


@attrs.frozen
class Sizes:
    """How much to measure."""

    tasks: int
    factor: float


FULL = Sizes(tasks=10_000, factor=0.01)
SMOKE = Sizes(tasks=20, factor=0.0002)


def status_sends() -> tuple[aiohttp.TraceConfig, list[float]]:
    """A trace that notes when each status request's headers were written."""
    sent: list[float] = []

    async def headers_sent(
        _session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestHeadersSentParams,
    ) -> None:
        if params.url.path == RECORD_INFO:
            sent.append(time.monotonic())

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(headers_sent)
    return trace, sent


def over_limit(times: Sequence[float], count: int, window: float) -> list[float]:
    """Which of ``times`` a limiter of ``count`` per ``window`` (the emulator's) refuses."""
    kept: collections.deque[float] = collections.deque()
    refused = []
    for moment in sorted(times):
        while kept and moment - kept[0] >= window:
            kept.popleft()
        if len(kept) >= count:
            refused.append(moment)
        else:
            kept.append(moment)
    return refused


async def run(*, smoke: bool) -> Result:
    sizes = SMOKE if smoke else FULL
    scale = TimeScale(sizes.factor)
    config = scale.emulator(create_limit=False)
    trace, sent = status_sends()
    async with (
        emulators(config) as (emulator,),
        aiohttp.ClientSession(trace_configs=[trace]) as session,
    ):
        before = peak_rss_mb()
        cpu, started = cpu_seconds(), time.monotonic()
        async with sora2pro.Client(
            API_KEY,
            base_url=emulator.url,
            poll=scale.poll(),
            retry=scale.retry(),
            rate_limits=scale.limits(throttle_creates=False),
            session=session,
        ) as client:
            waits = (client.generate(f"video number {n}", timeout=None) for n in range(sizes.tasks))
            await asyncio.gather(*waits)
        cpu = cpu_seconds() - cpu
        wall = scale.real(time.monotonic() - started)
        peak = peak_rss_mb()
        stats = await emulator.stats()
    early = over_limit(sent, STATUS_LIMIT[0], scale(STATUS_LIMIT[1]))
    last_create = max(task["created"] for task in stats["tasks"])
    settings: dict[str, object] = {**attrs.asdict(sizes), "emulator": config}
    return Result(
        figures(sizes.tasks, Measured(before, peak, cpu, wall, len(early)), stats),
        settings,
        {
            "emulator_peak_rss_mb": stats["peak_rss_kb"] * 1024 / 1e6,
            # While 10,000 creates are in flight, status requests wait for a connection
            # of the pool (aiohttp's 100) after taking their slot.
            "over_limit_before_the_last_create": sum(moment <= last_create for moment in early),
        },
    )


@attrs.frozen
class Measured:
    """What the client's side measured: memory in MB, CPU and wall time in seconds."""

    before: float
    peak: float
    cpu: float
    wall: float
    #: Status requests a limiter like the emulator's would refuse, by their send times.
    early: int


#: The targets: peak RSS in MB, CPU per task in ms.
MOST_RSS_MB = 100
MOST_CPU_MS = 1


def figures(tasks: int, measured: Measured, stats: dict[str, typing.Any]) -> list[Figure]:
    per_task = 1000 * measured.cpu / tasks
    peak = measured.peak
    limited = stats["rate_limited"].get("recordInfo", 0)
    return [
        Figure("peak memory (RSS)", peak, "MB", f"< {MOST_RSS_MB}", peak < MOST_RSS_MB),
        Figure("peak RSS before the client started", measured.before, "MB"),
        Figure("CPU per task", per_task, "ms", f"< {MOST_CPU_MS}", per_task < MOST_CPU_MS),
        Figure("CPU in all", measured.cpu, "s"),
        Figure("time until the last task was seen to end", measured.wall, "s"),
        Figure("status requests per task", stats["requests"]["recordInfo"] / tasks),
        Figure("429 answers to status queries", limited, "", "0", limited == 0),
        Figure("status requests over the limit, by the client's send times", measured.early),
    ]
