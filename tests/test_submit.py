"""A create is never paid twice: lost answers are reported as uncertain, never re-sent."""

from __future__ import annotations

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
        Fault.error(500),
        Fault.error(500, http_status=500),
        Fault.html(502),
        Fault.html(504),
    ],
)
async def test_lost_create_answer_is_uncertain_and_not_resent(
    client: sora2pro.Client, emulator: Emulator, fault: Fault
) -> None:
    """A create whose answer is lost, garbled or a 5xx raises SubmitUncertainError, sent once."""
    emulator.inject(fault, Endpoint.CREATE)
    with pytest.raises(SubmitUncertainError) as caught:
        await client.submit("a dog", n_frames=15)
    assert TextToVideo("a dog", n_frames=15) == caught.value.request
    assert caught.value.request_sent
    assert caught.value.__cause__ is not None
    assert 1 == emulator.count(Endpoint.CREATE)


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
    unused_tcp_port: int,
) -> None:
    """A create that never left (connection refused) is retried, then a plain TransportError."""
    retry = sora2pro.RetryPolicy(attempts=2, base_delay=0.01)
    async with sora2pro.Client(
        "key", base_url=f"http://127.0.0.1:{unused_tcp_port}", retry=retry
    ) as client:
        with pytest.raises(sora2pro.TransportError) as caught:
            await client.submit("a dog")
    assert not isinstance(caught.value, SubmitUncertainError)
    assert not caught.value.request_sent


async def test_emulator_schema_refusal_reaches_the_user(emulator: Emulator) -> None:
    """The emulator checks bodies against the OpenAPI schema: n_frames as a number is 422."""
    async with (
        sora2pro.Client(emulator.api_key, base_url=emulator.url) as client,
        client._transport.session().post(
            emulator.url + "/api/v1/jobs/createTask",
            json={"model": "sora-2-pro-text-to-video", "input": {"prompt": "x", "n_frames": 10}},
            headers={"Authorization": f"Bearer {emulator.api_key}", "User-Agent": "test"},
        ) as response,
    ):
        answer = await response.json()
    assert 422 == answer["code"]
    assert "n_frames" in (answer.get("msg") or answer.get("message"))
