"""A Client on Redis: made from a URL, going on when Redis fails, and checking its settings."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import typing

import pytest
import redis.asyncio

import sora2pro
from sora2pro._wiring import account_of
from sora2pro.testing import Endpoint

from .conftest import fast_client, until

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator

    from .redis_server import RedisServer

SETTINGS_EVENT = "redis_settings"


async def connections(server: RedisServer) -> int:
    """How many clients the server has connected, besides the one asking."""
    probe = redis.asyncio.Redis.from_url(server.url)
    try:
        return len(await probe.client_list()) - 1
    finally:
        await probe.aclose()


async def until_async(condition: typing.Callable[[], typing.Awaitable[bool]]) -> None:
    """Wait for an async ``condition`` to hold, asking again every few ms; fail after 10 s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 10.0
    while not await condition():  # Redis's keys and clients have no event
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("given", ["url", "instance"])
async def test_the_client_closes_the_coordination_it_made_from_a_url(
    emulator: Emulator, redis_server: RedisServer, given: str
) -> None:
    """A URL gives the client a RedisCoordination it closes; an instance passed in stays open."""
    coordination = sora2pro.RedisCoordination(redis_server.url)
    try:
        client = fast_client(
            emulator, coordination=redis_server.url if given == "url" else coordination
        )
        async with client:
            await client.wait(await client.submit("a dog"))
            assert await connections(redis_server) >= 1

        async def closed() -> bool:
            return await connections(redis_server) == 0

        if given == "url":
            await until_async(closed)
        else:
            assert await connections(redis_server) >= 1
    finally:
        await coordination.close()


async def test_a_url_coordination_paces_on_redis_under_the_keys_hash(
    emulator: Emulator, redis_server: RedisServer
) -> None:
    """A URL gives a RedisCoordination named by the API key's hash, as an instance would be."""
    async with fast_client(emulator, coordination=redis_server.url) as client:
        await client.wait(await client.submit("a dog"))
    stored = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        keys = sorted(await stored.keys("*pacer*"))
    finally:
        await stored.aclose()
    prefix = f"sora2pro:{{{account_of(emulator.api_key)}}}:pacer:".encode()
    assert [prefix + b"createTask", prefix + b"recordInfo"] == keys


@pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379", "", "redis"])
def test_a_string_that_is_not_a_redis_url_is_refused(url: str) -> None:
    """A coordination string must be a Redis URL; it is checked before the API key is."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        sora2pro.Client("", coordination=url)
    assert "coordination" == caught.value.field


def test_without_the_redis_extra_a_url_says_what_to_install() -> None:
    """Without the redis package, a Redis URL (or RedisCoordination) names the extra to install."""
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import sora2pro\n"
        "try:\n"
        "    sora2pro.Client('key', coordination='redis://localhost:6379/0')\n"
        "except sora2pro.InvalidInputError as exc:\n"
        "    print(exc)\n"
        "try:\n"
        "    sora2pro.RedisCoordination\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(  # noqa: S603  # our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert 2 == len(out)
    assert all("pip install 'sora2pro[redis]'" in line for line in out)
    assert out[0].startswith("coordination: ")


async def test_waits_poll_on_while_redis_is_down_and_creates_wait_for_it(
    emulator: Emulator, redis_server: RedisServer
) -> None:
    """Redis killed: a wait keeps polling and ends, a create is refused unsent; then both rejoin."""
    emulator.duration = None
    async with fast_client(emulator, coordination=redis_server.url) as client:
        task_id = await client.submit("a dog")
        waiting = asyncio.ensure_future(client.wait(task_id))
        await until(lambda: emulator.count(Endpoint.RECORD_INFO) >= 2)
        redis_server.kill()
        polled = emulator.count(Endpoint.RECORD_INFO)
        await until(lambda: emulator.count(Endpoint.RECORD_INFO) >= polled + 3)
        with pytest.raises(sora2pro.CoordinationError):
            await client.submit("a cat")
        assert 1 == emulator.count(Endpoint.CREATE)
        emulator.finish(task_id)
        assert sora2pro.TaskState.SUCCESS == (await waiting).state

        redis_server.restart()
        second = await client.submit("a bird")
        assert 2 == emulator.count(Endpoint.CREATE)
        waiting = asyncio.ensure_future(client.wait(second))
        shared = redis.asyncio.Redis.from_url(redis_server.url)
        try:

            async def status_pace_on_redis() -> bool:
                return bool(await shared.keys("*pacer:recordInfo"))

            await until_async(status_pace_on_redis)
        finally:
            await shared.aclose()
        emulator.finish(second)
        await waiting


@pytest.mark.parametrize("name", ["createTask", "recordInfo"])
async def test_slots_of_a_closed_coordination_are_refused(
    redis_server: RedisServer, name: str
) -> None:
    """After close, a pacer neither reconnects nor falls back: its callers get CoordinationError."""
    coordination = sora2pro.RedisCoordination(redis_server.url, namespace="account")
    pacer = coordination.pacer(name, 100.0)
    await coordination.close()
    with pytest.raises(sora2pro.CoordinationError, match="closed"):
        await pacer.acquire()


def settings_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages of the warnings about Redis's settings logged so far."""
    return [
        record.getMessage()
        for record in caplog.records
        if getattr(record, "event", None) == SETTINGS_EVENT
    ]


async def test_an_evicting_redis_is_warned_about_once(
    emulator: Emulator,
    start_redis: typing.Callable[..., RedisServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Redis that may evict keys and keeps nothing on disk gets one warning naming both."""
    server = start_redis("--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru")
    caplog.set_level(logging.WARNING, logger="sora2pro")
    async with sora2pro.RedisCoordination(server.url) as coordination:
        for _ in range(2):
            async with fast_client(emulator, coordination=coordination) as client:
                await client.wait(await client.submit("a dog"))
        await coordination.settle()
    [message] = settings_warnings(caplog)
    assert "allkeys-lru" in message
    assert "appendonly" in message


@pytest.mark.parametrize(
    "args",
    [
        ("--appendonly", "yes", "--maxmemory", "100mb", "--maxmemory-policy", "noeviction"),
        ("--save", "3600 1", "--maxmemory-policy", "allkeys-lru"),  # no maxmemory: no eviction
        ("--rename-command", "CONFIG", ""),  # as managed services do
    ],
    ids=["safe", "unbounded", "config-disabled"],
)
async def test_a_safe_or_unreadable_redis_gets_no_warning(
    emulator: Emulator,
    start_redis: typing.Callable[..., RedisServer],
    caplog: pytest.LogCaptureFixture,
    args: tuple[str, ...],
) -> None:
    """A Redis that keeps its keys, or whose CONFIG is disabled, is used without a warning."""
    server = start_redis(*args)
    caplog.set_level(logging.WARNING, logger="sora2pro")
    async with fast_client(emulator, coordination=server.url) as client:
        await client.wait(await client.submit("a dog"))
    # Closing the client closed its coordination, which waits for the settings' check.
    assert [] == settings_warnings(caplog)
    assert [] == [r for r in caplog.records if r.levelno >= logging.WARNING]
