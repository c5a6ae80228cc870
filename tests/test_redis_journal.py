"""A batch journal on Redis: runs in several processes split the items, and pay once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing

import pytest

import sora2pro
from sora2pro._coordination._journal import request_digest
from sora2pro._coordination._protocols import Entry, Status
from sora2pro._flows._rows import prepare
from sora2pro._wire import encode_create, make_converter
from sora2pro.testing import Endpoint

from . import redis_worker
from .conftest import Coordinations, fast_client, until

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator

    from .redis_server import RedisServer

#: Seconds of a run's lease in these tests: a dead run's items are free soon after.
LEASE = 0.3
PROMPTS = [f"a dog, take {n}" for n in range(12)]


def created(emulator: Emulator) -> list[str]:
    """The prompts of every create the emulator took, in order."""
    bodies = typing.cast("list[dict[str, typing.Any]]", emulator.create_bodies)
    return [body["input"]["prompt"] for body in bodies]


async def run(
    client: sora2pro.Client, journal: object, **options: typing.Any
) -> list[sora2pro.BatchResult]:
    """Every result a batch of PROMPTS with ``journal`` yields."""
    return await run_prompts(client, PROMPTS, journal, **options)


async def run_prompts(
    client: sora2pro.Client, prompts: list[str], journal: object, **options: typing.Any
) -> list[sora2pro.BatchResult]:
    """Every result a batch of ``prompts`` with ``journal`` yields."""
    batch = client.batch(prompts, journal=journal, **options)  # type: ignore[arg-type]
    async with contextlib.aclosing(batch) as results:
        return [result async for result in results]


async def test_two_runs_at_once_split_the_items_and_pay_once(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """Two runs of one batch on one Redis journal: each item created once, yielded by one run."""
    first, second = coordinations(lease=LEASE), coordinations(lease=LEASE)
    async with (
        fast_client(emulator, coordination=first) as one,
        fast_client(emulator, coordination=second) as two,
    ):
        ours, theirs = await asyncio.gather(
            run(one, first.journal("campaign"), concurrency=3),
            run(two, second.journal("campaign"), concurrency=3),
        )
    assert sorted(PROMPTS) == sorted(created(emulator))
    indices = [result.index for result in ours + theirs]
    assert sorted(indices) == list(range(len(PROMPTS)))
    assert ours
    assert theirs
    assert all(result.ok for result in ours + theirs)


async def test_a_rerun_yields_every_outcome_and_sends_no_create(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """After a run ended, a run on the same journal re-attaches each task and creates nothing."""
    coordination = coordinations(lease=LEASE)
    async with fast_client(emulator, coordination=coordination) as client:
        first = await run(client, coordination.journal("campaign"))
        again = await run(client, coordination.journal("campaign"), ordered=True)
    assert len(PROMPTS) == len(created(emulator))
    assert list(range(len(PROMPTS))) == [result.index for result in again]
    assert {r.index: r.task_id for r in first} == {r.index: r.task_id for r in again}


async def test_ordered_runs_skip_the_items_another_run_yields(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """An ordered run yields its own items in order, and never waits for another run's."""
    first, second = coordinations(lease=LEASE), coordinations(lease=LEASE)
    async with (
        fast_client(emulator, coordination=first) as one,
        fast_client(emulator, coordination=second) as two,
    ):
        ours, theirs = await asyncio.gather(
            run(one, first.journal("campaign"), ordered=True, concurrency=2),
            run(two, second.journal("campaign"), ordered=True, concurrency=2),
        )
    for results in (ours, theirs):
        assert sorted(r.index for r in results) == [r.index for r in results]
    assert sorted(r.index for r in ours + theirs) == list(range(len(PROMPTS)))


