"""Every error code and quirk of API.md gives its typed error, retried only when transient."""

from __future__ import annotations

import asyncio
import itertools

import pytest

import sora2pro
from sora2pro import APIError, ResponseError, TransportError
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import FAST_POLL, FAST_RETRY

DOCUMENTED = [
    (401, sora2pro.AuthenticationError),
    (402, sora2pro.InsufficientCreditsError),
    (404, sora2pro.NotFoundError),
    (422, sora2pro.UnprocessableError),
    (429, sora2pro.RateLimitError),
    (433, sora2pro.QuotaExceededError),
    (455, sora2pro.MaintenanceError),
    (500, sora2pro.ServerError),
    (501, sora2pro.GenerationFailedError),
    (505, sora2pro.FeatureDisabledError),
]
NO_RETRY = sora2pro.RetryPolicy(attempts=1)


def no_retry_client(emulator: Emulator) -> sora2pro.Client:
    return sora2pro.Client(emulator.api_key, base_url=emulator.url, retry=NO_RETRY)


@pytest.mark.parametrize(("code", "cls"), DOCUMENTED)
@pytest.mark.parametrize("mirrored", [False, True])
async def test_each_code_gives_its_class(
    emulator: Emulator, code: int, cls: type[APIError], mirrored: bool
) -> None:
    """A body code gives its APIError subclass, whether HTTP says 200 or the same code."""
    http_status = code if mirrored else 200
    emulator.inject(Fault.error(code, http_status=http_status, message="why"), Endpoint.CREDIT)
    async with no_retry_client(emulator) as client:
        with pytest.raises(cls) as caught:
            await client.credits()
    assert (code, "why", http_status) == (
        caught.value.code,
        caught.value.message,
        caught.value.http_status,
    )


@pytest.mark.parametrize(("code", "cls"), [(418, APIError), (503, sora2pro.ServerError)])
async def test_undocumented_codes(emulator: Emulator, code: int, cls: type[APIError]) -> None:
    """An unknown code is a plain APIError; any other 5xx is a ServerError."""
    emulator.inject(Fault.error(code), Endpoint.CREDIT)
    async with no_retry_client(emulator) as client:
        with pytest.raises(APIError) as caught:
            await client.credits()
    assert cls is type(caught.value)


async def test_error_status_with_success_body_is_an_error(emulator: Emulator) -> None:
    """HTTP 500 is an error even when the body claims code 200."""
    emulator.inject(Fault.error(200, http_status=500), Endpoint.CREDIT)
    async with no_retry_client(emulator) as client:
        with pytest.raises(sora2pro.ServerError) as caught:
            await client.credits()
    assert (500, 500) == (caught.value.code, caught.value.http_status)


@pytest.mark.parametrize("code", [429, 455, 500])
async def test_transient_codes_are_retried_for_reads(
    client: sora2pro.Client, emulator: Emulator, code: int
) -> None:
    """Reads retry 429, 455 and 500 and succeed once the server recovers."""
    emulator.inject(Fault.error(code), Endpoint.CREDIT, times=2)
    assert 1000.0 == await client.credits()
    assert 3 == emulator.count(Endpoint.CREDIT)


@pytest.mark.parametrize("code", [401, 402, 404, 422, 433, 501, 505])
async def test_final_codes_are_never_retried(
    client: sora2pro.Client, emulator: Emulator, code: int
) -> None:
    """401, 402, 404, 422, 433, 501 and 505 raise after one request."""
    emulator.inject(Fault.error(code), Endpoint.CREDIT, times=3)
    with pytest.raises(APIError):
        await client.credits()
    assert 1 == emulator.count(Endpoint.CREDIT)


async def test_retries_are_bounded(emulator: Emulator) -> None:
    """A server that keeps failing gets RetryPolicy.attempts tries, then the last error."""
    emulator.inject(Fault.error(500, message="still down"), Endpoint.CREDIT, times=10)
    retry = sora2pro.RetryPolicy(attempts=3, base_delay=0.01)
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url, retry=retry) as client:
        with pytest.raises(sora2pro.ServerError, match="still down"):
            await client.credits()
    assert 3 == emulator.count(Endpoint.CREDIT)


async def test_retry_after_is_honoured(client: sora2pro.Client, emulator: Emulator) -> None:
    """After a 429 with Retry-After, the next try waits at least that long."""
    emulator.inject(Fault.rate_limited(retry_after=0.3), Endpoint.CREDIT)
    await client.credits()
    first, second = (r.time for r in emulator.requests)
    assert second - first >= 0.3


async def test_retry_after_past_max_retry_after_gives_up_saying_why(emulator: Emulator) -> None:
    """A Retry-After longer than RetryPolicy.max_retry_after ends the retries at once, noted."""
    emulator.inject(Fault.rate_limited(retry_after=60), Endpoint.CREDIT)
    retry = sora2pro.RetryPolicy(attempts=5, base_delay=0.01, max_retry_after=1.0)
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url, retry=retry) as client:
        with pytest.raises(sora2pro.RateLimitError) as caught:
            await client.credits()
    assert 60.0 == caught.value.retry_after
    assert 1 == emulator.count(Endpoint.CREDIT)
    assert "max_retry_after" in " ".join(caught.value.__notes__)


async def test_retry_after_longer_than_max_delay_is_honoured(emulator: Emulator) -> None:
    """A create answered 429 with Retry-After past max_delay three times ends as one task."""
    emulator.inject(Fault.rate_limited(retry_after=0.2), Endpoint.CREATE, times=3)
    retry = sora2pro.RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url, retry=retry) as client:
        task_id = await client.submit("a dog")
    assert [task_id] == list(emulator.tasks)
    times = [r.time for r in emulator.requests if r.path.endswith("createTask")]
    assert 4 == len(times)
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(times))


