"""client.deliver_callback(): callbacks received by any web framework, handed to the client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
import typing

import attrs
import pytest
from aiohttp import web

import sora2pro
from sora2pro import (
    CallbackError,
    CallbackReceiver,
    CallbackSignatureError,
    CallbackTooLargeError,
    MalformedCallbackError,
    TaskState,
    UnconfirmedCallbackError,
)
from sora2pro._callbacks._signing import sign
from sora2pro._coordination._pacer import PriorityPacer
from sora2pro._flows import _wait
from sora2pro._flows._confirmations import Confirmations
from sora2pro._wiring import confirmations_for
from sora2pro.testing import Endpoint, Fault

from .conftest import FAST_LIMITS, FAST_POLL, FAST_RETRY, Coordinations, fast_client, until

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from sora2pro.testing import Emulator

KEY = b"webhook-secret"


def body_for(task_id: str, state: str = "success") -> bytes:
    """A callback body claiming that ``task_id`` ended in ``state``."""
    data = {"taskId": task_id, "model": "sora-2-pro-text-to-video", "state": state,
            "resultJson": json.dumps({"resultUrls": ["https://evil/x.mp4"]})}  # fmt: skip
    return json.dumps({"code": 200, "msg": "success", "data": data}).encode()


def signature(task_id: str) -> dict[str, str]:
    """The platform's signature headers for ``task_id``, made now."""
    now = int(time.time())
    return {"X-Webhook-Timestamp": str(now), "X-Webhook-Signature": sign(KEY, task_id, now)}


class App:
    """A web app of the user's own (plain aiohttp here) whose callback route hands over to a client.

    Attributes:
        outcomes: What each deliver_callback() returned or raised, in order.
        url: Where the app listens.

    """

    def __init__(self) -> None:
        self.client: sora2pro.Client | None = None
        self.outcomes: list[sora2pro.Task | CallbackError] = []
        self.url = ""

    async def hook(self, request: web.Request) -> web.Response:
        """The callback route: the raw body and headers go to the client as they came."""
        assert self.client is not None
        try:
            task = await self.client.deliver_callback(await request.read(), request.headers)
        except CallbackError as error:
            self.outcomes.append(error)
            return web.Response(status=error.status)
        self.outcomes.append(task)
        return web.Response(text="ok")


@pytest.fixture
async def app() -> AsyncIterator[App]:
    """The user's app, listening on loopback."""
    served = App()
    application = web.Application()
    application.router.add_post("/hooks/sora", served.hook)
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    served.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield served
    finally:
        await runner.cleanup()


def hooked(
    emulator: Emulator,
    app: App,
    coordination: sora2pro.Coordination | None = None,
    on_event: sora2pro.OnClientEvent | None = None,
    **receiver_options: typing.Any,
) -> contextlib.AbstractAsyncContextManager[sora2pro.Client]:
    """A client whose receiver is not started: its URL is the app's, its callbacks come by hand.

    Polls are slow and patient, so only a callback can end a wait within seconds.
    """
    receiver = CallbackReceiver(public_url=app.url, path="/hooks/sora", **receiver_options)
    client = sora2pro.Client(
        emulator.api_key,
        base_url=emulator.url,
        poll=sora2pro.PollPolicy(min_interval=1.0, max_interval=5.0),
        retry=FAST_RETRY,
        rate_limits=FAST_LIMITS,
        callbacks=receiver,
        coordination=coordination,
        on_event=on_event,
    )
    app.client = client
    return client


def status_requests(emulator: Emulator, task_id: str) -> int:
    return sum(1 for r in emulator.requests if r.query.get("taskId") == task_id)


async def test_a_delivered_callback_ends_the_wait_with_one_status_request(
    emulator: Emulator, app: App
) -> None:
    """generate() ends on the callback the app delivers; the delivery's fetch is the only one."""
    async with hooked(emulator, app) as client:
        task = await client.generate("a dog", timeout=10)
    assert TaskState.SUCCESS is task.state
    assert [task] == app.outcomes
    assert 1 == status_requests(emulator, task.id)
    (body,) = emulator.create_bodies
    assert f"{app.url}/hooks/sora" == body["callBackUrl"]  # type: ignore[index]


