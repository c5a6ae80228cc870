"""A create is never paid twice: lost answers are reported as uncertain, never re-sent."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

import sora2pro
from sora2pro import SubmitUncertainError, TextToVideo
from sora2pro.testing import Emulator, Endpoint, Fault


@pytest.mark.parametrize(
    "fault",
    [
        Fault.disconnect(after_create=True),
        Fault.truncate(after_create=True),
        Fault.garbage(after_create=True),
        Fault.disconnect(),
        Fault.error(500, http_status=500),
        Fault.error(502, http_status=502, message="Bad gateway"),
        Fault.html(502),
        Fault.html(504),
    ],
)
async def test_lost_create_answer_is_uncertain_and_not_resent(
    client: sora2pro.Client, emulator: Emulator, fault: Fault
) -> None:
    """A create whose answer is lost, garbled or a 5xx page raises SubmitUncertainError, once."""
    emulator.inject(fault, Endpoint.CREATE)
    with pytest.raises(SubmitUncertainError) as caught:
        await client.submit("a dog", n_frames=15)
    assert TextToVideo("a dog", n_frames=15) == caught.value.request
    assert caught.value.request_sent
    assert caught.value.__cause__ is not None
    assert 1 == emulator.count(Endpoint.CREATE)


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault.error(500, message="aspect_ratio is not within the range"), sora2pro.ServerError),
        (Fault.error(501, message="generation failed"), sora2pro.GenerationFailedError),
        (Fault.error(505, message="feature disabled"), sora2pro.FeatureDisabledError),
    ],
)
async def test_an_error_envelope_to_a_create_is_a_refusal_not_uncertain(
    client: sora2pro.Client, emulator: Emulator, fault: Fault, kind: type[sora2pro.APIError]
) -> None:
    """A well-formed error answer to a create raises its APIError with its message, sent once."""
    emulator.inject(fault, Endpoint.CREATE)
    with pytest.raises(kind) as caught:
        await client.submit("a dog")
    assert not isinstance(caught.value, SubmitUncertainError)
    assert fault.message == caught.value.message
    assert (1, 0) == (emulator.count(Endpoint.CREATE), len(emulator.tasks))


async def test_uncertain_create_may_really_have_run(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """The emulator bills a task whose answer it drops, so the uncertainty is real."""
    emulator.inject(Fault.disconnect(after_create=True), Endpoint.CREATE)
    with pytest.raises(SubmitUncertainError):
        await client.submit("a dog")
    assert 1 == len(emulator.tasks)
    assert 999.0 == emulator.credits


async def test_timed_out_create_is_uncertain(emulator: Emulator) -> None:
    """A create that gets no answer in time is uncertain, and is not re-sent."""
    emulator.inject(Fault.delay(1.0), Endpoint.CREATE)
    async with sora2pro.Client(
        emulator.api_key, base_url=emulator.url, timeout=sora2pro.Timeouts(request=0.2)
    ) as client:
        with pytest.raises(SubmitUncertainError):
            await client.submit("a dog")
    assert 1 == emulator.count(Endpoint.CREATE)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.rate_limited(),
        Fault.rate_limited(retry_after=0.05),
        Fault.error(429),
        Fault.maintenance(),
        Fault.html(429),
    ],
)
async def test_refused_create_is_retried(
    client: sora2pro.Client, emulator: Emulator, fault: Fault
) -> None:
    """429 and 455 mean the server did not run the create: it is retried and succeeds."""
    emulator.inject(fault, Endpoint.CREATE, times=2)
    task_id = await client.submit("a dog")
    assert [task_id] == list(emulator.tasks)
    assert 3 == emulator.count(Endpoint.CREATE)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (401, sora2pro.AuthenticationError),
        (402, sora2pro.InsufficientCreditsError),
        (422, sora2pro.UnprocessableError),
        (433, sora2pro.QuotaExceededError),
        (501, sora2pro.GenerationFailedError),
        (505, sora2pro.FeatureDisabledError),
    ],
)
async def test_rejected_create_raises_at_once(
    client: sora2pro.Client, emulator: Emulator, code: int, cls: type[Exception]
) -> None:
    """A create the server rejects raises its typed error after one request."""
    emulator.inject(Fault.error(code), Endpoint.CREATE, times=3)
    with pytest.raises(cls):
        await client.submit("a dog")
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_out_of_credits_is_reported(client: sora2pro.Client, emulator: Emulator) -> None:
    """With no credits left the emulator answers 402 and the client raises it."""
    emulator.credits = 0.5
    with pytest.raises(sora2pro.InsufficientCreditsError):
        await client.submit("a dog")
    assert {} == emulator.tasks


async def test_create_to_unreachable_server_is_retried_then_not_uncertain(
    unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A create that never left (connection refused) is retried, then a plain TransportError."""
    caplog.set_level(logging.INFO, logger="sora2pro")
    retry = sora2pro.RetryPolicy(attempts=3, base_delay=0.01)
    async with sora2pro.Client(
        "key", base_url=f"http://127.0.0.1:{unused_tcp_port}", retry=retry
    ) as client:
        with pytest.raises(sora2pro.TransportError) as caught:
            await client.submit("a dog")
    retries = [
        (r.operation, r.attempt)  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "event", None) == "retry"
    ]
    assert [("createTask", 1), ("createTask", 2)] == retries  # 3 attempts: all it was allowed
    assert not isinstance(caught.value, SubmitUncertainError)
    assert not caught.value.request_sent