async def test_a_retry_after_past_the_deadline_ends_the_wait_saying_why(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A 429 asking for more time than the deadline leaves ends the create at once, noted."""
    emulator.inject(Fault.rate_limited(retry_after=5), Endpoint.CREATE)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(sora2pro.RateLimitError) as caught:
        await client.generate("a dog", timeout=1.0)
    assert loop.time() - started < 1.0
    assert "does not fit" in " ".join(caught.value.__notes__)
    assert 0 == len(emulator.tasks)


@pytest.mark.parametrize("status", [502, 404])
async def test_html_page_is_a_response_error(emulator: Emulator, status: int) -> None:
    """An HTML error page is a ResponseError with the HTTP status, not a JSON crash."""
    emulator.inject(Fault.html(status), Endpoint.CREDIT)
    async with no_retry_client(emulator) as client:
        with pytest.raises(ResponseError, match="not JSON") as caught:
            await client.credits()
    assert status == caught.value.http_status


async def test_proxy_error_page_is_retried_for_reads(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A 502 page from a proxy is transient: the read is retried and succeeds."""
    emulator.inject(Fault.html(502), Endpoint.CREDIT)
    assert 1000.0 == await client.credits()


@pytest.mark.parametrize(
    ("fault", "per_request", "error"),
    [
        (Fault.garbage(), 1, ResponseError),
        (Fault.truncate(), 1, TransportError),
        # aiohttp itself re-sends an idempotent request once on a dropped connection.
        (Fault.disconnect(), 2, TransportError),
    ],
)
async def test_broken_answers_are_typed_and_retried_for_reads(
    emulator: Emulator, fault: Fault, per_request: int, error: type[Exception]
) -> None:
    """Garbled, truncated and dropped answers raise sora2pro errors; reads retry them."""
    emulator.inject(fault, Endpoint.CREDIT, times=per_request)
    async with no_retry_client(emulator) as client:
        with pytest.raises(error):
            await client.credits()
    emulator.inject(fault, Endpoint.CREDIT, times=per_request)
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url, retry=FAST_RETRY) as c:
        assert 1000.0 == await c.credits()


async def test_slow_answer_times_out_as_transport_error(emulator: Emulator) -> None:
    """An answer slower than Timeouts.request raises TransportError, not a raw timeout."""
    emulator.inject(Fault.delay(1.0), Endpoint.CREDIT)
    async with sora2pro.Client(
        emulator.api_key,
        base_url=emulator.url,
        retry=NO_RETRY,
        timeout=sora2pro.Timeouts(request=0.1),
    ) as client:
        with pytest.raises(TransportError, match="timed out") as caught:
            await client.credits()
    assert caught.value.request_sent


async def test_unreachable_server_is_a_transport_error(unused_tcp_port: int) -> None:
    """Nothing listening gives TransportError with request_sent False."""
    async with sora2pro.Client(
        "key", base_url=f"http://127.0.0.1:{unused_tcp_port}", retry=NO_RETRY
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.credits()
    assert not caught.value.request_sent


async def test_retry_after_is_never_cut_short_by_max_elapsed(emulator: Emulator) -> None:
    """When a Retry-After would pass max_elapsed, the retries end instead of retrying early."""
    emulator.inject(Fault.rate_limited(retry_after=0.5), Endpoint.CREDIT)
    retry = sora2pro.RetryPolicy(attempts=5, base_delay=0.01, max_elapsed=0.2)
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url, retry=retry) as client:
        with pytest.raises(sora2pro.RateLimitError):
            await client.credits()
    assert 1 == emulator.count(Endpoint.CREDIT)


async def test_time_queued_for_a_create_slot_is_not_retry_time(emulator: Emulator) -> None:
    """A create that waited past max_elapsed for its slot still gets retries on a 429."""
    retry = sora2pro.RetryPolicy(attempts=3, base_delay=0.01, max_elapsed=0.15)
    limits = sora2pro.RateLimits(creates=2, window=0.4, pause=0.05)  # one create per 0.2 s
    async with sora2pro.Client(
        emulator.api_key, base_url=emulator.url, retry=retry, rate_limits=limits
    ) as client:
        submits = [asyncio.create_task(client.submit(f"dog {i}")) for i in range(3)]
        while emulator.count(Endpoint.CREATE) < 2:  # noqa: ASYNC110  # no arrival event
            await asyncio.sleep(0.01)
        emulator.inject(Fault.rate_limited(), Endpoint.CREATE)  # for the third, queued 0.4 s
        task_ids = await asyncio.gather(*submits)
    assert 3 == len(set(task_ids))
    assert 4 == emulator.count(Endpoint.CREATE)


async def test_malformed_http_is_a_transport_error(emulator: Emulator) -> None:
    """An answer the HTTP parser rejects is a TransportError, not a raw aiohttp error."""
    emulator.inject(Fault.malformed(), Endpoint.CREDIT)
    async with no_retry_client(emulator) as client:
        with pytest.raises(TransportError, match="ClientResponseError"):
            await client.credits()


async def test_request_on_a_closed_client_is_refused_mid_wait(emulator: Emulator) -> None:
    """Closing the client while a wait runs ends the wait with Sora2ProError, not RuntimeError."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    client = sora2pro.Client(emulator.api_key, base_url=emulator.url, poll=FAST_POLL)
    task_id = await client.submit("a dog")
    waiter = asyncio.create_task(client.wait(task_id))
    await asyncio.sleep(0.05)
    await client.close()
    with pytest.raises(sora2pro.Sora2ProError, match="closed"):
        await waiter