async def test_deliver_returns_the_confirmed_task_when_nothing_waits(
    emulator: Emulator, app: App
) -> None:
    """With no wait at all, the delivery returns the server's task and takes it off pending."""
    async with hooked(emulator, app) as client:
        task_id = await client.submit("a dog")
        assert task_id in client.pending
        await until(lambda: bool(app.outcomes))
        assert task_id not in client.pending
    (task,) = app.outcomes
    assert isinstance(task, sora2pro.Task)
    assert (task_id, TaskState.SUCCESS) == (task.id, task.state)
    assert (f"{emulator.url}/files/{task_id}.mp4",) == task.result_urls


async def test_a_failed_task_is_delivered_and_fails_the_wait(emulator: Emulator, app: App) -> None:
    """A failure callback gives the failed task to the app, and TaskFailedError to the wait."""
    emulator.duration = None
    async with hooked(emulator, app) as client:
        task_id = await client.submit("a dog")
        waiting = asyncio.create_task(client.wait(task_id, timeout=10))
        emulator.finish(task_id, success=False, fail_message="blocked")
        with pytest.raises(sora2pro.TaskFailedError, match="blocked"):
            await waiting
    (task,) = app.outcomes
    assert isinstance(task, sora2pro.Task)
    assert TaskState.FAIL is task.state
    assert 1 == status_requests(emulator, task_id)


async def test_signed_callbacks_are_verified_with_the_receivers_key(
    emulator: Emulator, app: App
) -> None:
    """With the key on both sides a signed callback is delivered; an unsigned one is refused."""
    emulator.callback_hmac_key = KEY
    async with hooked(emulator, app, hmac_key=KEY) as client:
        task = await client.generate("a dog", timeout=10)
        with pytest.raises(CallbackSignatureError) as caught:
            await client.deliver_callback(body_for(task.id), {})
    assert 401 == caught.value.status
    assert [task] == app.outcomes
    assert 1 == status_requests(emulator, task.id)


async def test_a_trusted_body_is_delivered_without_a_status_request(
    emulator: Emulator, app: App
) -> None:
    """With trust_body the callback's own task ends the wait and is returned: no fetch at all."""
    async with hooked(emulator, app, trust_body=True) as client:
        task = await client.generate("a dog", timeout=10)
    assert [task] == app.outcomes
    assert 0 == status_requests(emulator, task.id)


async def test_a_trusted_body_that_claims_no_end_is_unconfirmed(
    emulator: Emulator, app: App
) -> None:
    """With trust_body, a callback whose task has not ended is refused and reaches no wait."""
    async with hooked(emulator, app, trust_body=True) as client:
        assert client._ctx.callbacks is not None
        with pytest.raises(UnconfirmedCallbackError):
            await client.deliver_callback(body_for("t1", state="generating"), {})
        assert client._ctx.callbacks.result("t1") is None
    assert [] == emulator.requests


async def test_a_forged_success_is_unconfirmed_and_the_wait_goes_on(
    emulator: Emulator, app: App
) -> None:
    """An unsigned success the server contradicts is unconfirmed; the real end then wins."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    async with hooked(emulator, app) as client:
        task_id = await client.submit("a dog")
        waiting = asyncio.create_task(client.wait(task_id, timeout=10))
        with pytest.raises(UnconfirmedCallbackError) as caught:
            await client.deliver_callback(body_for(task_id), {})
        assert (202, task_id) == (caught.value.status, caught.value.task_id)
        await asyncio.sleep(0.1)
        assert not waiting.done()
        assert task_id in client.pending
        emulator.finish(task_id)
        task = await waiting
    assert ("https://evil/x.mp4",) != task.result_urls
    assert 2 == status_requests(emulator, task_id)


async def test_a_delivered_callback_is_an_event_confirmed_or_not(
    emulator: Emulator, app: App
) -> None:
    """Client(on_event=...) hears of each callback delivered by hand, as of one POSTed."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    emulator.callbacks = False  # only the deliveries by hand: the emulator's would race them
    seen: list[sora2pro.Event] = []
    async with hooked(emulator, app, on_event=seen.append) as client:
        task_id = await client.submit("a dog")
        with pytest.raises(UnconfirmedCallbackError):
            await client.deliver_callback(body_for(task_id), {})
        emulator.finish(task_id)
        await client.deliver_callback(body_for(task_id), {})
        await client.deliver_callback(body_for(task_id), {})  # a duplicate: no news
    callbacks = [
        (e.index, e.callback.task.id, e.confirmed)
        for e in seen
        if isinstance(e, sora2pro.CallbackReceived)
    ]
    assert [(None, task_id, False), (None, task_id, True)] == callbacks


