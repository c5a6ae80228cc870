"""The API key never shows: not in logs, errors, their causes, or reprs."""

from __future__ import annotations

import logging
import traceback

import pytest

import sora2pro
from sora2pro.testing import Emulator, Endpoint, Fault, FaultKind

KEY = "sk-live-5ecret-value-0123456789"


def everything_about(error: BaseException) -> str:
    """Every text an error carries, and every error down its cause and context chains.

    Message, repr, args, notes, attributes and the formatted traceback of each.
    """
    parts = ["".join(traceback.format_exception(error))]
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        parts += [repr(getattr(current, "__notes__", None)), repr(vars(current))]
        parts += [repr(getattr(current, name, None)) for name in dir(current)]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
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


ECHOES = [
    # A JSON error that echoes the headers in its message and in its data.
    Fault.answer(
        {"code": 401, "msg": f"bad key {KEY}", "data": {"Authorization": f"Bearer {KEY}"}},
        http_status=401,
    ),
    # The same, with the key hidden in JSON's \\u escapes.
    Fault.answer({"code": 500, "msg": "".join(f"\\u{ord(c):04x}" for c in KEY), "data": None}),
    # An error page that is not JSON.
    Fault.html(502, page=f"<pre>Authorization: Bearer {KEY}</pre>"),
    # A 200 whose body is not JSON.
    Fault.answer(None, http_status=200),
    # A body code that is the key itself.
    Fault.answer({"code": KEY, "msg": KEY, "data": None}),
    # Task details whose JSON-in-a-string echo is broken and holds the key.
    Fault.answer({"code": 200, "msg": "ok", "data": {"taskId": "t", "resultJson": "{" + KEY}}),
    Fault.answer({"code": 200, "msg": "ok", "data": {"taskId": KEY, "state": KEY}}),
    # JSON in UTF-16 or UTF-32, as JSON allows: the key is not in the raw bytes as such.
    Fault.answer({"code": 422, "msg": f"Bearer {KEY}", "data": {"k": KEY}}, encoding="utf-16"),
    Fault.answer({"code": 200, "msg": "ok", "data": {"taskId": KEY}}, encoding="utf-32"),
]


@pytest.mark.parametrize("echo", ECHOES)
@pytest.mark.parametrize("endpoint", [Endpoint.CREATE, Endpoint.RECORD_INFO, Endpoint.CREDIT])
async def test_no_error_carries_an_echoed_key(
    echo: Fault, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever a server echoes, no error raised (down its whole chain) nor log holds the key."""
    caplog.set_level(logging.DEBUG)
    if echo.payload is None and echo.kind is FaultKind.ANSWER:
        echo = Fault.html(200, page=f"Bearer {KEY} is not valid")
    async with Emulator(api_key=KEY, not_visible_for=0.0) as emulator:
        retry = sora2pro.RetryPolicy(attempts=2, base_delay=0.01)
        async with sora2pro.Client(KEY, base_url=emulator.url, retry=retry) as client:
            emulator.inject(echo, endpoint, times=2)
            errors: list[BaseException] = []
            for call in (client.submit("a dog"), client.get_task("t"), client.credits()):
                try:
                    await call
                except sora2pro.Sora2ProError as error:
                    errors.append(error)
    assert errors
    for error in errors:
        assert KEY not in everything_about(error)
    assert KEY not in caplog.text
    assert all(KEY not in repr(vars(record)) for record in caplog.records)
