"""Several processes, one account: N replicas share the limits and the callbacks on Redis.

For N = 1, 2 and 4, N replica processes (``benchmarks._replica``) share one
``RedisCoordination`` namespace on a redis-server this benchmark starts, against an
emulator process of its own that enforces the API's limits. The creates of a run are
split between the replicas, which start together, submit all their tasks at once and
wait for each. Each task's callback goes to the next replica's receiver, so with
N >= 2 every wait ends on a callback another process received, confirmed and
published. Nothing is time-scaled, as in *callbacks*: the delay is latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import sys
import tempfile
import typing

import attrs

import sora2pro
from benchmarks._harness import (
    CREATE_LIMIT,
    ROOT,
    Figure,
    Result,
    TimeScale,
    emulators,
    percentile,
)
from tests.redis_server import RedisServer

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

NAME = "processes"


@attrs.frozen
class Sizes:
    """How much to measure: replicas per run, creates per run, the tasks' durations."""

    replicas: tuple[int, ...]
    creates: int
    median: float
    not_visible_for: float


# 40 creates at the default pace (19 per 10 s) take 20 s a run. Tasks last seconds
# and are shown after 0.5 s, as in *callbacks*: a callback for a task the status
# query does not show yet is not confirmed.
FULL = Sizes(replicas=(1, 2, 4), creates=40, median=5.0, not_visible_for=0.5)
SMOKE = Sizes(replicas=(1, 2), creates=4, median=0.2, not_visible_for=0.01)
#: Each wait's timeout: far beyond what a run takes, so that a stuck run still ends.
WAIT_TIMEOUT = 300.0
#: The least aggregate create rate, as a share of the account's limit.
LEAST_SHARE = 0.95
#: The most a callback on one replica may take to end the wait on another.
MOST_P99_MS = 50.0


class ReplicaProcess:
    """A replica in a child process, spoken to in JSON lines (see ``benchmarks._replica``)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, config: dict[str, object]) -> ReplicaProcess:
        """Start one; it is ready when it has said its receiver's URL."""
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "benchmarks._replica", json.dumps(config)),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def read(self) -> dict[str, typing.Any]:
        """Its next line."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), WAIT_TIMEOUT)
        if not line:
            raise RuntimeError("a replica ended before it reported")
        answer: dict[str, typing.Any] = json.loads(line)
        return answer

    async def send(self, message: dict[str, object]) -> None:
        """One line to it."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def stop(self) -> None:
        """Close its stdin; kill it if it lingers."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def replicas(count: int, config: dict[str, object]) -> AsyncIterator[list[ReplicaProcess]]:
    """``count`` replicas, ``config["tasks"]`` split between them; always stopped."""
    share, extra = divmod(typing.cast("int", config["tasks"]), count)
    started: list[ReplicaProcess] = []
    try:
        for number in range(count):
            tasks = share + (number < extra)
            started.append(await ReplicaProcess.start({**config, "tasks": tasks}))
        yield started
    finally:
        await asyncio.gather(*(replica.stop() for replica in started))


async def one_run(count: int, sizes: Sizes, redis_url: str) -> dict[str, typing.Any]:
    """N replicas against a fresh emulator: what they and the emulator saw."""
    config = TimeScale(1.0).emulator()
    config["duration"] = {"median": sizes.median, "sigma": 0.3, "seed": 6}
    config["not_visible_for"] = sizes.not_visible_for
    async with emulators(config) as (emulator,):
        settings = {
            "emulator": emulator.url,
            "redis": redis_url,
            "namespace": f"replicas-{count}",
            "tasks": sizes.creates,
            "timeout": WAIT_TIMEOUT,
        }
        async with replicas(count, settings) as started:
            urls = [(await replica.read())["callback_url"] for replica in started]
            for number, replica in enumerate(started):
                await replica.send({"callback_url": urls[(number + 1) % count]})
            reports = [await replica.read() for replica in started]
            for replica in started:
                await replica.send({})
            received = [(await replica.read())["received"] for replica in started]
        stats = await emulator.stats()
    return {
        "ended": {task: at for report in reports for task, at in report["ended"].items()},
        "errors": [error for report in reports for error in report["errors"]],
        "received": {task: at for seen in received for task, at in seen.items()},
        "stats": stats,
    }


def figures_of(count: int, run: dict[str, typing.Any]) -> tuple[list[Figure], dict[str, object]]:
    """The figures of one run, and its details."""
    stats = run["stats"]
    created = sorted(task["created"] for task in stats["tasks"])
    rate = (len(created) - 1) / (created[-1] - created[0])
    limits = sora2pro.DEFAULT_RATE_LIMITS
    share = rate / (CREATE_LIMIT[0] / CREATE_LIMIT[1])
    limited = stats["rate_limited"]
    label = f"N={count}"
    figures = [
        Figure(
            f"{label}: create rate / account's limit",
            share,
            "x",
            f">= {LEAST_SHARE}",
            share >= LEAST_SHARE,
        ),
        Figure(
            f"{label}: create rate / client's pace", rate / (limits.creates / limits.window), "x"
        ),
        Figure(
            f"{label}: 429 answers to status queries",
            limited.get("recordInfo", 0),
            "",
            "0",
            not limited.get("recordInfo", 0),
        ),
        Figure(f"{label}: 429 answers to creates", limited.get("createTask", 0)),
    ]
    delays = [
        1000 * (at - run["received"][task])
        for task, at in run["ended"].items()
        if task in run["received"]
    ]
    if count > 1:
        p99 = percentile(delays, 0.99)
        figures += [
            Figure(
                f"{label}: median delay, callback on one replica to wait end on another",
                percentile(delays, 0.5),
                "ms",
            ),
            Figure(
                f"{label}: p99 delay, callback on one replica to wait end on another",
                p99,
                "ms",
                f"< {MOST_P99_MS:.0f}",
                p99 < MOST_P99_MS,
            ),
        ]
    details = {
        "creates": len(created),
        # Against the client's pace: how much the hand-over of each slot adds.
        "mean_interval_between_creates_ms": 1000 / rate,
        "client_interval_ms": 1000 * limits.window / limits.creates,
        "waits_ended": len(run["ended"]),
        "errors": run["errors"],
        "callbacks_relayed": len(delays),
        "status_requests": stats["requests"]["recordInfo"],
    }
    return figures, details


async def run(*, smoke: bool) -> Result:
    sizes = SMOKE if smoke else FULL
    figures: list[Figure] = []
    details: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder:
        # Kept on disk, as it should be where it matters: no warning from the replicas.
        server = RedisServer(pathlib.Path(folder), args=("--appendonly", "yes"))
        server.start()
        try:
            for count in sizes.replicas:
                measured, details[f"N={count}"] = figures_of(
                    count, await one_run(count, sizes, server.url)
                )
                figures += measured
        finally:
            server.kill()
    return Result(figures, attrs.asdict(sizes), details)