async def test_a_callback_for_an_unknown_task_is_unconfirmed(emulator: Emulator, app: App) -> None:
    """A callback naming a task the server does not know raises UnconfirmedCallbackError, caused."""
    async with hooked(emulator, app) as client:
        with pytest.raises(UnconfirmedCallbackError) as caught:
            await client.deliver_callback(body_for("no-such-task"), {})
    assert isinstance(caught.value.__cause__, sora2pro.NotFoundError)


async def test_a_duplicate_is_answered_without_another_request(
    emulator: Emulator, app: App
) -> None:
    """The same callback delivered again returns the same task, with no second status request."""
    async with hooked(emulator, app) as client:
        task = await client.generate("a dog", timeout=10)
        again = await client.deliver_callback(body_for(task.id), {})
    assert task == again
    assert 1 == status_requests(emulator, task.id)


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        (b"{not json", {}, MalformedCallbackError),
        ("a text body", {}, MalformedCallbackError),
        (b" " * (1024 * 1024 + 1), {}, CallbackTooLargeError),
        (body_for("t1"), None, MalformedCallbackError),
    ],
)
async def test_hostile_input_is_refused_before_any_request(
    emulator: Emulator, app: App, body: bytes, headers: dict[str, str], error: type[CallbackError]
) -> None:
    """Garbage, text, an oversized body or headers that are no mapping: refused, nothing sent."""
    async with hooked(emulator, app, hmac_key=KEY) as client:
        with pytest.raises(error):
            await client.deliver_callback(body, headers)
    assert [] == emulator.requests


@pytest.mark.parametrize("headers", [None, 5, [("X-Webhook-Timestamp", "1")], "headers"])
async def test_headers_that_are_no_mapping_are_refused_unsigned_too(
    emulator: Emulator, app: App, headers: object
) -> None:
    """An unsigned receiver reads no header, yet headers that are no mapping are refused unsent."""
    async with hooked(emulator, app) as client:
        with pytest.raises(MalformedCallbackError, match="mapping"):
            await client.deliver_callback(body_for("t1"), headers)  # type: ignore[arg-type]
    assert [] == emulator.requests


