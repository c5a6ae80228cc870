"""What the benchmarks share: the emulator's process, time scaling, figures, measures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import pathlib
import resource
import sys
import time
import typing

import aiohttp
import attrs

import sora2pro
from sora2pro.testing import DEFAULT_API_KEY

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

__all__ = [
    "API_KEY",
    "CREATE",
    "CREATE_LIMIT",
    "DURATIONS",
    "MODEL",
    "NOT_VISIBLE_FOR",
    "RECORD_INFO",
    "ROOT",
    "STATUS_LIMIT",
    "EmulatorProcess",
    "Figure",
    "Result",
    "TimeScale",
    "cpu_seconds",
    "emulators",
    "peak_rss_mb",
    "percentile",
    "shown",
]

ROOT = pathlib.Path(__file__).resolve().parents[1]
API_KEY = DEFAULT_API_KEY
MODEL = sora2pro.TextToVideo.MODEL
CREATE = "/api/v1/jobs/createTask"
RECORD_INFO = "/api/v1/jobs/recordInfo"

#: Real task durations: log-normal, median 4 minutes, a long tail (p95 about 9 minutes),
#: seeded so that every run and every strategy gets the same ones in create order.
DURATIONS = {"median": 240.0, "sigma": 0.5, "seed": 6}
#: Durations as the live service shows them: a median of 4 minutes and a p90 of 13
#: (exp(1.2816 * 0.92) = 3.25), in real seconds.
REAL_DURATIONS = {"median": 240.0, "sigma": 0.92, "seed": 6}
#: How long a new task answers "recordInfo is null", in real seconds.
NOT_VISIBLE_FOR = 2.0
#: The API's limits (API.md section 7): creates per window, and status queries a second.
CREATE_LIMIT = (20, 10.0)
STATUS_LIMIT = (10, 1.0)


@attrs.frozen
class Figure:
    """One measured number, with the target it answers to if it has one."""

    name: str
    value: float
    unit: str = ""
    target: str | None = None
    met: bool | None = None


@attrs.frozen
class Result:
    """What one benchmark measured, with which settings, and what else it saw."""

    figures: list[Figure]
    settings: dict[str, object]
    details: dict[str, object] = attrs.Factory(dict)


@attrs.frozen
class TimeScale:
    """Makes minutes of real time take seconds; shares of durations stay the same.

    Every duration, window, interval and pause is multiplied by ``factor`` on both
    sides (rates are divided by it), so the run is the real one on a faster clock.
    Timeouts are not: they only matter when something breaks, and shrunk ones would
    turn a busy machine's latency into failures.
    """

    factor: float

    def __call__(self, seconds: float) -> float:
        return seconds * self.factor

    def real(self, seconds: float) -> float:
        """Seconds of this run as real seconds."""
        return seconds / self.factor

    def poll(self) -> sora2pro.PollPolicy:
        """The client's default poll policy, scaled."""
        poll = sora2pro.DEFAULT_POLL
        return attrs.evolve(
            poll,
            min_interval=self(poll.min_interval),
            max_interval=self(poll.max_interval),
            not_visible_for=self(poll.not_visible_for),
            expected_duration=self(poll.expected_duration),
        )

    def retry(self) -> sora2pro.RetryPolicy:
        """The client's default retry policy, scaled."""
        retry = sora2pro.DEFAULT_RETRY
        elapsed = retry.max_elapsed
        return attrs.evolve(
            retry,
            base_delay=self(retry.base_delay),
            max_delay=self(retry.max_delay),
            max_elapsed=None if elapsed is None else self(elapsed),
        )

    def limits(self, *, throttle_creates: bool = True) -> sora2pro.RateLimits:
        """The client's default rate limits, scaled; creates lifted on request."""
        limits = sora2pro.DEFAULT_RATE_LIMITS
        return attrs.evolve(
            limits,
            creates=limits.creates if throttle_creates else 1_000_000,
            window=self(limits.window),
            status_per_second=limits.status_per_second / self.factor,
            pause=self(limits.pause),
        )

    def emulator(
        self, *, create_limit: bool = True, status_limit: bool = True, real: bool = False
    ) -> dict[str, object]:
        """The emulator's config: the durations and the API's limits, scaled.

        ``real`` is the world live answers show: no progress, no useful updateTime,
        and durations spread wide (:data:`REAL_DURATIONS`).
        """
        durations = REAL_DURATIONS if real else DURATIONS
        return {
            "duration": {**durations, "median": self(durations["median"])},
            "progress": not real,
            "not_visible_for": self(NOT_VISIBLE_FOR),
            "create_limit": [CREATE_LIMIT[0], self(CREATE_LIMIT[1])] if create_limit else None,
            "status_limit": [STATUS_LIMIT[0], self(STATUS_LIMIT[1])] if status_limit else None,
            "factor": self.factor,
        }


class EmulatorProcess:
    """The emulator in a child process, so that the client's CPU is measured alone.

    Both processes read the same clock: ``time.monotonic()`` is CLOCK_MONOTONIC on
    Linux, shared by every process of the machine, and the emulator's ``loop.time()``
    is that clock. The greeting's timestamp is checked against it on start.
    """

    def __init__(self, config: dict[str, object]) -> None:
        self.config = config
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the process and wait until the emulator listens."""
        spawned = time.monotonic()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks._server",
            json.dumps(self.config),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 30)
        if not line:
            raise RuntimeError("the emulator process ended before it listened")
        greeting = json.loads(line)
        if not spawned <= greeting["monotonic"] <= time.monotonic():
            raise RuntimeError("the emulator process does not share this monotonic clock")
        self.url = greeting["url"]

    async def stats(self) -> dict[str, typing.Any]:
        """What the emulator counted so far (see ``benchmarks._server``)."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + "/_bench/stats") as response,
        ):
            answer: dict[str, typing.Any] = await response.json()
            return answer

    async def stop(self) -> None:
        """End the process: close its stdin, and kill it if it lingers."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        if process.stdout is not None:
            await process.stdout.read()


@contextlib.asynccontextmanager
async def emulators(*configs: dict[str, object]) -> AsyncIterator[list[EmulatorProcess]]:
    """Emulator processes, one per config, started together and always stopped."""
    processes = [EmulatorProcess(config) for config in configs]
    try:
        async with asyncio.TaskGroup() as group:
            for process in processes:
                group.create_task(process.start())
        yield processes
    finally:
        await asyncio.gather(*(process.stop() for process in processes))


def shown(value: float, unit: str) -> str:
    """A value with its unit, rounded for reading."""
    if abs(value) >= 100 or value == int(value):
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def cpu_seconds() -> float:
    """CPU time (user and system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """The largest resident memory this process has had (``ru_maxrss``), in MB (10**6 bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Kilobytes on Linux, bytes on macOS.
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0 to 1) quantile, interpolated between the two closest ranks."""
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