async def test_emulator_schema_refusal_reaches_the_user(emulator: Emulator) -> None:
    """The emulator checks bodies against the OpenAPI schema: n_frames as a number is 422."""
    async with (
        aiohttp.ClientSession() as session,  # a raw peer: the client would refuse this body
        session.post(
            emulator.url + "/api/v1/jobs/createTask",
            json={"model": "sora-2-pro-text-to-video", "input": {"prompt": "x", "n_frames": 10}},
            headers={"Authorization": f"Bearer {emulator.api_key}", "User-Agent": "test"},
        ) as response,
    ):
        answer = await response.json()
    assert 422 == answer["code"]
    assert "n_frames" in (answer.get("msg") or answer.get("message"))


@pytest.mark.parametrize("http_status", [429, 500])
async def test_task_id_in_an_error_answer_is_kept(
    client: sora2pro.Client, emulator: Emulator, http_status: int
) -> None:
    """A create answered with an error status but a task id keeps the task: no re-send."""
    emulator.inject(Fault.wrong_status(http_status), Endpoint.CREATE)
    task_id = await client.submit("a dog")
    assert [task_id] == list(emulator.tasks)
    assert 1 == emulator.count(Endpoint.CREATE)


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_error_page_4xx_on_create_is_a_refusal(
    client: sora2pro.Client, emulator: Emulator, status: int
) -> None:
    """A 4xx page from a proxy or CDN means nothing ran: ResponseError, not uncertain."""
    emulator.inject(Fault.html(status), Endpoint.CREATE)
    with pytest.raises(sora2pro.ResponseError) as caught:
        await client.submit("a dog")
    assert not isinstance(caught.value, SubmitUncertainError)
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_malformed_http_answer_to_create_is_uncertain(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """An answer the HTTP parser rejects, after the task was made, is uncertain."""
    emulator.inject(Fault.malformed(after_create=True), Endpoint.CREATE)
    with pytest.raises(SubmitUncertainError):
        await client.submit("a dog")
    assert 1 == len(emulator.tasks)


async def test_generate_timeout_bounds_the_submit_too(emulator: Emulator) -> None:
    """generate(timeout=...) stops retrying a refused create at its deadline."""
    emulator.inject(Fault.rate_limited(retry_after=0.2), Endpoint.CREATE, times=100)
    retry = sora2pro.RetryPolicy(attempts=100, base_delay=0.01, max_delay=5.0)
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url, retry=retry) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises((sora2pro.RateLimitError, sora2pro.TransportError)) as caught:
            await client.generate("a dog", timeout=0.5)
        assert loop.time() - started < 2.0  # unbounded, 100 tries would take 20 s
    assert not isinstance(caught.value, SubmitUncertainError)
    assert {} == emulator.tasks


async def test_a_create_in_flight_outlives_the_generate_deadline(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A slow create is not cut off by generate()'s deadline: its task id is kept, not lost."""
    emulator.duration = None
    emulator.inject(Fault.delay(0.4), Endpoint.CREATE)
    with pytest.raises(sora2pro.WaitTimeoutError) as caught:
        await client.generate("a dog", timeout=0.1)
    assert [caught.value.task_id] == list(emulator.tasks)


async def test_a_submit_cancelled_on_the_wire_keeps_its_task(
    client: sora2pro.Client, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A submit cancelled with its create on the wire keeps the task it made: pending, logged."""
    emulator.inject(Fault.delay(0.3), Endpoint.CREATE)
    submitting = asyncio.create_task(client.submit("a dog"))
    while 0 == emulator.count(Endpoint.CREATE):  # noqa: ASYNC110  # the create has left
        await asyncio.sleep(0.01)
    assert {} == emulator.tasks  # the server has not made it yet: the cancel comes first
    submitting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await submitting
    (task_id,) = emulator.tasks
    assert [task_id] == list(client.pending)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [True] == [task_id in r.getMessage() for r in warned]