async def test_deliver_needs_a_receiver_and_an_open_client(client: sora2pro.Client) -> None:
    """Without callbacks= there is no key or URL to go by: InvalidInputError; closed: refused."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        await client.deliver_callback(body_for("t1"), {})
    assert "callbacks" == caught.value.field
    await client.close()
    with pytest.raises(sora2pro.Sora2ProError, match="closed"):
        await client.deliver_callback(body_for("t1"), {})


async def test_a_delivery_ends_the_waits_of_the_coordinations_other_clients(
    emulator: Emulator, app: App
) -> None:
    """Another client of the same coordination ends its wait on the delivery, with no request."""
    shared = sora2pro.LocalCoordination()
    emulator.duration = None
    async with (
        hooked(emulator, app, shared),
        fast_client(
            emulator,
            callbacks=CallbackReceiver(public_url=app.url),
            coordination=shared,
            poll=sora2pro.PollPolicy(min_interval=1.0, max_interval=5.0),
        ) as waiting_client,
    ):
        task_id = await waiting_client.submit("a dog", callback_url=f"{app.url}/hooks/sora")
        waiting = asyncio.create_task(waiting_client.wait(task_id, timeout=10))
        emulator.finish(task_id)
        task = await waiting
    assert [task] == app.outcomes
    assert 1 == status_requests(emulator, task_id)


async def test_a_delivery_ends_the_wait_of_a_client_without_a_receiver(
    emulator: Emulator, app: App
) -> None:
    """A worker client with no receiver, sharing the coordination, ends its wait on the delivery."""
    shared = sora2pro.LocalCoordination()
    emulator.duration = None
    async with (
        hooked(emulator, app, shared),
        fast_client(
            emulator, coordination=shared, poll=sora2pro.PollPolicy(expected_duration=600.0)
        ) as worker,
    ):
        task_id = await worker.submit("a dog", callback_url=f"{app.url}/hooks/sora")
        waiting = asyncio.create_task(worker.wait(task_id, timeout=10))
        emulator.finish(task_id)
        task = await waiting
    assert [task] == app.outcomes
    assert 1 == status_requests(emulator, task_id)


async def test_a_cancelled_delivery_leaves_the_wait_to_polling(
    emulator: Emulator, app: App
) -> None:
    """A delivery cancelled during its status fetch publishes nothing; the wait ends by polling."""
    emulator.callbacks = False
    emulator.duration = None
    emulator.not_visible_for = 0.0
    async with hooked(emulator, app) as client:
        task_id = await client.submit("a dog")
        emulator.finish(task_id)
        emulator.inject(Fault.delay(5.0), Endpoint.RECORD_INFO)
        delivering = asyncio.create_task(client.deliver_callback(body_for(task_id), {}))
        await until(lambda: 1 == status_requests(emulator, task_id))
        delivering.cancel()
        delivering.cancel()
        with pytest.raises(asyncio.CancelledError):
            await delivering
        published = client._ctx.bus.expect(task_id)
        assert not published.done()
        published.cancel()
        task = await client.wait(task_id, timeout=10, poll=FAST_POLL)
    assert TaskState.SUCCESS is task.state


async def test_a_delivery_ends_a_wait_in_another_process(
    emulator: Emulator, app: App, coordinations: Coordinations
) -> None:
    """With Redis, a wait in another process ends on the delivery, with no request of its own."""
    emulator.duration = None
    async with (
        hooked(emulator, app, coordinations()),
        fast_client(
            emulator,
            callbacks=CallbackReceiver(public_url=app.url),
            coordination=coordinations(),
            poll=sora2pro.PollPolicy(min_interval=1.0, max_interval=5.0),
        ) as elsewhere,
    ):
        task_id = await elsewhere.submit("a dog", callback_url=f"{app.url}/hooks/sora")
        waiting = asyncio.create_task(elsewhere.wait(task_id, timeout=10))
        emulator.finish(task_id)
        task = await waiting
    assert [task] == app.outcomes
    assert 1 == status_requests(emulator, task_id)


async def test_a_garbled_status_answer_leaves_the_callback_unconfirmed(
    emulator: Emulator, app: App
) -> None:
    """Every confirming fetch garbled: the delivery is unconfirmed; polling ends the wait."""
    emulator.callbacks = False
    emulator.duration = None
    emulator.not_visible_for = 0.0
    async with hooked(emulator, app) as client:
        task_id = await client.submit("a dog")
        emulator.finish(task_id)
        emulator.inject(Fault.garbage(), Endpoint.RECORD_INFO, times=FAST_RETRY.attempts)
        with pytest.raises(UnconfirmedCallbackError) as caught:
            await client.deliver_callback(body_for(task_id), {})
        assert isinstance(caught.value.__cause__, sora2pro.ResponseError)
        assert task_id in client.pending
        task = await client.wait(task_id, timeout=10, poll=FAST_POLL)
    assert TaskState.SUCCESS is task.state
    assert FAST_RETRY.attempts + 1 == status_requests(emulator, task_id)


async def test_a_delivery_whose_fetch_hangs_ends_at_its_timeout_unconfirmed(
    emulator: Emulator, app: App
) -> None:
    """A confirming fetch that hangs is cut at the delivery's timeout: unconfirmed (202), typed."""
    emulator.callbacks = False
    emulator.duration = None
    emulator.not_visible_for = 0.0
    async with hooked(emulator, app) as client:
        task_id = await client.submit("a dog")
        emulator.finish(task_id)
        emulator.inject(Fault.delay(60.0), Endpoint.RECORD_INFO, times=10)
        with pytest.raises(UnconfirmedCallbackError) as caught:
            await client.deliver_callback(body_for(task_id), {}, timeout=0.3)
        assert 202 == caught.value.status
        assert task_id in client.pending


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), "10", True])
async def test_a_delivery_timeout_that_is_no_duration_is_refused(
    emulator: Emulator, app: App, timeout: object
) -> None:
    """deliver_callback(timeout=...) must be a positive number of seconds or None; nothing sent."""
    async with hooked(emulator, app) as client:
        with pytest.raises(sora2pro.InvalidInputError):
            await client.deliver_callback(body_for("t1"), {}, timeout=timeout)  # type: ignore[arg-type]
    assert [] == emulator.requests


