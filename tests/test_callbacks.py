"""The callback receiver: real callbacks from the emulator, and everything hostile."""

from __future__ import annotations

import asyncio
import json
import time
import typing

import aiohttp
import pytest
from aiohttp import web

import sora2pro
from sora2pro import CallbackReceiver, TaskState
from sora2pro._callbacks import sign

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sora2pro.testing import Emulator

KEY = b"webhook-secret"
DATA = {"taskId": "t1", "model": "sora-2-pro-text-to-video", "state": "success",
        "resultJson": json.dumps({"resultUrls": ["https://f/v.mp4"]})}  # fmt: skip


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver() as receiver:
        yield receiver


@pytest.fixture
async def signed() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver(hmac_key=KEY) as receiver:
        yield receiver


async def post(
    receiver: CallbackReceiver, body: bytes | dict[str, typing.Any], **headers: str
) -> int:
    """POST a callback to the receiver; its HTTP status."""
    assert receiver.url is not None
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(receiver.url, data=data, headers=headers) as response,
    ):
        return response.status


async def test_receives_a_real_callback_from_the_emulator(
    client: sora2pro.Client, emulator: Emulator, receiver: CallbackReceiver
) -> None:
    """A task submitted with the receiver's URL is reported to it when it ends."""
    task_id = await client.submit("a dog", callback_url=receiver.url)
    callback = await asyncio.wait_for(receiver.expect(task_id), 5)
    assert (task_id, TaskState.SUCCESS, False) == (
        callback.task.id,
        callback.task.state,
        callback.verified,
    )
    assert callback.task.result_urls


async def test_signed_callbacks_are_verified(
    client: sora2pro.Client, emulator: Emulator, signed: CallbackReceiver
) -> None:
    """With the account's HMAC key on both sides, a callback arrives verified."""
    emulator.callback_hmac_key = KEY
    task_id = await client.submit("a dog", callback_url=signed.url)
    callback = await asyncio.wait_for(signed.expect(task_id), 5)
    assert callback.verified


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Webhook-Timestamp": "{now}", "X-Webhook-Signature": "AAAA"},
        {"X-Webhook-Timestamp": "{stale}", "X-Webhook-Signature": "{stale_sig}"},
        {"X-Webhook-Timestamp": "soon", "X-Webhook-Signature": "{sig}"},
    ],
)
async def test_forged_and_stale_callbacks_get_401(
    signed: CallbackReceiver, headers: dict[str, str]
) -> None:
    """Missing, wrong, stale or malformed signatures are refused and never delivered."""
    now = int(time.time())
    values = {
        "now": str(now),
        "sig": sign(KEY, "t1", now),
        "stale": str(now - 600),
        "stale_sig": sign(KEY, "t1", now - 600),
    }
    filled = {name: value.format(**values) for name, value in headers.items()}
    assert 401 == await post(signed, {"code": 200, "data": DATA}, **filled)
    assert signed.result("t1") is None


async def test_a_good_signature_is_accepted(signed: CallbackReceiver) -> None:
    """A fresh, correct signature is accepted and marked verified."""
    now = int(time.time())
    headers = {"X-Webhook-Timestamp": str(now), "X-Webhook-Signature": sign(KEY, "t1", now)}
    assert 200 == await post(signed, {"code": 200, "data": DATA}, **headers)
    result = signed.result("t1")
    assert result is not None
    assert result.verified


async def test_duplicates_are_delivered_once(receiver: CallbackReceiver) -> None:
    """The same task's callback twice: acknowledged twice, delivered once."""
    waiter = receiver.expect("t1")
    assert 200 == await post(receiver, {"code": 200, "data": DATA})
    first = await waiter
    assert 200 == await post(receiver, {"code": 200, "data": {**DATA, "state": "fail"}})
    result = receiver.result("t1")
    assert result is first
    assert TaskState.SUCCESS is result.task.state


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"code": 200}', 400),
        (b'{"code": 200, "data": {"state": "success"}}', 400),
        (b"[1, 2, 3]", 400),
        (b"x" * (64 * 1024 + 1), 413),
    ],
)
async def test_bad_bodies_are_refused(body: bytes, status: int) -> None:
    """Malformed JSON, bodies without a task, and oversized bodies never crash anything."""
    async with CallbackReceiver(max_body=64 * 1024) as receiver:
        waiter = receiver.expect("t1")
        assert status == await post(receiver, body)
        assert not waiter.done()
        waiter.cancel()


async def test_mounts_into_an_existing_app() -> None:
    """add_routes() serves the receiver from the user's own aiohttp app."""
    receiver = CallbackReceiver(public_url="https://bot.example.com", path="/hooks/video")
    assert "https://bot.example.com/hooks/video" == receiver.url
    app = web.Application()
    receiver.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/hooks/video", json={"code": 200, "data": DATA}
            ) as response,
        ):
            assert 200 == response.status
    finally:
        await runner.cleanup()
    assert receiver.result("t1") is not None


async def test_unclaimed_callbacks_are_kept_and_logged(
    receiver: CallbackReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback nobody waits for is acknowledged, logged, and readable later."""
    caplog.set_level("INFO")
    assert 200 == await post(receiver, {"code": 200, "data": DATA})
    assert "nothing here waits for" in caplog.text
    later = await asyncio.wait_for(receiver.expect("t1"), 1)
    assert "t1" == later.task.id


def test_bad_settings_are_refused() -> None:
    """A public_url that is not http(s) or a path without a slash is refused."""
    with pytest.raises(sora2pro.InvalidInputError):
        CallbackReceiver(public_url="bot.example.com")
    with pytest.raises(sora2pro.InvalidInputError):
        CallbackReceiver(path="hooks")