async def test_journals_of_other_names_are_apart(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """A batch on another journal name shares nothing: it creates every item again."""
    coordination = coordinations(lease=LEASE)
    async with fast_client(emulator, coordination=coordination) as client:
        await run(client, coordination.journal("spring"))
        await run(client, coordination.journal("autumn"))
    assert 2 * len(PROMPTS) == len(created(emulator))


async def test_a_run_that_cannot_reach_redis_sends_nothing(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """With Redis gone before the run starts, the batch raises CoordinationError; nothing sent."""
    coordination = coordinations(lease=LEASE)
    async with fast_client(emulator, coordination=coordination) as client:
        redis_server.kill()
        with pytest.raises(sora2pro.CoordinationError):
            await run(client, coordination.journal("campaign"))
    assert [] == created(emulator)


async def test_a_journal_on_redis_holds_no_api_key(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """Every value the journal wrote to Redis is free of the API key."""
    import redis.asyncio  # noqa: PLC0415  # the redis extra, a dev dependency

    coordination = coordinations(lease=LEASE)
    async with fast_client(emulator, coordination=coordination) as client:
        await run(client, coordination.journal("campaign"))
    reader = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        keys = [key async for key in reader.scan_iter(match="*journal*")]
        assert keys
        for key in keys:
            dump = repr(await reader.dump(key)) + repr(key)
            assert emulator.api_key not in dump
    finally:
        await reader.aclose()


@pytest.mark.parametrize(
    ("name", "ttl"),
    [("", 1.0), ("x" * 201, 1.0), ("a\nb", 1.0), (7, 1.0), ("ok", 0), ("ok", None), ("ok", 1e20)],
)
async def test_a_bad_journal_name_or_ttl_is_refused(
    coordinations: Coordinations, name: object, ttl: object
) -> None:
    """A journal's name must be printable text of 1 to 200 characters, its ttl up to 100 years."""
    with pytest.raises(sora2pro.InvalidInputError):
        coordinations().journal(name, ttl=ttl)  # type: ignore[arg-type]


async def test_three_processes_one_killed_every_item_created_at_most_once(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """3 processes on one journal, one killed mid-way: no item created twice, all known after."""
    args = (
        emulator.url,
        redis_server.url,
        emulator.api_key,
        str(len(PROMPTS)),
        "journal",
        str(LEASE),
    )
    workers = await redis_worker.start(3, *args)
    victim = workers[0]
    assert victim.stdout is not None
    await victim.stdout.readline()  # it handled an item: it is mid-way
    victim.kill()
    await victim.wait()
    for worker in workers[1:]:
        assert worker.stdout is not None
        lines = (await worker.stdout.read()).decode().splitlines()
        assert "end" == lines[-1]
        assert 0 == await worker.wait()
    prompts = created(emulator)
    assert len(set(prompts)) == len(prompts)
    coordination = coordinations(None, lease=LEASE)
    async with fast_client(emulator, coordination=coordination) as client:
        outcomes = await run(client, coordination.journal("shared"), ordered=True)
    assert prompts == created(emulator)  # the rerun sent nothing
    assert list(range(len(PROMPTS))) == [result.index for result in outcomes]
    for result in outcomes:
        assert result.ok or isinstance(result.error, sora2pro.SubmitUncertainError)


async def test_redis_killed_mid_batch_then_restarted_nothing_unpaced_nothing_paid_twice(
    emulator: Emulator, start_redis: typing.Callable[..., RedisServer]
) -> None:
    """Redis killed mid-batch, then restarted: no create unpaced or twice, the batch goes on."""
    server = start_redis("--appendonly", "yes", "--appendfsync", "always")
    emulator.create_limit = (6, 1.0)
    limits = sora2pro.RateLimits(creates=5, window=1.0, status_per_second=1000.0, pause=0.05)
    prompts = [f"a dog, take {n}" for n in range(16)]
    results: list[sora2pro.BatchResult] = []
    async with (
        sora2pro.RedisCoordination(server.url, namespace="account", lease=LEASE) as coordination,
        fast_client(emulator, coordination=coordination, rate_limits=limits) as client,
    ):
        batch = client.batch(prompts, journal=coordination.journal("outage"), concurrency=4)
        async with contextlib.aclosing(batch) as stream:
            async for result in stream:
                results.append(result)
                if len(results) == 2:
                    server.kill()
                elif not server.running and isinstance(result.error, sora2pro.CoordinationError):
                    server.start()
        after = len(created(emulator))
        rerun = await run_prompts(client, prompts, coordination.journal("outage"))
    assert 0 == emulator.rate_limited[Endpoint.CREATE]
    sent = created(emulator)
    assert len(set(sent)) == len(sent)
    assert any(r.ok for r in results[-4:])  # it went on after the restart
    assert all(r.ok or isinstance(r.error, sora2pro.CoordinationError) for r in results)
    unsent = {r.index for r in results if not r.ok}
    assert len(sent) - after == len(unsent & {r.index for r in rerun if r.ok and r.task_id})
    assert all(r.ok or isinstance(r.error, sora2pro.SubmitUncertainError) for r in rerun)


async def _lapse(redis_server: RedisServer, runs: str, token: str) -> None:
    """End the lease of the run ``token`` on Redis's books, as renewals that failed would."""
    import redis.asyncio  # noqa: PLC0415  # the redis extra, a dev dependency

    reader = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        assert 1 == await reader.zadd(runs, {token: 0}, xx=True, ch=True)
    finally:
        await reader.aclose()


async def _only_run(redis_server: RedisServer, runs: str) -> str:
    """The token of the one run that holds a lease on the journal."""
    import redis.asyncio  # noqa: PLC0415  # the redis extra, a dev dependency

    reader = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        [token] = await reader.zrange(runs, 0, -1)
    finally:
        await reader.aclose()
    return typing.cast("bytes", token).decode()


RUNS = "sora2pro:{account}:journal:campaign:runs"
ITEM = ("digest", 0)


async def _write(ledger: typing.Any, status: Status, **fields: typing.Any) -> None:
    """Write the row of ITEM through ``ledger`` and wait until Redis took it."""
    await asyncio.wrap_future(ledger.record_soon(ITEM, 0, {"a": 1}, status, **fields))


async def test_a_live_run_whose_lease_lapsed_may_not_send_an_item_another_run_took(
    redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """A run whose lease lapsed while it lived cannot mark SENDING an item another run took."""
    one = await coordinations(lease=30.0).journal("campaign").open_run()
    token = await _only_run(redis_server, RUNS)
    two = await coordinations(lease=30.0).journal("campaign").open_run()
    try:
        assert await one.claim(*ITEM) is None  # the item is one's, no row yet
        await _lapse(redis_server, RUNS, token)
        assert await two.claim(*ITEM, again=True) is None  # one is dead to Redis: two takes it
        await _write(two, Status.SENDING)
        with pytest.raises(sora2pro.CoordinationError, match="another run"):
            await _write(one, Status.SENDING)  # one's create would be a second one
    finally:
        await one.close()
        await two.close()


async def test_a_run_that_lost_its_item_does_not_overwrite_the_row_of_the_run_that_took_it(
    redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """A stale run's REFUSED row never hides the taker's create on the wire from a rerun."""
    one = await coordinations(lease=30.0).journal("campaign").open_run()
    token = await _only_run(redis_server, RUNS)
    two = await coordinations(lease=30.0).journal("campaign").open_run()
    try:
        assert await one.claim(*ITEM) is None
        await _lapse(redis_server, RUNS, token)
        assert await two.claim(*ITEM, again=True) is None
        await _write(two, Status.SENDING)  # two's create is on the wire
        with contextlib.suppress(sora2pro.CoordinationError):
            await _write(one, Status.REFUSED, error="cancelled unsent")
    finally:
        await one.close()
        await two.close()
    rerun = await coordinations(lease=30.0).journal("campaign").open_run()
    try:
        assert Entry(Status.SENDING, None) == await rerun.claim(*ITEM)
    finally:
        await rerun.close()


async def test_a_task_id_a_run_got_reaches_the_row_even_after_it_lost_the_item(
    redis_server: RedisServer, coordinations: Coordinations, caplog: pytest.LogCaptureFixture
) -> None:
    """A task id got after the run's lease lapsed reaches the row (or the log, if one is there)."""
    one = await coordinations(lease=30.0).journal("campaign").open_run()
    token = await _only_run(redis_server, RUNS)
    two = await coordinations(lease=30.0).journal("campaign").open_run()
    try:
        assert await one.claim(*ITEM) is None
        await _write(one, Status.SENDING)
        await _lapse(redis_server, RUNS, token)
        assert Entry(Status.SENDING, None) == await two.claim(*ITEM, again=True)
        await _write(one, Status.SUBMITTED, task_id="task-1")
        await _write(one, Status.SUCCEEDED, task_id="task-1")
        with (
            caplog.at_level(logging.WARNING, logger="sora2pro"),
            pytest.raises(sora2pro.CoordinationError, match="another run"),
        ):
            await _write(one, Status.FAILED, task_id="task-2")  # not the row's task
        assert any("task-2" in record.getMessage() for record in caplog.records)
    finally:
        await one.close()
        await two.close()
    rerun = await coordinations(lease=30.0).journal("campaign").open_run()
    try:
        assert Entry(Status.SUCCEEDED, "task-1") == await rerun.claim(*ITEM)
    finally:
        await rerun.close()


async def _hold(ledger: typing.Any, prompts: list[str]) -> None:
    """Claim the items of a batch of ``prompts`` for ``ledger``'s run, as a live run would."""
    for _, _, _, book in prepare(prompts, ledger, make_converter()):
        assert book is not None
        assert await book.claim(again=False) is None


async def test_items_taken_over_from_a_run_that_ended_wait_for_a_slot(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """Items another run held, once taken over, still start one at a time under concurrency=1."""
    prompts = PROMPTS[:5]
    holder = await coordinations(lease=30.0).journal("campaign").open_run()
    await _hold(holder, prompts[:4])
    coordination = coordinations(lease=LEASE)
    in_flight_at_first_result = None
    async with fast_client(emulator, coordination=coordination) as client:
        batch = client.batch(prompts, journal=coordination.journal("campaign"), concurrency=1)
        async with contextlib.aclosing(batch) as results:
            consumer = asyncio.ensure_future(anext(results))
            # Item 4 is created only once items 0 to 3 each gave up their slot.
            await until(lambda: len(created(emulator)) == 1)
            await holder.close()  # the holder ended: its four items are free
            first = await consumer
            in_flight_at_first_result = len(created(emulator))
            rest = [result async for result in results]
    assert 4 == first.index
    assert 1 == in_flight_at_first_result
    assert sorted(prompts) == sorted(created(emulator))
    assert [0, 1, 2, 3] == sorted(result.index for result in rest)


async def _runs(redis_server: RedisServer, runs: str) -> int:
    """How many runs hold a lease on the journal."""
    import redis.asyncio  # noqa: PLC0415  # the redis extra, a dev dependency

    reader = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        return typing.cast("int", await reader.zcard(runs))
    finally:
        await reader.aclose()


async def _until_runs(redis_server: RedisServer, count: int) -> None:
    """Wait until ``count`` runs hold a lease on the journal; fail after 5 s."""
    async with asyncio.timeout(5.0):
        while count != await _runs(redis_server, RUNS):  # noqa: ASYNC110  # Redis has no event
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("ordered", [False, True])
async def test_cancelling_twice_a_run_waiting_for_items_held_elsewhere_ends_it(
    emulator: Emulator,
    redis_server: RedisServer,
    coordinations: Coordinations,
    ordered: bool,
) -> None:
    """A consumer cancelled twice while every item is held by a live run: the run ends, unpaid."""
    holder = await coordinations(lease=30.0).journal("campaign").open_run()
    await _hold(holder, PROMPTS[:3])
    coordination = coordinations(lease=LEASE)
    try:
        async with fast_client(emulator, coordination=coordination) as client:
            batch = client.batch(
                PROMPTS[:3], journal=coordination.journal("campaign"), ordered=ordered
            )
            pulling = asyncio.ensure_future(anext(batch))
            await _until_runs(redis_server, 2)  # the run is under way
            await asyncio.sleep(3 * LEASE)  # a few looks at the held items
            pulling.cancel()
            await asyncio.sleep(0)
            pulling.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pulling
            await batch.aclose()
            assert 1 == await _runs(redis_server, RUNS)  # only the holder's lease is left
    finally:
        await holder.close()
    assert [] == created(emulator)


async def test_closing_the_client_ends_a_run_waiting_for_items_held_elsewhere(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """client.close() while every item is held by a live run: the consumer gets a typed error."""
    holder = await coordinations(lease=30.0).journal("campaign").open_run()
    await _hold(holder, PROMPTS[:3])
    coordination = coordinations(lease=LEASE)
    try:
        client = fast_client(emulator, coordination=coordination)
        batch = client.batch(PROMPTS[:3], journal=coordination.journal("campaign"), ordered=True)
        pulling = asyncio.ensure_future(anext(batch))
        await _until_runs(redis_server, 2)  # the run is under way
        await client.close()
        with pytest.raises(sora2pro.Sora2ProError, match="closed"):
            await pulling
        await batch.aclose()
        assert 1 == await _runs(redis_server, RUNS)  # only the holder's lease is left
    finally:
        await holder.close()
    assert [] == created(emulator)


async def test_a_batch_whose_lease_lapsed_mid_item_sends_no_create_for_an_item_taken_over(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """A run loses its lease between claim and create, another run takes the item: no create."""
    import redis.asyncio  # noqa: PLC0415  # the redis extra, a dev dependency

    item = {"prompt": "a dog", "idempotency_key": "k"}
    digest = request_digest(encode_create(make_converter(), sora2pro.TextToVideo("a dog")))
    keys = coordinations(lease=30.0).idempotency()
    assert await keys.claim("k", digest) is None  # the run's submit will wait on this key
    coordination = coordinations(lease=300.0)  # its first renewal would come long after the test
    reader = redis.asyncio.Redis.from_url(redis_server.url)
    row = f"sora2pro:{{account}}:journal:campaign:item:{digest}:0"
    try:
        async with fast_client(emulator, coordination=coordination) as client:
            batch = client.batch([item], journal=coordination.journal("campaign"))
            async with contextlib.aclosing(batch) as results:
                pulling = asyncio.ensure_future(anext(results))
                async with asyncio.timeout(5.0):
                    while not await reader.hexists(row, "owner"):  # noqa: ASYNC110
                        await asyncio.sleep(0.005)
                await _lapse(redis_server, RUNS, await _only_run(redis_server, RUNS))
                taker = await coordinations(lease=30.0).journal("campaign").open_run()
                try:
                    assert await taker.claim(digest, 0, again=True) is None
                    await asyncio.wrap_future(taker.record_soon((digest, 0), 0, {}, Status.SENDING))
                    await keys.release("k")  # the run's submit goes on to its create
                    result = await pulling
                finally:
                    await taker.close()
    finally:
        await reader.aclose()
    assert isinstance(result.error, sora2pro.CoordinationError)
    assert [] == created(emulator)


async def test_a_run_whose_consumer_stalls_takes_over_no_item_it_cannot_start(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """Items freed by a run that ended stay free for others while this run has no slot for them."""
    prompts = PROMPTS[:6]
    holder = await coordinations(lease=30.0).journal("campaign").open_run()
    await _hold(holder, prompts[:4])
    coordination = coordinations(lease=LEASE)
    async with fast_client(emulator, coordination=coordination) as client:
        batch = client.batch(prompts, journal=coordination.journal("campaign"), concurrency=1)
        async with contextlib.aclosing(batch) as results:
            assert 4 == (await anext(results)).index
            # Item 5 ends and keeps the one slot: the consumer pulls no more.
            await until(lambda: len(created(emulator)) == 2)
            await holder.close()
            await asyncio.sleep(5 * LEASE)  # time for looks again at items 0 to 3
            other = await coordinations(lease=30.0).journal("campaign").open_run()
            try:
                await _hold(other, prompts[:4])  # another run takes each of them
            finally:
                await other.close()


async def test_redis_gone_while_items_are_held_elsewhere_ends_them_unsent(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """Redis killed while a run waits for items a live run holds: each ends unsent, the run ends."""
    holder = await coordinations(lease=30.0).journal("campaign").open_run()
    await _hold(holder, PROMPTS[:3])
    coordination = coordinations(lease=LEASE)
    async with fast_client(emulator, coordination=coordination) as client:
        batch = client.batch(PROMPTS[:3], journal=coordination.journal("campaign"), ordered=True)
        async with contextlib.aclosing(batch) as results:
            pulling = asyncio.ensure_future(anext(results))
            await _until_runs(redis_server, 2)  # the run is under way
            redis_server.kill()
            outcomes = [await pulling] + [result async for result in results]
    await holder.close()
    assert [0, 1, 2] == [result.index for result in outcomes]
    assert all(isinstance(result.error, sora2pro.CoordinationError) for result in outcomes)
    assert [] == created(emulator)


async def test_an_item_its_holder_gave_up_on_is_left_to_it_not_waited_for(
    emulator: Emulator, coordinations: Coordinations
) -> None:
    """A live run whose wait for an item timed out has ended it: another run does not hang on it."""
    emulator.duration = None  # no task ends: the holder's waits time out
    prompts = PROMPTS[:2]
    first, second = coordinations(lease=LEASE), coordinations(lease=LEASE)
    async with (
        fast_client(emulator, coordination=first) as holder,
        fast_client(emulator, coordination=second) as other,
    ):
        held = holder.batch(prompts, journal=first.journal("campaign"), timeout=0.2)
        async with contextlib.aclosing(held) as results:
            gave_up = await anext(results)  # the holder's run stays open, one result unread
            assert isinstance(gave_up.error, sora2pro.WaitTimeoutError)
            async with asyncio.timeout(10):
                late = await run_prompts(other, prompts, second.journal("campaign"))
    assert [] == late
    assert 2 == len(created(emulator))


async def test_a_row_in_a_state_this_version_does_not_know_is_a_typed_error(
    emulator: Emulator, redis_server: RedisServer, coordinations: Coordinations
) -> None:
    """A journal row whose state reads as nothing known ends its item unsent, typed."""
    import redis.asyncio  # noqa: PLC0415  # the redis extra, a dev dependency

    coordination = coordinations(lease=LEASE)
    async with fast_client(emulator, coordination=coordination) as client:
        await run_prompts(client, PROMPTS[:2], coordination.journal("campaign"))
        reader = redis.asyncio.Redis.from_url(redis_server.url)
        try:
            async for key in reader.scan_iter(match="*journal:campaign:item:*"):
                await reader.hset(key, "status", "teleported")
        finally:
            await reader.aclose()
        again = await run_prompts(client, PROMPTS[:2], coordination.journal("campaign"))
    assert [sora2pro.CoordinationError] * 2 == [type(result.error) for result in again]
    assert 2 == len(created(emulator))
