"""Pending tasks on Redis: a process that dies leaves its tasks to one adopter."""

from __future__ import annotations

import asyncio
import logging
import typing

import pytest
import redis.asyncio

import sora2pro

from . import redis_worker
from .conftest import Coordinations, fast_client, until

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator

    from .redis_server import RedisServer

#: Seconds of a dead process's lease in these tests.
LEASE = 0.2


async def adopted_within(client: sora2pro.Client, seconds: float = 10.0) -> list[str]:
    """Adopt again every 50 ms until some task comes; fail after ``seconds``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not (adopted := await client.adopt_orphans()):
        assert loop.time() < end, "nothing adopted in time"
        await asyncio.sleep(0.05)
    return adopted


async def died_holding(coordinations: Coordinations, *task_ids: str) -> None:
    """An instance that kept ``task_ids`` (prompt "a cat") and then stopped renewing its lease."""
    dead = coordinations(lease=LEASE)
    for task_id in task_ids:
        dead.registry().add(task_id, sora2pro.TextToVideo("a cat"))
    await dead.close()  # its queued writes go out here, and its lease is renewed no more


async def test_tasks_of_a_killed_process_are_adopted_and_seen_to_end(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """SIGKILL of a process holding 3 tasks: after its lease, another adopts them and waits."""
    args = (emulator.url, redis_server.url, emulator.api_key, "3", "hold", str(LEASE))
    [worker] = await redis_worker.start(1, *args)
    assert worker.stdout is not None
    ids = (await worker.stdout.readline()).decode().split()
    worker.kill()
    await worker.wait()
    async with fast_client(emulator, coordination=coordinations(None)) as client:
        adopted = await adopted_within(client)
        assert (3, set(ids)) == (len(adopted), set(adopted))
        assert dict.fromkeys(ids, "a dog") == {
            task_id: request.prompt
            for task_id, request in client.pending.items()
            if isinstance(request, sora2pro.TextToVideo)
        }
        ended = await asyncio.gather(*(client.wait(task_id) for task_id in ids))
        assert [sora2pro.TaskState.SUCCESS] * 3 == [task.state for task in ended]
        assert {} == dict(client.pending)
        assert [] == await client.adopt_orphans()


async def test_a_live_process_keeps_its_tasks_past_its_lease(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """A live instance renews its lease: an adopter gets a dead one's task, never the live's."""
    emulator.duration = None
    async with (
        fast_client(emulator, coordination=coordinations(lease=0.5)) as live,
        fast_client(emulator, coordination=coordinations()) as adopter,
    ):
        mine = {await live.submit("a dog") for _ in range(3)}
        # Dead with a lease twice as long as the live one's: by the time it can be
        # adopted, the live one's first lease ended long ago.
        dead = coordinations(lease=1.0)
        dead.registry().add("dead-task", sora2pro.TextToVideo("a cat"))
        await dead.close()
        assert ["dead-task"] == await adopted_within(adopter)
        assert [] == await adopter.adopt_orphans()
        assert mine == set(live.pending)
        assert {"dead-task"} == set(adopter.pending)


async def test_two_adopters_at_once_split_the_orphans(coordinations: Coordinations) -> None:
    """Two instances adopting together: every orphan goes to exactly one of them."""
    orphans = {f"task-{n}" for n in range(12)}
    for n in range(0, 12, 2):
        await died_holding(coordinations, f"task-{n}", f"task-{n + 1}")
    await asyncio.sleep(2 * LEASE)  # every lease above has ended
    one, two = coordinations().registry(), coordinations().registry()
    first, second = await asyncio.gather(one.adopt(), two.adopt())
    assert (orphans, set()) == (set(first) | set(second), set(first) & set(second))
    assert (12, set(first), set(second)) == (
        len(first) + len(second),
        set(one.pending()),
        set(two.pending()),
    )


async def test_an_adopted_task_seen_to_end_is_not_adopted_again(
    coordinations: Coordinations,
) -> None:
    """A task adopted and then finished leaves Redis: the next adopter finds nothing."""
    await died_holding(coordinations, "t1", "t2")
    await asyncio.sleep(2 * LEASE)
    adopter = coordinations(lease=LEASE)
    registry = adopter.registry()
    assert ["t1", "t2"] == sorted(await registry.adopt())
    assert registry.finish("t1") == sora2pro.TextToVideo("a cat")
    await adopter.close()
    await asyncio.sleep(2 * LEASE)
    assert ["t2"] == await coordinations().registry().adopt()


async def test_with_a_local_coordination_nothing_is_orphaned(client: sora2pro.Client) -> None:
    """LocalCoordination: adopt_orphans() returns [] and leaves pending as it was."""
    task_id = await client.submit("a dog")
    assert [] == await client.adopt_orphans()
    assert [task_id] == list(client.pending)


async def test_adopting_while_redis_is_down_raises_coordination_error(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """Redis killed: adopt_orphans() raises CoordinationError, a typed error."""
    async with fast_client(emulator, coordination=coordinations()) as client:
        redis_server.kill()
        with pytest.raises(sora2pro.CoordinationError):
            await client.adopt_orphans()


async def test_a_pending_task_is_on_redis_without_the_api_key(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """A pending task's request is written to Redis; no key or value holds the API key."""
    coordination = coordinations(None)
    async with fast_client(emulator, coordination=coordination) as client:
        task_id = await client.submit("a secret dog")
        await coordination.settle()
        stored = redis.asyncio.Redis.from_url(redis_server.url)
        try:
            keys = await stored.keys("*")
            dumped = b"".join([key + (await stored.dump(key) or b"") for key in keys])
        finally:
            await stored.aclose()
    assert task_id.encode() in dumped
    assert b"a secret dog" in dumped
    assert emulator.api_key.encode() not in dumped


