"""Callbacks on any replica: one received by process B ends the wait in process A."""

from __future__ import annotations

import asyncio
import contextlib
import typing

import pytest
import redis.asyncio

import sora2pro
from sora2pro.testing import Endpoint

from .conftest import FAST_LIMITS, FAST_RETRY, Coordinations, until
from .test_callbacks import DATA, post

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sora2pro.testing import Emulator

    from .redis_server import RedisServer

#: Where the stream of the tests' namespace is kept on Redis.
STREAM = "sora2pro:{account}:callbacks"


class Replica(typing.NamedTuple):
    """One process's client, with its own receiver and its own RedisCoordination."""

    client: sora2pro.Client
    receiver: sora2pro.CallbackReceiver


@pytest.fixture
async def replicas(
    emulator: Emulator, redis_server: RedisServer
) -> AsyncIterator[tuple[Replica, Replica]]:
    """Replicas A and B of one namespace: callbacks come with the default (patient) polls."""
    async with contextlib.AsyncExitStack() as stack:
        made = []
        for _ in range(2):
            coordination = sora2pro.RedisCoordination(redis_server.url, namespace="account")
            await stack.enter_async_context(coordination)
            receiver = await stack.enter_async_context(sora2pro.CallbackReceiver())
            client = sora2pro.Client(
                emulator.api_key,
                base_url=emulator.url,
                retry=FAST_RETRY,
                rate_limits=FAST_LIMITS,
                callbacks=receiver,
                coordination=coordination,
            )
            made.append(Replica(await stack.enter_async_context(client), receiver))
        yield made[0], made[1]


async def stream_length(redis_server: RedisServer) -> int:
    """How many confirmed ends the namespace's stream holds."""
    async with redis.asyncio.Redis.from_url(redis_server.url) as peek:
        return int(await peek.xlen(STREAM))


async def test_a_callback_on_b_ends_the_wait_on_a_with_one_status_request(
    emulator: Emulator, redis_server: RedisServer, replicas: tuple[Replica, Replica]
) -> None:
    """B confirms the callback it got and publishes it; A's wait ends on it, asking nothing."""
    a, b = replicas
    emulator.duration = None
    task_id = await a.client.submit("a dog", callback_url=b.receiver.url)
    waiting = asyncio.ensure_future(a.client.wait(task_id, timeout=30))
    emulator.finish(task_id)
    task = await waiting
    assert (task_id, sora2pro.TaskState.SUCCESS) == (task.id, task.state)
    assert task.result_urls
    assert b.receiver.result(task_id) is not None
    assert a.receiver.result(task_id) is None
    assert 1 == emulator.count(Endpoint.RECORD_INFO)
    assert 1 == await stream_length(redis_server)
    assert task_id not in a.client.pending


async def test_a_forged_callback_on_b_does_not_end_the_wait_on_a(
    emulator: Emulator, redis_server: RedisServer, replicas: tuple[Replica, Replica]
) -> None:
    """A forged success at B is refuted by its one check; A ends on the real (failed) end."""
    a, b = replicas
    emulator.duration = None
    emulator.not_visible_for = 0.0
    task_id = await a.client.submit("a dog", callback_url=b.receiver.url)
    waiting = asyncio.ensure_future(a.client.wait(task_id, timeout=30))
    assert 200 == await post(b.receiver, {"code": 200, "data": {**DATA, "taskId": task_id}})
    await until(lambda: emulator.count(Endpoint.RECORD_INFO) == 1)
    emulator.finish(task_id, success=False, fail_message="real end")
    # Had the forged success been published, A would have returned it.
    with pytest.raises(sora2pro.TaskFailedError, match="real end"):
        await waiting
    assert 2 == emulator.count(Endpoint.RECORD_INFO)
    assert 1 == await stream_length(redis_server)


async def test_the_stream_reader_survives_a_restart_of_redis(
    emulator: Emulator, redis_server: RedisServer, replicas: tuple[Replica, Replica]
) -> None:
    """Redis killed and started again between two tasks: the second still ends on A from B."""
    a, b = replicas
    emulator.duration = None
    for _ in range(2):
        task_id = await a.client.submit("a dog", callback_url=b.receiver.url)
        waiting = asyncio.ensure_future(a.client.wait(task_id, timeout=30))
        emulator.finish(task_id)
        assert sora2pro.TaskState.SUCCESS is (await waiting).state
        redis_server.restart()
    assert 2 == emulator.count(Endpoint.RECORD_INFO)


async def test_a_callback_on_b_ends_the_wait_of_a_process_without_a_receiver(
    emulator: Emulator, redis_server: RedisServer, replicas: tuple[Replica, Replica]
) -> None:
    """A worker with no receiver of its own waits: B's confirmed callback ends its wait."""
    _, b = replicas
    emulator.duration = None
    slow = sora2pro.PollPolicy(expected_duration=600.0)  # its own first poll is far off
    async with (
        sora2pro.RedisCoordination(redis_server.url, namespace="account") as coordination,
        sora2pro.Client(
            emulator.api_key,
            base_url=emulator.url,
            retry=FAST_RETRY,
            rate_limits=FAST_LIMITS,
            poll=slow,
            coordination=coordination,
        ) as worker,
    ):
        task_id = await worker.submit("a dog", callback_url=b.receiver.url)
        waiting = asyncio.ensure_future(worker.wait(task_id, timeout=30))
        emulator.finish(task_id)
        task = await waiting
    assert (task_id, sora2pro.TaskState.SUCCESS) == (task.id, task.state)
    assert 1 == emulator.count(Endpoint.RECORD_INFO)  # B's confirming fetch alone


class SwallowingClient:
    """A coordination's Redis client whose XREAD swallows a cancel, as redis-py sometimes does.

    The read runs on to its end and answers nothing.
    """

    def __init__(self, client: typing.Any) -> None:
        self._client = client
        self.swallowed = 0

    def __getattr__(self, name: str) -> typing.Any:
        return getattr(self._client, name)

    async def xread(self, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        """XREAD; a cancel meanwhile is counted and dropped once the read ends."""
        reading = asyncio.ensure_future(self._client.xread(*args, **kwargs))
        try:
            return await asyncio.shield(reading)
        except asyncio.CancelledError:
            self.swallowed += 1
            await reading
            return []


async def test_closing_ends_a_stream_reader_that_swallowed_its_cancel(
    coordinations: Coordinations,
) -> None:
    """A reader whose cancel the Redis client swallowed still stops: close() does not hang."""
    coordination = coordinations()
    bus = coordination.callback_bus()
    swallowing = SwallowingClient(bus._client)
    bus._client = swallowing  # type: ignore[assignment]
    waiting = bus.expect("t1")  # starts the reader, now blocked in XREAD
    await asyncio.sleep(0.05)
    async with asyncio.timeout(5):
        await bus.close()
    assert 1 == swallowing.swallowed
    assert bus._reader is not None
    assert bus._reader.done()
    waiting.cancel()