def test_callbacks_take_the_coming_slot_at_a_pace_and_a_pending_tasks_always() -> None:
    """20 take the coming slot, then 2 a second, the rest go behind the polls."""
    confirmations = Confirmations(per_second=2.0, at_once=20.0)
    urgencies = [confirmations.urgency(f"u{n}", 100.0, known=False) for n in range(21)]
    ahead, behind = math.inf, Confirmations.BEHIND_POLLS
    assert [ahead] * 20 + [behind] == urgencies
    assert ahead == confirmations.urgency("u21", 100.5, known=False)
    assert behind == confirmations.urgency("u22", 100.5, known=False)
    assert math.inf == confirmations.urgency("mine", 100.5, known=True)  # not from the pace
    assert behind == confirmations.urgency("u23", 100.5, known=False)
    confirmations.running("mine", 100.5)  # the server said it had not ended
    assert behind == confirmations.urgency("mine", 100.5, known=True)  # as any other task's
    assert math.inf == confirmations.urgency("mine", 102.5, known=True)


async def test_a_tasks_callbacks_are_confirmed_one_after_another_unknown_32_at_most() -> None:
    """A task's callbacks wait in line (within their deadline); unknown tasks', 32 at most."""
    confirmations = Confirmations(per_second=2.0, at_once=20.0)
    async with contextlib.AsyncExitStack() as held:
        for n in range(32):
            assert await held.enter_async_context(confirmations.turn(f"u{n}", None, known=False))
        async with confirmations.turn("u32", None, known=False) as admitted:
            assert not admitted
        async with confirmations.turn("mine", None, known=True) as admitted:
            assert admitted  # a pending task's is never turned away
            soon = asyncio.get_running_loop().time() + 0.05
            with pytest.raises(TimeoutError):
                async with confirmations.turn("mine", soon, known=True):
                    pass
            second = asyncio.create_task(_in_turn(confirmations, "mine"))
            await asyncio.sleep(0.01)
            assert not second.done()  # in line behind the first
        assert await second
    assert 0 == confirmations.under_way


async def _in_turn(confirmations: Confirmations, task_id: str) -> bool:
    async with confirmations.turn(task_id, None, known=True) as admitted:
        return admitted


async def test_a_flood_of_unsigned_callbacks_is_confirmed_32_at_a_time(
    emulator: Emulator, app: App
) -> None:
    """40 forged callbacks at once: 32 fetches at most, the others unconfirmed (202) at once."""
    async with hooked(emulator, app) as client:
        # Two status queries a second: the confirmations are all in flight together.
        client._ctx.api = attrs.evolve(client._ctx.api, status_pacer=PriorityPacer(2.0))
        deliveries = [
            client.deliver_callback(body_for(f"forged-{n}"), {}, timeout=0.5) for n in range(40)
        ]
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
    assert all(isinstance(outcome, UnconfirmedCallbackError) for outcome in outcomes)
    at_once = [o for o in outcomes if "not confirmed now" in str(o)]
    assert 8 == len(at_once)
    assert all(202 == error.status for error in at_once)
    assert sum(1 for r in emulator.requests if r.query.get("taskId", "").startswith("forged")) <= 32


def at_the_apis_pace(client: sora2pro.Client) -> None:
    """The API's status budget and the default callback pace (FAST_LIMITS lifts both)."""
    client._ctx.api = attrs.evolve(client._ctx.api, status_pacer=PriorityPacer(8.0))
    client._ctx.confirmations = confirmations_for(sora2pro.DEFAULT_RATE_LIMITS)


