"""Idempotency keys on Redis: one create per key for every process of a namespace."""

from __future__ import annotations

import asyncio
import typing

import pytest
import redis.asyncio

import sora2pro
from sora2pro._coordination._journal import request_digest
from sora2pro._wire import encode_create
from sora2pro._wire._converter import make_converter
from sora2pro.testing import Emulator, Endpoint, Fault

from . import redis_worker
from .conftest import Coordinations, fast_client, until

if typing.TYPE_CHECKING:
    from .redis_server import RedisServer

KEYS = [f"key-{n}" for n in range(20)]


def fingerprint(prompt: str) -> str:
    """The fingerprint a submit of a text-to-video ``prompt`` claims its key with."""
    return request_digest(encode_create(make_converter(), sora2pro.TextToVideo(prompt)))


async def test_two_instances_submitting_the_same_keys_at_once_create_once_each(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """Two clients on two instances submit the same 20 keys together: 20 creates, shared ids."""
    emulator.inject(Fault.delay(0.1), Endpoint.CREATE)
    async with (
        fast_client(emulator, coordination=coordinations()) as one,
        fast_client(emulator, coordination=coordinations()) as two,
    ):
        got = await asyncio.gather(
            *(client.submit("a dog", idempotency_key=key) for key in KEYS for client in (one, two))
        )
    assert got[0::2] == got[1::2]
    assert (20, 20) == (len(set(got)), emulator.count(Endpoint.CREATE))


async def test_two_processes_submitting_the_same_keys_at_once_create_once_each(
    emulator: Emulator, redis_server: RedisServer
) -> None:
    """Two processes submit the same 20 keys at the same moment: 20 creates, the same ids."""
    emulator.duration = None
    args = (emulator.url, redis_server.url, emulator.api_key, str(len(KEYS)), "keyed")
    workers = await redis_worker.start(2, *args)
    answers = [await worker.communicate() for worker in workers]
    assert [0, 0] == [worker.returncode for worker in workers]
    ids = [out.split() for out, _ in answers]
    assert ids[0] == ids[1]
    assert (20, 20) == (len(set(ids[0])), emulator.count(Endpoint.CREATE))


@pytest.mark.parametrize("in_flight", [False, True])
async def test_a_key_given_elsewhere_with_another_request_is_refused_at_once(
    emulator: Emulator, coordinations: Coordinations, *, in_flight: bool
) -> None:
    """A key another process used (or is using) for another prompt: IdempotencyConflictError."""
    if in_flight:
        emulator.inject(Fault.delay(0.5), Endpoint.CREATE)
    async with (
        fast_client(emulator, coordination=coordinations()) as one,
        fast_client(emulator, coordination=coordinations()) as two,
    ):
        first = asyncio.ensure_future(one.submit("a dog", idempotency_key="k"))
        await until(lambda: emulator.count(Endpoint.CREATE) == 1)
        with pytest.raises(sora2pro.IdempotencyConflictError):
            await two.submit("a cat", idempotency_key="k")
        assert in_flight != first.done()
        await first
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_waiter_gets_a_lost_answer_once_a_dead_holders_lease_ends(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """A claim left in flight past its lease (its process died): SubmitUncertainError, no create."""
    dead = coordinations(lease=0.2)
    assert await dead.idempotency().claim("k", fingerprint("a dog")) is None
    await dead.close()  # nothing renews the claim any more
    async with fast_client(emulator, coordination=coordinations()) as client:
        with pytest.raises(sora2pro.SubmitUncertainError):
            await client.submit("a dog", idempotency_key="k")
        with pytest.raises(sora2pro.SubmitUncertainError):
            await client.submit("a dog", idempotency_key="k")
    assert 0 == emulator.count(Endpoint.CREATE)


async def test_a_process_killed_with_a_create_on_the_wire_leaves_a_lost_answer(
    emulator: Emulator, coordinations: Coordinations, redis_server: RedisServer
) -> None:
    """SIGKILL of the process sending a key's create: after its lease, a repeat is uncertain."""
    emulator.inject(Fault.delay(3.0), Endpoint.CREATE)
    args = (emulator.url, redis_server.url, emulator.api_key, "1", "keyed", "0.3")
    [worker] = await redis_worker.start(1, *args)
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    worker.kill()
    await worker.wait()
    async with fast_client(emulator, coordination=coordinations(None)) as client:
        with pytest.raises(sora2pro.SubmitUncertainError):
            await client.submit("a dog", idempotency_key="key-0")
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_live_holder_keeps_its_key_past_the_lease(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """A create on the wire for several leases keeps its key: the waiter elsewhere gets its id."""
    emulator.inject(Fault.delay(1.5), Endpoint.CREATE)
    async with (
        fast_client(emulator, coordination=coordinations(lease=0.6)) as one,
        fast_client(emulator, coordination=coordinations()) as two,
    ):
        first = asyncio.ensure_future(one.submit("a dog", idempotency_key="k"))
        await until(lambda: emulator.count(Endpoint.CREATE) == 1)
        assert await two.submit("a dog", idempotency_key="k") == await first
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_create_refused_in_one_process_frees_the_key_for_another(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """The key's first create was refused: a submit in another process sends its own."""
    emulator.inject(Fault.error(402, message="no credits"), Endpoint.CREATE)
    async with (
        fast_client(emulator, coordination=coordinations()) as one,
        fast_client(emulator, coordination=coordinations()) as two,
    ):
        with pytest.raises(sora2pro.InsufficientCreditsError):
            await one.submit("a dog", idempotency_key="k")
        task_id = await two.submit("a dog", idempotency_key="k")
        assert task_id == await one.submit("a dog", idempotency_key="k")
    assert 2 == emulator.count(Endpoint.CREATE)


async def test_a_keyed_submit_sends_nothing_while_redis_is_down(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """Redis killed: a keyed submit raises CoordinationError and sends nothing."""
    async with fast_client(emulator, coordination=coordinations()) as client:
        await client.submit("a dog", idempotency_key="k")
        redis_server.kill()
        with pytest.raises(sora2pro.CoordinationError, match="not sent"):
            await client.submit("a cat", idempotency_key="k2")
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_key_is_free_again_after_its_time_to_live(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """Past RedisCoordination(idempotency_ttl=...) on Redis's clock, the key makes a new task."""
    async with fast_client(emulator, coordination=coordinations(idempotency_ttl=0.1)) as client:
        first = await client.submit("a dog", idempotency_key="k")
        await asyncio.sleep(0.3)  # past the key's time to live
        assert first != await client.submit("a dog", idempotency_key="k")
    assert 2 == emulator.count(Endpoint.CREATE)


async def test_the_idempotency_key_is_not_written_to_redis(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """Redis holds a hash of the key, never the key itself."""
    async with fast_client(emulator, coordination=coordinations()) as client:
        await client.submit("a dog", idempotency_key="secret-order-7")
    stored = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        keys = await stored.keys("*:key:*")
        dumped = [await stored.dump(key) for key in keys]
    finally:
        await stored.aclose()
    assert 1 == len(keys)
    assert all(
        b"secret-order" not in key + (value or b"") for key, value in zip(keys, dumped, strict=True)
    )


@pytest.mark.parametrize(
    "options", [{"lease": 0}, {"lease": None}, {"idempotency_ttl": -1.0}, {"lease": "30s"}]
)
def test_a_bad_lease_or_ttl_is_refused(options: dict[str, typing.Any]) -> None:
    """RedisCoordination takes a positive lease, and a positive ttl or None."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        sora2pro.RedisCoordination("redis://localhost", namespace="n", **options)
    assert set(options) == {caught.value.field}


async def test_a_claim_sent_again_after_its_answer_was_lost_takes_the_key_it_took(
    coordinations: Coordinations,
) -> None:
    """The claim script run twice with one token (redis-py's retry after a dropped answer) holds."""
    keys = coordinations().idempotency()
    first = await keys._claim_once("order-42", fingerprint("a dog"), "token-1")
    again = await keys._claim_once("order-42", fingerprint("a dog"), "token-1")
    assert [b"held"] == first
    assert [b"held"] == again
