"""RedisCoordination: several clients, each with its own instance, share one account on Redis."""

from __future__ import annotations

import asyncio
import bisect
import subprocess
import sys
import typing

import pytest
import redis.asyncio

import sora2pro
from benchmarks._harness import API_KEY, emulators
from sora2pro._wiring import account_of
from sora2pro.testing import Endpoint

from . import redis_worker
from .conftest import Coordinations, fast_client, until

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator

    from .redis_server import RedisServer


async def use(pacer: sora2pro.Coordination | typing.Any, urgency: float = 0.0) -> None:
    """Take a slot and send its request at once, as the transport does."""
    await pacer.acquire(urgency)
    pacer.sent()


def test_importing_sora2pro_does_not_import_redis() -> None:
    """The core runs without the redis extra: RedisCoordination is imported on first use."""
    code = "import sys, sora2pro; print('redis' in sys.modules, sora2pro.RedisCoordination)"
    out = subprocess.run(  # noqa: S603  # our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("False <class 'sora2pro._coordination._redis.RedisCoordination'>")


@pytest.mark.parametrize(
    ("shared", "expect_429"), [(True, False), (False, True)], ids=["one-namespace", "two"]
)
async def test_clients_of_one_namespace_share_the_status_budget(
    emulator: Emulator, coordinations: Coordinations, *, shared: bool, expect_429: bool
) -> None:
    """Two clients, each within the limit alone, answer no 429 together on one namespace.

    Each paces 40 status queries a second against a limit of 60 in any second: on
    two namespaces (the control) they send 80 a second and meet 429s.
    """
    emulator.duration = None
    emulator.status_limit = (60, 1.0)
    limits = sora2pro.RateLimits(creates=1000, window=1.0, status_per_second=40.0, pause=0.05)
    namespaces = ("account", "account" if shared else "other")
    clients = [
        fast_client(emulator, coordination=coordinations(name), rate_limits=limits)
        for name in namespaces
    ]
    async with clients[0] as one, clients[1] as two:
        task_ids = {client: [await client.submit("a dog") for _ in range(4)] for client in clients}
        waits = [
            asyncio.ensure_future(client.wait(task_id))
            for client, ids in task_ids.items()
            for task_id in ids
        ]
        await until(lambda: emulator.count(Endpoint.RECORD_INFO) >= 70, seconds=10.0)
        for ids in task_ids.values():
            for task_id in ids:
                emulator.finish(task_id)
        await asyncio.gather(*waits)
        del one, two
    assert expect_429 == (emulator.rate_limited[Endpoint.RECORD_INFO] > 0)


async def test_four_processes_generating_at_once_keep_within_the_accounts_limits(
    redis_server: RedisServer,
) -> None:
    """Four processes submitting and waiting at once: no 429, no window over the create limit.

    Each process alone paces 10 creates and 20 status queries a second; the emulator,
    in a process of its own, allows 15 and 30 in any second: unshared, the four would
    send 40 and 80. Their 24 creates span more than two windows, checked on the
    emulator's record of its creates.
    """
    config = {
        "duration": 0.3,
        "not_visible_for": 0.05,
        "create_limit": [15, 1.0],
        "status_limit": [30, 1.0],
    }
    async with emulators(config) as (emulator,):
        args = (emulator.url, redis_server.url, API_KEY, "6", "generate")
        workers = await redis_worker.start(4, *args)
        states = [await worker.stdout.readline() for worker in workers if worker.stdout]
        assert [0] * 4 == [await worker.wait() for worker in workers]
        stats = await emulator.stats()
    assert [b"success " * 5 + b"success\n"] * 4 == states
    limited = stats["rate_limited"]
    assert (0, 0) == (limited.get("createTask", 0), limited.get("recordInfo", 0))
    created = sorted(task["created"] for task in stats["tasks"])
    assert 24 == len(created)
    # The creates in [t, t + 1 s) for each create's time t: the busiest window.
    busiest = max(bisect.bisect_left(created, t + 1.0) - n for n, t in enumerate(created))
    assert busiest <= 15


async def test_a_hold_seen_by_one_instance_pauses_the_other(coordinations: Coordinations) -> None:
    """A 429 pause noted by one process holds every process of the namespace."""
    first = coordinations()
    one, two = first.pacer("recordInfo", 100.0), coordinations().pacer("recordInfo", 100.0)
    await use(two)  # Redis answers: the other instance gets slots
    one.hold(30.0)
    await first.settle()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await use(two)


async def test_a_slot_not_yet_sent_holds_back_the_other_instance(
    coordinations: Coordinations,
) -> None:
    """No process gets the next slot while the last one's request has not left."""
    one, two = (
        coordinations().pacer("createTask", 100.0),
        coordinations().pacer("createTask", 100.0),
    )
    await one.acquire()  # handed out; its request has not left (the grace is a second)
    waiting = asyncio.ensure_future(use(two))
    await asyncio.sleep(0.2)  # twenty intervals
    assert not waiting.done()
    one.sent()
    await waiting


async def test_within_a_process_the_most_urgent_waiter_gets_the_slot_first(
    coordinations: Coordinations,
) -> None:
    """The local priority order holds: higher urgency first, then arrival order."""
    pacer = coordinations().pacer("recordInfo", 50.0)
    await use(pacer)  # the next slot is 20 ms away: everyone below queues
    order: list[str] = []

    async def take(name: str, level: float) -> None:
        await use(pacer, level)
        order.append(name)

    waiters = [
        asyncio.create_task(take(name, level))
        for name, level in [("a", 0.0), ("b", 0.0), ("c", 5.0), ("d", 0.0), ("e", 1.0)]
    ]
    await asyncio.gather(*waiters)
    assert ["c", "e", "a", "b", "d"] == order


async def test_creates_fail_typed_and_send_nothing_while_redis_is_down(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """Redis killed: a submit raises CoordinationError, sends nothing; after a restart it goes."""
    emulator.duration = None
    async with fast_client(emulator, coordination=coordinations()) as client:
        await client.submit("a dog")
        redis_server.kill()
        with pytest.raises(sora2pro.CoordinationError, match="not sent"):
            await client.submit("a cat")
        assert 1 == emulator.count(Endpoint.CREATE)
        redis_server.restart()
        await client.submit("a bird")
        assert 2 == emulator.count(Endpoint.CREATE)


async def test_the_namespace_is_a_hash_of_the_key_and_the_key_is_never_written(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """Without a namespace, the key's hash names the account; no key or value holds the key."""
    coordination = coordinations(None)
    async with fast_client(emulator, coordination=coordination) as client:
        await client.wait(await client.submit("a dog"))
        await coordination.settle()
    assert account_of(emulator.api_key) == coordination.namespace
    assert emulator.api_key not in account_of(emulator.api_key)
    stored = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        keys = await stored.keys("*")
        dumped = [await stored.dump(key) for key in keys]
    finally:
        await stored.aclose()
    assert keys
    assert all(
        emulator.api_key.encode() not in (key + (value or b""))
        for key, value in zip(keys, dumped, strict=True)
    )


def test_one_instance_refuses_a_second_api_key(coordinations: Coordinations) -> None:
    """An instance named by one key's hash is not silently shared with another account."""
    coordination = coordinations(None)
    sora2pro.Client("key-one", coordination=coordination)
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        sora2pro.Client("key-two", coordination=coordination)
    assert "coordination" == caught.value.field


async def test_running_times_noted_by_one_process_reach_another(
    coordinations: Coordinations,
) -> None:
    """The duration log is shared: what one instance records, another's copy takes in."""
    one, two = coordinations(), coordinations()
    one.durations().record("sora-2 n_frames=10", 61.5)
    await one.settle()
    assert () == tuple(two.durations().recent("sora-2 n_frames=10"))  # read in the background
    await two.settle()
    assert [61.5] == list(two.durations().recent("sora-2 n_frames=10"))


async def test_running_times_stay_usable_while_redis_is_down(
    redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """Redis gone, the log still holds what this process noted; failed writes are only logged."""
    coordination = coordinations()
    redis_server.kill()
    coordination.durations().record("sora-2 n_frames=10", 61.5)
    coordination.durations().recent("sora-2 n_frames=10")
    await coordination.settle()
    assert [61.5] == list(coordination.durations().recent("sora-2 n_frames=10"))


@pytest.mark.parametrize(
    ("url", "namespace"),
    [("http://localhost", None), ("redis://localhost", ""), ("redis://localhost", "a{b}")],
)
def test_a_bad_url_or_namespace_is_refused(url: str, namespace: str | None) -> None:
    """RedisCoordination checks its arguments before any connection."""
    with pytest.raises(sora2pro.InvalidInputError):
        sora2pro.RedisCoordination(url, namespace=namespace)


@pytest.mark.parametrize(
    "option", [{"lease": 1e20}, {"idempotency_ttl": 1e20}, {"lease": 0}, {"idempotency_ttl": -1}]
)
def test_a_lease_or_ttl_redis_cannot_take_is_refused(option: dict[str, float]) -> None:
    """A lease or key time to live past 100 years (or not positive) is refused at once."""
    with pytest.raises(sora2pro.InvalidInputError, match=next(iter(option))):
        sora2pro.RedisCoordination("redis://localhost", **option)


def test_the_repr_shows_no_password() -> None:
    """A URL's password stays out of the repr."""
    shown = repr(sora2pro.RedisCoordination("redis://user:secret@db:6380/2", namespace="n"))
    assert "<sora2pro.RedisCoordination redis://db:6380/2 namespace='n'>" == shown


def make_with(given: str, url: str) -> object:
    """A RedisCoordination of ``url`` (``given`` "instance"), or a Client of it ("client")."""
    if given == "instance":
        return sora2pro.RedisCoordination(url)
    return sora2pro.Client("key", coordination=url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://:secret@db:port/0",
        "redis://:secret@db:99999/0",
        "unix:///tmp/redis.sock?db=x&password=secret",
        "redis://:secret@db/0?socket_timeout=soon",
        "http://user:secret@db:6379",
    ],
)
@pytest.mark.parametrize("given", ["instance", "client"])
def test_a_malformed_url_is_refused_typed_and_without_its_password(url: str, given: str) -> None:
    """A URL Redis cannot read raises InvalidInputError (no ValueError), its password unsaid."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        make_with(given, url)
    assert caught.value.field == ("url" if given == "instance" else "coordination")
    assert "secret" not in str(caught.value)
    assert "secret" not in repr(caught.value)


@pytest.mark.parametrize("option", ["socket_timeout=3600", "socket_connect_timeout=0"])
@pytest.mark.parametrize("given", ["instance", "client"])
def test_a_url_may_not_lift_the_coordinations_own_timeouts(option: str, given: str) -> None:
    """A timeout option in the URL would override the one that keeps Redis calls from hanging."""
    with pytest.raises(sora2pro.InvalidInputError, match=option.split("=", maxsplit=1)[0]):
        make_with(given, f"redis://localhost:6379/0?{option}")


class Swallowing:
    """A slow Redis script call that swallows a cancel, as redis-py's retry sometimes does."""

    def __init__(self, script: typing.Any) -> None:
        self._script = script
        self.entered = asyncio.Event()
        self.swallowed = 0

    async def __call__(self, **kwargs: typing.Any) -> typing.Any:
        """The script's answer, a little later; a cancel meanwhile is dropped."""
        self.entered.set()

        async def slow() -> typing.Any:
            await asyncio.sleep(0.2)
            return await self._script(**kwargs)

        calling = asyncio.ensure_future(slow())
        try:
            return await asyncio.shield(calling)
        except asyncio.CancelledError:
            self.swallowed += 1
            return await calling


async def test_closing_a_pacer_whose_driver_swallowed_its_cancel_ends(
    coordinations: Coordinations,
) -> None:
    """A slot request under way that swallows the close's cancel: close() still ends, typed."""
    coordination = coordinations()
    pacer = coordination.pacer("createTask", 10.0)
    slot = Swallowing(pacer._scripts["slot"])
    pacer._scripts["slot"] = slot
    waiting = asyncio.ensure_future(pacer.acquire())
    await slot.entered.wait()
    async with asyncio.timeout(5):
        await pacer.close()
    assert 1 == slot.swallowed
    with pytest.raises(sora2pro.CoordinationError):
        await waiting


async def test_closing_keys_whose_renewal_swallowed_its_cancel_ends(
    coordinations: Coordinations,
) -> None:
    """A key's lease renewal under way that swallows the close's cancel: close() still ends."""
    keys = coordinations(lease=0.3).idempotency()
    assert await keys.claim("order-1", "fingerprint") is None  # held: renewed every 0.1 s
    renew = Swallowing(keys._scripts["renew"])
    keys._scripts["renew"] = renew
    await renew.entered.wait()
    async with asyncio.timeout(5):
        await keys.close()
    assert 1 == renew.swallowed
