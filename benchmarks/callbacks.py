"""Callbacks in real time: how long after a task ends its ``wait()`` returns.

A callback's delay is latency: the emulator's POST, then the status fetch that
confirms it, which waits for a slot of the client's status budget (8 a second). Time
scaling would shrink that wait with the budget, so this run is not scaled: the
client has its default limits and poll policy, and the emulator enforces the API's
limits in real seconds. Only the tasks are short (seconds): their durations do not
change the latency, and they end about as often as the polling benchmark's do, since
they are created at the client's create pace.
"""

from __future__ import annotations

import asyncio
import time

import attrs

import sora2pro
from benchmarks._harness import API_KEY, Figure, Result, TimeScale, emulators, percentile

NAME = "callbacks"


@attrs.frozen
class Sizes:
    """How much to measure: tasks, their median duration, how long each is not shown."""

    tasks: int
    median: float
    not_visible_for: float


# Every task ends after it is shown: a callback for a task the status query does not
# show yet is not confirmed, and its wait falls back to polling (real tasks take
# minutes, and are shown within seconds).
FULL = Sizes(tasks=100, median=5.0, not_visible_for=0.5)
SMOKE = Sizes(tasks=3, median=0.2, not_visible_for=0.01)
#: The most a callback may take, from the task's end to ``wait()`` returning.
MOST_P99_MS = 50.0


async def run(*, smoke: bool) -> Result:
    sizes = SMOKE if smoke else FULL
    real = TimeScale(1.0)
    config = real.emulator()
    config["duration"] = {"median": sizes.median, "sigma": 0.3, "seed": 6}
    config["not_visible_for"] = sizes.not_visible_for
    learned: dict[str, float] = {}
    async with (
        emulators(config) as (emulator,),
        sora2pro.CallbackReceiver() as receiver,
        sora2pro.Client(API_KEY, base_url=emulator.url, callbacks=receiver) as client,
    ):

        async def follow(task_id: str) -> None:
            await client.wait(task_id)
            learned[task_id] = time.monotonic()

        async with asyncio.TaskGroup() as group:
            for number in range(sizes.tasks):
                task_id = await client.submit(f"video number {number}")
                group.create_task(follow(task_id))
        stats = await emulator.stats()
    tasks = stats["tasks"]
    delays = [1000 * (learned[task["id"]] - task["end"]) for task in tasks]
    median, p95, p99 = (percentile(delays, share) for share in (0.5, 0.95, 0.99))
    polls = stats["requests"]["recordInfo"] / len(tasks)
    limited = stats["rate_limited"].get("recordInfo", 0)
    target = f"< {MOST_P99_MS:.0f}"
    figures = [
        Figure("median delay, task end to wait end (real time)", median, "ms"),
        Figure("p95 delay (real time)", p95, "ms"),
        Figure("p99 delay (real time)", p99, "ms", target, p99 < MOST_P99_MS),
        Figure("status requests per task", polls),
        Figure("429 answers to status queries", limited),
    ]
    return Result(figures, {**attrs.asdict(sizes), "emulator": config})
