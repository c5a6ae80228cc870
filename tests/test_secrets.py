"""The API key never shows: not in logs, errors, their causes, or reprs."""

from __future__ import annotations

import logging
import traceback

import pytest

import sora2pro
from sora2pro.testing import Emulator, Endpoint, Fault

KEY = "sk-live-5ecret-value-0123456789"


def everything_about(error: BaseException) -> str:
    """Every text an error carries: message, repr, attributes, traceback, causes."""
    parts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), repr(vars(seen))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


async def test_key_never_appears(caplog: pytest.LogCaptureFixture) -> None:
    """A full run with retries, failures and a server echoing the key leaks it nowhere."""
    caplog.set_level(logging.DEBUG)
    async with Emulator(api_key=KEY, duration=0.1, not_visible_for=0.05) as emulator:
        retry = sora2pro.RetryPolicy(attempts=2, base_delay=0.01)
        poll = sora2pro.PollPolicy(min_interval=0.01, max_interval=0.02)
        async with sora2pro.Client(KEY, base_url=emulator.url, retry=retry, poll=poll) as client:
            texts = [repr(client), str(client)]
            emulator.inject(Fault.error(500, message=f"bad Authorization: Bearer {KEY}"), "credit")
            await client.credits()
            emulator.inject(Fault.error(401, message=f"key {KEY} refused"), "credit")
            with pytest.raises(sora2pro.AuthenticationError) as refused:
                await client.credits()
            emulator.inject(Fault.disconnect(after_create=True), Endpoint.CREATE)
            with pytest.raises(sora2pro.SubmitUncertainError) as uncertain:
                await client.submit("a dog")
            task = await client.generate("a dog")
            texts += [repr(task), everything_about(refused.value)]
            texts += [everything_about(uncertain.value)]
    texts += [caplog.text] + [repr(vars(record)) for record in caplog.records]
    for text in texts:
        assert KEY not in text
    assert "***" in str(refused.value)


async def test_key_stays_out_of_http_parser_errors(caplog: pytest.LogCaptureFixture) -> None:
    """Aiohttp's parser errors hold the request headers; none of it reaches our errors or logs."""
    caplog.set_level(logging.DEBUG)
    async with Emulator(api_key=KEY) as emulator:
        retry = sora2pro.RetryPolicy(attempts=2, base_delay=0.01)
        async with sora2pro.Client(KEY, base_url=emulator.url, retry=retry) as client:
            emulator.inject(Fault.malformed(), Endpoint.CREDIT, times=4)
            with pytest.raises(sora2pro.TransportError) as read:
                await client.credits()
            emulator.inject(Fault.malformed(), Endpoint.CREATE)
            with pytest.raises(sora2pro.SubmitUncertainError) as create:
                await client.submit("a dog")
    for text in (everything_about(read.value), everything_about(create.value), caplog.text):
        assert KEY not in text


async def test_key_is_redacted_before_an_error_page_is_cut() -> None:
    """An error page echoing the key right at the cut point leaks no part of it."""
    async with Emulator(api_key=KEY) as emulator:
        # The snippet keeps 120 characters: cut first, 15 characters of the key would stay.
        emulator.inject(Fault.html(502, page="x" * 105 + KEY), Endpoint.CREDIT)
        async with sora2pro.Client(
            KEY, base_url=emulator.url, retry=sora2pro.RetryPolicy(attempts=1)
        ) as client:
            with pytest.raises(sora2pro.ResponseError) as caught:
                await client.credits()
    assert "***" in str(caught.value)
    assert KEY[:8] not in str(caught.value)
