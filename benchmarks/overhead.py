"""Overhead: ``get_task`` calls against a plain aiohttp loop doing the same requests.

Both sides send the same ``GET recordInfo`` for finished tasks, at the same
concurrency, over one default ``aiohttp.ClientSession``, and decode the answer: the
plain loop with ``json.loads``, the client into a ``Task``. They take turns in rounds
(plain, client, client, plain, ...) so that a drift in the machine's load falls on
both alike.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import typing

import aiohttp
import attrs

import sora2pro
from benchmarks._harness import (
    API_KEY,
    CREATE,
    MODEL,
    RECORD_INFO,
    Figure,
    Result,
    cpu_seconds,
    emulators,
)

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from benchmarks._harness import EmulatorProcess

NAME = "overhead"

#: The status pacer lifted far above what the emulator can answer: the subject is what
#: one request costs through the client, not the account's budget.
UNPACED = attrs.evolve(sora2pro.DEFAULT_RATE_LIMITS, status_per_second=1e6)


@attrs.frozen
class Sizes:
    """How much to measure."""

    requests: int
    concurrency: int
    rounds: int
    warmup: int


FULL = Sizes(requests=20_000, concurrency=64, rounds=4, warmup=1_000)
SMOKE = Sizes(requests=200, concurrency=8, rounds=2, warmup=20)


@attrs.define
class Side:
    """The totals of one side over all its rounds."""

    seconds: float = 0.0
    cpu: float = 0.0
    emulator_cpu: float = 0.0
    emulator_seconds: float = 0.0


async def spread(
    call: Callable[[str], Awaitable[None]], task_ids: list[str], count: int, concurrency: int
) -> None:
    """``count`` calls, ``concurrency`` at a time, going round the task ids."""
    turns = iter(range(count))

    async def worker(task_id: str) -> None:
        for _ in turns:
            await call(task_id)

    await asyncio.gather(*(worker(task_ids[n % len(task_ids)]) for n in range(concurrency)))


async def measure(emulator: EmulatorProcess, side: Side, work: Awaitable[None]) -> None:
    """Await one round and add its wall time, CPU and the emulator's CPU to ``side``."""
    before = await emulator.stats()
    cpu, started = cpu_seconds(), time.monotonic()
    await work
    side.seconds += time.monotonic() - started
    side.cpu += cpu_seconds() - cpu
    after = await emulator.stats()
    side.emulator_cpu += after["cpu"] - before["cpu"]
    side.emulator_seconds += after["monotonic"] - before["monotonic"]


async def create_tasks(session: aiohttp.ClientSession, url: str, count: int) -> list[str]:
    body = {"model": MODEL, "input": {"prompt": "a benchmark"}}
    task_ids = []
    for _ in range(count):
        async with session.post(url + CREATE, json=body) as response:
            task_ids.append(json.loads(await response.read())["data"]["taskId"])
    return task_ids


async def run(*, smoke: bool) -> Result:
    sizes = SMOKE if smoke else FULL
    per_round = sizes.requests // sizes.rounds
    # Tasks that ended at once: every answer is a finished task, the largest one.
    async with (
        emulators({"duration": 0.0, "not_visible_for": 0.0}) as (emulator,),
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as session,
        sora2pro.Client(API_KEY, base_url=emulator.url, rate_limits=UNPACED) as client,
    ):
        task_ids = await create_tasks(session, emulator.url, sizes.concurrency)

        async def plain(task_id: str) -> None:
            async with session.get(emulator.url + RECORD_INFO, params={"taskId": task_id}) as got:
                payload = json.loads(await got.read())
            if payload["code"] != 200:
                raise RuntimeError(f"recordInfo answered {payload}")

        async def through_client(task_id: str) -> None:
            await client.get_task(task_id)

        sides = {plain: Side(), through_client: Side()}
        for call in sides:
            await spread(call, task_ids, sizes.warmup, sizes.concurrency)
        order = itertools.cycle([(plain, through_client), (through_client, plain)])
        for pair in itertools.islice(order, sizes.rounds):
            for call in pair:
                work = spread(call, task_ids, per_round, sizes.concurrency)
                await measure(emulator, sides[call], work)
    count = per_round * sizes.rounds
    return Result(figures(sides[plain], sides[through_client], count), attrs.asdict(sizes))


def figures(plain: Side, client: Side, count: int) -> list[Figure]:
    ratio = plain.seconds / client.seconds
    return [
        Figure("client / plain aiohttp throughput", ratio, "x", ">= 0.90", ratio >= 0.9),
        Figure("plain aiohttp throughput", count / plain.seconds, "req/s"),
        Figure("client throughput", count / client.seconds, "req/s"),
        Figure("plain aiohttp CPU per request", 1e6 * plain.cpu / count, "us"),
        Figure("client CPU per request", 1e6 * client.cpu / count, "us"),
        Figure(
            "emulator busy, plain aiohttp", 100 * plain.emulator_cpu / plain.emulator_seconds, "%"
        ),
        Figure("emulator busy, client", 100 * client.emulator_cpu / client.emulator_seconds, "%"),
    ]
