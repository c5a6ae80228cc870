"""Idempotency keys: a second submit with a key returns the first task and pays nothing."""

from __future__ import annotations

import asyncio
import logging
import typing

import pytest

import sora2pro
from sora2pro._coordination._local import KeyStore
from sora2pro.testing import Emulator, Endpoint, Fault

from . import files
from .conftest import fast_client, until


async def test_a_second_submit_with_a_key_returns_the_first_task(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """submit() twice with one key: the same task id, and one create sent."""
    first = await client.submit("a dog", idempotency_key="order-42")
    second = await client.submit("a dog", idempotency_key="order-42")
    assert (first, 1) == (second, emulator.count(Endpoint.CREATE))


async def test_different_keys_and_no_key_each_create(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Only a repeated key is deduplicated: other keys, and no key, create each time."""
    ids = {
        await client.submit("a dog", idempotency_key="one"),
        await client.submit("a dog", idempotency_key="two"),
        await client.submit("a dog"),
        await client.submit("a dog"),
    }
    assert (4, 4) == (len(ids), emulator.count(Endpoint.CREATE))


async def test_generate_with_a_used_key_waits_for_the_first_task(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """generate() with a key a submit used waits for that task and sends no create."""
    task_id = await client.submit("a dog", idempotency_key="order-42")
    task = await client.generate("a dog", idempotency_key="order-42")
    assert (task_id, 1) == (task.id, emulator.count(Endpoint.CREATE))


async def test_clients_sharing_a_coordination_share_keys(emulator: Emulator) -> None:
    """A key used by one client returns its task to another client of the same coordination."""
    shared = sora2pro.LocalCoordination()
    async with (
        fast_client(emulator, coordination=shared) as one,
        fast_client(emulator, coordination=shared) as two,
        fast_client(emulator) as apart,
    ):
        task_id = await one.submit("a dog", idempotency_key="k")
        assert task_id == await two.submit("a dog", idempotency_key="k")
        assert task_id != await apart.submit("a dog", idempotency_key="k")
    assert 2 == emulator.count(Endpoint.CREATE)


async def test_a_submit_waits_for_the_create_of_its_key_on_the_wire(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """While the key's first create is on the wire, a second submit waits for its task id."""
    emulator.inject(Fault.delay(0.3), Endpoint.CREATE)
    first = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    second = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    assert (await first, 1) == (await second, emulator.count(Endpoint.CREATE))


async def test_a_repeat_with_a_local_image_uploads_nothing(
    client: sora2pro.Client, emulator: Emulator, tmp_path: typing.Any
) -> None:
    """A keyed image-to-video request given again neither uploads its file nor creates."""
    request = sora2pro.ImageToVideo("a dog", image=files.write(tmp_path, "dog.png"))
    first = await client.submit(request, idempotency_key="k")
    assert first == await client.submit(request, idempotency_key="k")
    assert (1, 1) == (emulator.count(Endpoint.UPLOAD), emulator.count(Endpoint.CREATE))


@pytest.mark.parametrize("concurrent", [False, True])
async def test_a_lost_answer_makes_the_key_uncertain_for_every_submit(
    client: sora2pro.Client, emulator: Emulator, *, concurrent: bool
) -> None:
    """The key's first create lost its answer: later submits raise SubmitUncertainError too."""
    emulator.inject(Fault.disconnect(after_create=True).delayed(0.2), Endpoint.CREATE)
    first = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    if not concurrent:
        with pytest.raises(sora2pro.SubmitUncertainError):
            await first
    second = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    with pytest.raises(sora2pro.SubmitUncertainError) as caught:
        await second
    with pytest.raises(sora2pro.SubmitUncertainError):
        await first
    assert sora2pro.TextToVideo("a dog") == caught.value.request
    assert 1 == emulator.count(Endpoint.CREATE)


@pytest.mark.parametrize("concurrent", [False, True])
async def test_a_refused_create_frees_its_key(
    client: sora2pro.Client, emulator: Emulator, *, concurrent: bool
) -> None:
    """The key's first create was refused: the next submit with the key sends its own."""
    emulator.inject(Fault.error(402, message="no credits").delayed(0.2), Endpoint.CREATE)
    first = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    if not concurrent:
        with pytest.raises(sora2pro.InsufficientCreditsError):
            await first
    second = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    task_id = await second
    with pytest.raises(sora2pro.InsufficientCreditsError):
        await first
    assert ([task_id], 2) == (list(emulator.tasks), emulator.count(Endpoint.CREATE))


@pytest.mark.parametrize(
    "other",
    [{"prompt": "a cat"}, {"prompt": "a dog", "n_frames": 15}],
)
async def test_a_key_given_with_another_request_is_refused(
    client: sora2pro.Client, emulator: Emulator, other: dict[str, typing.Any]
) -> None:
    """A used key with another prompt or other options raises IdempotencyConflictError."""
    await client.submit("a dog", idempotency_key="k")
    with pytest.raises(sora2pro.IdempotencyConflictError) as caught:
        await client.submit(other.pop("prompt"), idempotency_key="k", **other)
    assert "idempotency_key" == caught.value.field
    assert isinstance(caught.value, sora2pro.InvalidInputError)
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_key_in_flight_with_another_request_is_refused_at_once(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A key whose create is on the wire, given with another request, is refused, not waited on."""
    emulator.inject(Fault.delay(0.5), Endpoint.CREATE)
    first = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    with pytest.raises(sora2pro.IdempotencyConflictError):
        await client.submit("a cat", idempotency_key="k")
    assert not first.done()
    await first


@pytest.mark.parametrize(
    "key", ["", "   ", " order", "order ", "a\nb", "tab\there", "x" * 256, 42, b"order", "\ud800"]
)
async def test_an_invalid_key_is_refused_before_anything_is_sent(
    client: sora2pro.Client, emulator: Emulator, key: object
) -> None:
    """A key that is not printable text of 1 to 255 characters is refused with nothing sent."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        await client.submit("a dog", idempotency_key=key)  # type: ignore[arg-type]
    with pytest.raises(sora2pro.InvalidInputError):
        await client.generate("a dog", idempotency_key=key)  # type: ignore[arg-type]
    assert ("idempotency_key", []) == (caught.value.field, emulator.requests)


async def test_the_longest_key_is_taken(client: sora2pro.Client, emulator: Emulator) -> None:
    """A key of 255 printable characters, spaces inside, is a valid key."""
    key = "order 42 " + "é" * 246
    assert await client.submit("a dog", idempotency_key=key) == await client.submit(
        "a dog", idempotency_key=key
    )
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_task_made_after_two_cancels_is_kept_under_its_key(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A keyed submit cancelled twice on the wire: its task is pending and kept under the key."""
    emulator.inject(Fault.delay(0.4), Endpoint.CREATE)
    running = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    running.cancel()
    await asyncio.sleep(0.05)  # now inside the wait for the create's answer
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    waiting = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    task_id = await waiting
    assert ([task_id], [task_id]) == (list(emulator.tasks), list(client.pending))
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_create_refused_after_two_cancels_frees_its_key(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A keyed submit cancelled twice, whose create is then refused, lets its key go."""
    emulator.inject(Fault.error(402, message="no credits").delayed(0.4), Endpoint.CREATE)
    running = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    running.cancel()
    await asyncio.sleep(0.05)  # now inside the wait for the create's answer
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    task_id = await client.submit("a dog", idempotency_key="k")
    assert ([task_id], 2) == (list(emulator.tasks), emulator.count(Endpoint.CREATE))


async def test_a_keyed_submit_cancelled_before_its_create_frees_the_key(
    emulator: Emulator,
) -> None:
    """Cancelled while waiting for a create slot, a keyed submit lets its key go: no create sent."""
    slow = sora2pro.RateLimits(creates=1, window=60.0)
    async with fast_client(emulator, rate_limits=slow) as client:
        await client.submit("a cat")
        waiting = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
        await asyncio.sleep(0.05)  # now waiting for the next create slot
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        with pytest.raises(sora2pro.TransportError, match="deadline"):
            await client.generate("a dog", idempotency_key="k", timeout=0.05)
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_waiter_of_a_key_cancelled_leaves_the_first_create_alone(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Cancelling a submit that waits on a key's create neither stops it nor loses its task."""
    emulator.inject(Fault.delay(0.3), Endpoint.CREATE)
    first = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    waiter = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    await asyncio.sleep(0.05)  # now waiting for the first create's outcome
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    task_id = await first
    assert task_id == await client.submit("a dog", idempotency_key="k")
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_waiter_of_a_key_stops_at_its_deadline(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """generate(timeout=...) waiting on a key's create on the wire ends at its deadline, unsent."""
    emulator.inject(Fault.delay(2.0), Endpoint.CREATE)
    first = asyncio.ensure_future(client.submit("a dog", idempotency_key="k"))
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    with pytest.raises(sora2pro.TransportError, match="idempotency key") as caught:
        await client.generate("a dog", idempotency_key="k", timeout=0.05)
    assert not caught.value.request_sent
    assert not first.done()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_batch_items_with_one_key_pay_once(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Batch items (mappings) with the same idempotency_key share one task; a bad key is theirs."""
    task_id = await client.submit("a dog", idempotency_key="k")
    results = await client.gather(
        [
            {"prompt": "a dog", "idempotency_key": "k"},
            {"prompt": "a dog", "idempotency_key": "k"},
            {"prompt": "a dog", "idempotency_key": ""},
            {"prompt": "a cat", "idempotency_key": "k"},
        ]
    )
    assert [task_id, task_id, None, None] == [r.task_id for r in results]
    assert [True, True, False, False] == [r.ok for r in results]
    assert isinstance(results[2].error, sora2pro.InvalidInputError)
    assert isinstance(results[3].error, sora2pro.IdempotencyConflictError)
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_journaled_batch_keeps_a_task_found_by_its_key(
    client: sora2pro.Client, emulator: Emulator, tmp_path: typing.Any
) -> None:
    """A batch item answered by its key is journaled: a rerun re-attaches it, sending nothing."""
    journal = tmp_path / "j.sqlite"
    task_id = await client.submit("a dog", idempotency_key="k")
    items = [{"prompt": "a dog", "idempotency_key": "k"}]
    first = await client.gather(items, journal=journal)
    again = await client.gather(items, journal=journal)
    assert [task_id] * 2 == [first[0].task_id, again[0].task_id]
    assert 1 == emulator.count(Endpoint.CREATE)


def test_to_request_leaves_the_items_key_out() -> None:
    """to_request() of a mapping with an idempotency_key gives the request alone."""
    item = {"prompt": "a dog", "idempotency_key": "k"}
    assert sora2pro.TextToVideo("a dog") == sora2pro.to_request(item)


def test_to_request_checks_the_items_key() -> None:
    """to_request() refuses a mapping whose idempotency_key is not a valid key."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        sora2pro.to_request({"prompt": "a dog", "idempotency_key": 42})
    assert "idempotency_key" == caught.value.field


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        """The time it was told."""
        return self.now


async def test_a_key_is_kept_until_its_time_and_free_at_that_moment() -> None:
    """A settled key is kept for ttl seconds after its answer, and is free at exactly ttl."""
    clock = Clock()
    keys = KeyStore(ttl=60.0, clock=clock)
    assert await keys.claim("k", "print") is None
    clock.now += 30.0  # the time on the wire does not count
    await keys.settle("k", "task-1")
    clock.now += 59.999
    assert sora2pro.KeyEntry("print", "task-1") == await keys.claim("k", "print")
    clock.now += 0.001
    assert await keys.claim("k", "print") is None


async def test_a_coordinations_ttl_frees_its_keys(emulator: Emulator) -> None:
    """Past LocalCoordination(idempotency_ttl=...), a key given again makes a new task."""
    async with fast_client(
        emulator, coordination=sora2pro.LocalCoordination(idempotency_ttl=0.01)
    ) as client:
        first = await client.submit("a dog", idempotency_key="k")
        await asyncio.sleep(0.05)  # past the key's time to live, whatever the load
        assert first != await client.submit("a dog", idempotency_key="k")
    assert 2 == emulator.count(Endpoint.CREATE)


async def test_a_key_with_no_ttl_is_kept_for_good() -> None:
    """LocalCoordination(idempotency_ttl=None) keeps every key for its whole life."""
    clock = Clock()
    keys = KeyStore(ttl=None, clock=clock)
    assert await keys.claim("k", "print") is None
    await keys.settle("k", None)
    clock.now += 1e9
    assert sora2pro.KeyEntry("print", None) == await keys.claim("k", "print")


async def test_a_released_key_goes_to_one_waiter_only() -> None:
    """A key let go with two submits waiting: the first takes it, the second waits on it."""
    keys = KeyStore(ttl=60.0)
    assert await keys.claim("k", "print") is None
    one = asyncio.ensure_future(keys.claim("k", "print"))
    two = asyncio.ensure_future(keys.claim("k", "print"))
    await asyncio.sleep(0)
    await keys.release("k")
    assert await one is None
    await asyncio.sleep(0)
    assert not two.done()
    await keys.settle("k", "task-1")
    assert sora2pro.KeyEntry("print", "task-1") == await two


@pytest.mark.parametrize("ttl", [0, -1.0, float("inf"), "1h"])
def test_a_bad_key_ttl_is_refused(ttl: object) -> None:
    """LocalCoordination(idempotency_ttl=...) takes positive seconds or None."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        sora2pro.LocalCoordination(idempotency_ttl=ttl)  # type: ignore[arg-type]
    assert "idempotency_ttl" == caught.value.field


async def test_keys_stay_out_of_the_logs(
    client: sora2pro.Client, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the API key nor an idempotency key is written to a log line."""
    caplog.set_level(logging.DEBUG)
    emulator.inject(Fault.disconnect(after_create=True), Endpoint.CREATE)
    with pytest.raises(sora2pro.SubmitUncertainError):
        await client.submit("a dog", idempotency_key="secret-order-7")
    with pytest.raises(sora2pro.SubmitUncertainError):
        await client.submit("a dog", idempotency_key="secret-order-7")
    await client.generate("a cat", idempotency_key="secret-order-8")
    await client.submit("a cat", idempotency_key="secret-order-8")
    logged = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
    assert caplog.records
    assert emulator.api_key not in logged
    assert "secret-order" not in logged