async def test_tasks_an_adoption_moved_but_never_reported_are_found_by_the_next(
    redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """Tasks an adopt moved here, its answer lost, are returned by the next adopt."""
    coordination = coordinations()
    registry = coordination.registry()
    registry.add("mine", sora2pro.TextToVideo("a dog"))
    assert [] == await registry.adopt()
    await coordination.settle()
    reader = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        [token] = await reader.zrange("sora2pro:{account}:owners", 0, -1)
        hash_name = b"sora2pro:{account}:tasks:" + token
        body = await reader.hget(hash_name, "mine")
        await reader.hset(hash_name, "moved", body)  # what the lost answer would have named
    finally:
        await reader.aclose()
    assert ["moved"] == await registry.adopt()
    assert {"mine", "moved"} == set(registry.pending())
    assert [] == await registry.adopt()


async def test_an_outage_is_warned_of_once_and_its_end_told(
    redis_server: RedisServer, coordinations: Coordinations, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis away: one warning however many renewals fail, one line when it works again."""
    caplog.set_level(logging.DEBUG, logger="sora2pro")
    registry = coordinations(lease=0.15).registry()
    registry.add("t1", sora2pro.TextToVideo("a dog"))
    renewing = "renewing the lease of this process's pending tasks"

    def told(level: int, text: str) -> int:
        return sum(
            1 for r in caplog.records if r.levelno == level and r.getMessage().startswith(text)
        )

    redis_server.kill()
    await until(lambda: told(logging.DEBUG, renewing) >= 3)
    assert 1 == told(logging.WARNING, renewing)
    redis_server.start()
    await until(lambda: told(logging.INFO, renewing) == 1)
    redis_server.kill()
    await until(lambda: told(logging.WARNING, renewing) == 2)


@pytest.mark.parametrize("body", ['{"model": "sora-9"}', "not json"])
async def test_a_task_of_an_unknown_request_is_adopted_once(
    redis_server: RedisServer, coordinations: Coordinations, body: str
) -> None:
    """A dead process's task whose request this version cannot read is returned by one adopt."""
    await died_holding(coordinations, "foreign")
    reader = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        [token] = await reader.zrange("sora2pro:{account}:owners", 0, -1)
        await reader.hset(b"sora2pro:{account}:tasks:" + token, "foreign", body)
    finally:
        await reader.aclose()
    registry = coordinations().registry()
    loop = asyncio.get_running_loop()
    end = loop.time() + 10.0
    while not (adopted := await registry.adopt()):  # until the dead one's lease ended
        assert loop.time() < end, "nothing adopted in time"
        await asyncio.sleep(0.05)
    assert ["foreign"] == adopted
    assert [] == await registry.adopt()