@contextlib.asynccontextmanager
async def flood(
    client: sora2pro.Client, body: Callable[[], bytes], loops: int, timeout: float = 10.0
) -> AsyncIterator[None]:
    """``loops`` forgers handing ``body()`` to the client nonstop, until the block ends."""
    stop = asyncio.Event()

    async def forge() -> None:
        while not stop.is_set():
            with contextlib.suppress(UnconfirmedCallbackError):
                await client.deliver_callback(body(), {}, timeout=timeout)
            await asyncio.sleep(0)

    forgers = [asyncio.create_task(forge()) for _ in range(loops)]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*forgers)


async def test_a_flood_of_forged_callbacks_does_not_turn_away_the_real_one(
    emulator: Emulator, app: App
) -> None:
    """While forgeries keep 32 confirmations busy, the callback of a pending task is confirmed."""
    emulator.callbacks = False  # the real callback comes by hand, mid-flood
    emulator.duration = None
    async with hooked(emulator, app) as client:
        at_the_apis_pace(client)  # the forgeries within the pace go first too, in turn
        forged = (body_for(f"forged-{number}") for number in itertools.count())
        async with flood(client, lambda: next(forged), loops=100, timeout=0.5):
            task_id = await client.submit("a dog")
            emulator.finish(task_id)
            await asyncio.sleep(0.1)  # the forgeries hold every place for unknown tasks
            task = await client.deliver_callback(body_for(task_id), {}, timeout=5)
    assert (task_id, TaskState.SUCCESS) == (task.id, task.state)


async def test_a_callback_while_another_of_its_task_is_confirmed_waits_its_turn(
    emulator: Emulator, app: App
) -> None:
    """The real callback, while a forged one of its task is being confirmed, is confirmed next."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    emulator.callbacks = False
    async with hooked(emulator, app) as client:
        task_id = await client.submit("a dog")
        emulator.inject(Fault.delay(0.3), Endpoint.RECORD_INFO, times=1)
        forged = asyncio.create_task(client.deliver_callback(body_for(task_id), {}))
        await until(lambda: client._ctx.confirmations.under_way == 1)
        emulator.finish(task_id)
        task = await client.deliver_callback(body_for(task_id), {})
        await asyncio.gather(forged, return_exceptions=True)
    assert (task_id, TaskState.SUCCESS) == (task.id, task.state)


async def test_forged_callbacks_of_a_pending_task_leave_the_polls_their_turn(
    emulator: Emulator, app: App
) -> None:
    """Forgeries naming a task this client waits for, sent nonstop, do not starve a poll."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    emulator.callbacks = False
    async with (
        fast_client(emulator) as other,
        hooked(emulator, app) as client,
    ):
        at_the_apis_pace(client)
        pending = await client.submit("a dog")
        async with flood(client, lambda: body_for(pending), loops=5):
            await asyncio.sleep(0.5)  # the forgeries use up what goes ahead of the polls
            elsewhere = await other.submit("a cat")  # not this client's: polled at once
            emulator.finish(elsewhere)
            task = await client.wait(elsewhere, timeout=5)
    assert TaskState.SUCCESS is task.state


async def test_a_relayed_callback_whose_fetch_hangs_ends_at_its_deadline(
    emulator: Emulator, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay (for waits in other processes) gives up at its deadline: unconfirmed, pending."""
    monkeypatch.setattr(_wait, "RELAY_WITHIN", 0.3)
    emulator.callbacks = False
    emulator.duration = None
    seen: list[sora2pro.Event] = []
    async with hooked(emulator, app, on_event=seen.append) as client:
        task_id = await client.submit("a dog")
        emulator.finish(task_id)
        emulator.inject(Fault.delay(60.0), Endpoint.RECORD_INFO, times=10)
        assert client._ctx.callbacks is not None
        callback = client._ctx.callbacks.check(body_for(task_id), {})
        await asyncio.wait_for(_wait.relay(client._ctx, callback), timeout=5)
        assert task_id in client.pending
    (event,) = [e for e in seen if isinstance(e, sora2pro.CallbackReceived)]
    assert not event.confirmed
