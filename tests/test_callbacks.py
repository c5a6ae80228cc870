"""The callback receiver: real callbacks from the emulator, and everything hostile."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import math
import time
import typing
import urllib.parse
import zlib

import aiohttp
import pytest
from aiohttp import web
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sora2pro
from sora2pro import CallbackReceiver, TaskState
from sora2pro._callbacks._receiver import DEFAULT_TOLERANCE
from sora2pro._callbacks._signing import sign

from .conftest import FAST_LIMITS, FAST_RETRY

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sora2pro.testing import Emulator

KEY = b"webhook-secret"
DATA = {"taskId": "t1", "model": "sora-2-pro-text-to-video", "state": "success",
        "resultJson": json.dumps({"resultUrls": ["https://f/v.mp4"]})}  # fmt: skip
DATA_BYTES = json.dumps({"code": 200, "data": DATA}).encode()


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
    """The same callback twice: acknowledged twice, delivered once."""
    waiter = receiver.expect("t1")
    assert 200 == await post(receiver, {"code": 200, "data": DATA})
    first = await waiter
    assert 200 == await post(receiver, {"code": 200, "data": DATA})
    assert receiver.result("t1") is first
    assert (await receiver.expect("t1")) is first


async def test_a_different_callback_replaces_a_forged_one(receiver: CallbackReceiver) -> None:
    """A later callback that disagrees is delivered: a forgery cannot mute the real one."""
    assert 200 == await post(receiver, {"code": 200, "data": DATA})
    forged = receiver.result("t1")
    real = receiver.expect("t1", newer_than=forged)
    assert not real.done()
    assert 200 == await post(receiver, {"code": 501, "data": {**DATA, "state": "fail"}})
    assert TaskState.FAIL is (await real).task.state


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"code": 200}', 400),
        (b'{"code": 200, "data": {"state": "success"}}', 400),
        (b"[1, 2, 3]", 400),
        (b"x" * (64 * 1024 + 1), 413),
    ],
)  # (the oversized body is sent whole; a chunked one is tested below)
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


def status_requests(emulator: Emulator, task_id: str) -> int:
    return sum(1 for r in emulator.requests if r.query.get("taskId") == task_id)


def client_for(
    emulator: Emulator, receiver: CallbackReceiver, *, min_interval: float = 1.0
) -> sora2pro.Client:
    """A client whose waits use ``receiver``, with a poll policy slower than the tasks."""
    return sora2pro.Client(
        emulator.api_key,
        base_url=emulator.url,
        poll=sora2pro.PollPolicy(min_interval=min_interval, max_interval=5.0),
        retry=FAST_RETRY,
        rate_limits=FAST_LIMITS,
        callbacks=receiver,
    )


@pytest.fixture
async def hooked(emulator: Emulator, receiver: CallbackReceiver) -> AsyncIterator[sora2pro.Client]:
    """A client whose waits use the receiver."""
    async with client_for(emulator, receiver) as client:
        yield client


async def test_wait_ends_on_the_callback_with_one_status_request(
    hooked: sora2pro.Client, emulator: Emulator, receiver: CallbackReceiver
) -> None:
    """The callback ends the wait at once, confirmed by a single status request."""
    task = await hooked.generate("a dog")
    ended = emulator.tasks[task.id].end_time()  # when the emulator sent the callback
    assert ended is not None
    late = asyncio.get_running_loop().time() - ended
    assert TaskState.SUCCESS is task.state
    assert receiver.result(task.id) is not None
    # The relaxed poll could end it only 5 s in; 50 ms is the benchmark's target, and
    # 1 s leaves a loaded machine 20 times that.
    assert late < 1.0
    assert 1 == status_requests(emulator, task.id)
    (body,) = emulator.create_bodies
    assert receiver.url == body["callBackUrl"]  # type: ignore[index]


@pytest.mark.parametrize(("trust", "requests"), [("signed", 1), ("trusted", 0)])
async def test_signed_callbacks_are_confirmed_trusted_ones_are_not(
    emulator: Emulator, trust: str, requests: int
) -> None:
    """A signed callback is still confirmed (the body is unsigned); trust_body skips that."""
    emulator.callback_hmac_key = KEY if trust == "signed" else None
    receiver = CallbackReceiver(
        hmac_key=KEY if trust == "signed" else None, trust_body=trust == "trusted"
    )
    async with receiver, client_for(emulator, receiver) as client:
        task = await client.generate("a dog")
    assert TaskState.SUCCESS is task.state
    assert requests == status_requests(emulator, task.id)


async def test_a_forged_success_does_not_end_the_wait(
    hooked: sora2pro.Client, emulator: Emulator, receiver: CallbackReceiver
) -> None:
    """An unsigned callback claiming success is checked; the server says otherwise, so wait on."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    task_id = await hooked.submit("a dog")
    # Shorter than the relaxed poll: only the real callback can end this wait in time.
    waiting = asyncio.create_task(hooked.wait(task_id, timeout=3))
    assert 200 == await post(receiver, {"code": 200, "data": {**DATA, "taskId": task_id}})
    await asyncio.sleep(0.2)
    assert not waiting.done()
    emulator.finish(task_id, success=False, fail_message="real end")
    with pytest.raises(sora2pro.TaskFailedError, match="real end"):
        await waiting


async def test_polling_finishes_the_wait_when_no_callback_comes(
    emulator: Emulator, receiver: CallbackReceiver
) -> None:
    """With callbacks lost, polling still ends the wait once the task is overdue."""
    emulator.callbacks = False
    async with sora2pro.Client(
        emulator.api_key,
        base_url=emulator.url,
        poll=sora2pro.PollPolicy(min_interval=0.01, max_interval=0.05, expected_duration=0.3),
        rate_limits=FAST_LIMITS,
        callbacks=receiver,
    ) as client:
        task = await client.generate("a dog", timeout=10)
    assert TaskState.SUCCESS is task.state
    assert receiver.result(task.id) is None


async def test_a_batch_with_callbacks_ends_every_item(
    hooked: sora2pro.Client, emulator: Emulator, receiver: CallbackReceiver
) -> None:
    """The batch path sends callBackUrl too and ends on callbacks: one status request a task."""
    results = await hooked.gather([f"p{n}" for n in range(10)])
    assert all(r.ok for r in results)
    assert all(receiver.result(r.task_id) is not None for r in results)  # type: ignore[arg-type]
    assert 10 == emulator.count("recordInfo")


async def test_an_unstarted_receiver_is_an_error_before_sending(emulator: Emulator) -> None:
    """A receiver with no URL (not started, no public_url) is refused before any create."""
    async with sora2pro.Client(
        emulator.api_key, base_url=emulator.url, callbacks=CallbackReceiver()
    ) as client:
        with pytest.raises(sora2pro.Sora2ProError, match="no URL"):
            await client.submit("a dog")
    assert [] == emulator.requests


async def test_a_callback_url_of_your_own_is_kept(
    hooked: sora2pro.Client, emulator: Emulator
) -> None:
    """A submit that names its own callback_url sends that one, not the receiver's."""
    await hooked.submit("a dog", callback_url="https://example.com/mine")
    (body,) = emulator.create_bodies
    assert "https://example.com/mine" == body["callBackUrl"]  # type: ignore[index]


async def test_an_oversized_chunked_body_gets_413() -> None:
    """A body sent in chunks, with no Content-Length, is cut off at max_body too."""

    async def chunks() -> typing.AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    async with CallbackReceiver(max_body=64 * 1024) as receiver:
        assert receiver.url is not None
        async with (
            aiohttp.ClientSession() as session,
            session.post(receiver.url, data=chunks()) as response,
        ):
            assert 413 == response.status


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Webhook-Timestamp": "9" * 400, "X-Webhook-Signature": "AAAA"},
        {"X-Webhook-Timestamp": "{now}", "X-Webhook-Signature": "é" * 44},
        {"X-Webhook-Timestamp": "-5", "X-Webhook-Signature": "AAAA"},
    ],
)
async def test_odd_signature_headers_get_401_not_a_crash(
    signed: CallbackReceiver, headers: dict[str, str]
) -> None:
    """Absurd timestamps and non-ASCII signatures are refused, never a 500."""
    filled = {k: v.format(now=int(time.time())) for k, v in headers.items()}
    async with aiohttp.ClientSession() as session:
        assert signed.url is not None
        async with session.post(
            signed.url, json={"code": 200, "data": DATA}, headers=filled
        ) as response:
            assert 401 == response.status


async def test_a_replayed_signature_cannot_forge_a_result(
    hooked: sora2pro.Client, emulator: Emulator
) -> None:
    """A valid signature resent with a made-up success does not end the wait: it is checked."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    emulator.callback_hmac_key = KEY
    receiver = CallbackReceiver(hmac_key=KEY)
    async with receiver, client_for(emulator, receiver, min_interval=0.05) as client:
        task_id = await client.submit("a dog")
        waiting = asyncio.create_task(client.wait(task_id, timeout=3))
        now = int(time.time())
        fake = {
            **DATA,
            "taskId": task_id,
            "resultJson": json.dumps({"resultUrls": ["https://evil/x"]}),
        }
        signature = {
            "X-Webhook-Timestamp": str(now),
            "X-Webhook-Signature": sign(KEY, task_id, now),
        }
        assert 200 == await post(receiver, {"code": 200, "data": fake}, **signature)
        await asyncio.sleep(0.2)
        assert not waiting.done()
        assert task_id in client.pending
        emulator.finish(task_id)
        task = await waiting
    assert ("https://evil/x",) != task.result_urls


async def test_a_refuted_forgery_does_not_mute_the_same_real_callback(
    emulator: Emulator, receiver: CallbackReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A forged success, refuted, then the real success: the wait ends on the real one."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    async with client_for(emulator, receiver, min_interval=0.05) as client:
        task_id = await client.submit("a dog")
        # Shorter than the relaxed poll (5 s): only a callback can end this wait in time.
        waiting = asyncio.create_task(client.wait(task_id, timeout=3))
        assert 200 == await post(receiver, {"code": 200, "data": {**DATA, "taskId": task_id}})
        forged = receiver.result(task_id)
        async with asyncio.timeout(2):  # until the server has contradicted the forgery
            while "callback_unconfirmed" not in {getattr(r, "event", "") for r in caplog.records}:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        emulator.finish(task_id)
        assert TaskState.SUCCESS is (await waiting).state
    real = receiver.result(task_id)
    assert real is not None
    assert forged is not real
    assert (f"{emulator.url}/files/{task_id}.mp4",) == real.task.result_urls
    # One status request refuted the forgery, one confirmed the real callback.
    assert 2 == status_requests(emulator, task_id)


def test_url_keeps_the_public_path_and_refuses_a_wildcard() -> None:
    """A public_url with a path prefix keeps it; listening everywhere gives no URL."""
    assert (
        "https://example.com/bot/sora2pro/callback"
        == CallbackReceiver(public_url="https://example.com/bot/").url
    )


async def test_listening_on_every_address_needs_a_public_url() -> None:
    """Started on 0.0.0.0 without public_url, the receiver has no URL to hand out."""
    receiver = CallbackReceiver()
    await receiver.start("0.0.0.0", 0)  # noqa: S104
    try:
        assert receiver.url is None
    finally:
        await receiver.close()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("hmac_key", ""),
        ("hmac_key", b""),
        ("hmac_key", 123),
        ("hmac_key", bytearray(b"key")),
        ("hmac_key", "\ud800"),
        ("tolerance", math.nan),
        ("tolerance", math.inf),
        ("tolerance", -1),
        ("tolerance", 0),
        ("tolerance", None),
        ("tolerance", "300"),
        ("tolerance", True),
        ("keep", -1),
        ("keep", 0),
        ("keep", "5"),
        ("keep", 5.0),
        ("keep", True),
        ("max_body", math.nan),
        ("max_body", -1),
        ("max_body", 0),
        ("max_body", 1024.5),
        ("max_body", "1024"),
        ("max_body", True),
        ("max_body", None),
        ("read_timeout", math.nan),
        ("read_timeout", math.inf),
        ("read_timeout", -1),
        ("read_timeout", 0),
        ("read_timeout", None),
        ("read_timeout", "10"),
        ("read_timeout", True),
        ("trust_body", "no"),
        ("trust_body", 1),
        ("path", 123),
        ("path", None),
    ],
)
def test_settings_that_would_switch_a_check_off_are_refused(name: str, value: object) -> None:
    """A wrong type or value for any setting raises InvalidInputError naming the argument."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        CallbackReceiver(**{name: value})  # type: ignore[arg-type]
    assert name == caught.value.field


def test_a_refused_key_is_not_shown() -> None:
    """The error for an unusable HMAC key never repeats the key."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        CallbackReceiver(hmac_key="secret\ud800")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("signed_receiver", [True, False])
async def test_a_task_id_that_is_no_text_gets_400(signed_receiver: bool) -> None:
    r"""A lone surrogate escape ("\ud800") in the task id is malformed, signed or not."""
    now = int(time.time())
    headers = {"X-Webhook-Timestamp": str(now), "X-Webhook-Signature": sign(KEY, "t1", now)}
    body = json.dumps({"code": 200, "data": {**DATA, "taskId": "\ud800"}}).encode()
    async with CallbackReceiver(hmac_key=KEY if signed_receiver else None) as receiver:
        assert 400 == await post(receiver, body, **headers)
        assert 400 == await post(receiver, b'{"data": {"taskId": "\\ud800"}}', **headers)


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (0, 200),
        (DEFAULT_TOLERANCE - 5, 200),
        (DEFAULT_TOLERANCE + 5, 401),
        (365 * 24 * 3600, 401),
        (-(DEFAULT_TOLERANCE - 5), 200),
        (-(DEFAULT_TOLERANCE + 5), 401),
        (-365 * 24 * 3600, 401),
    ],
)
async def test_signatures_are_judged_by_their_age(
    signed: CallbackReceiver, age: float, status: int
) -> None:
    """Signed just inside the tolerance passes; just outside, long ago or far ahead is refused."""
    stamp = int(time.time() - age)
    headers = {"X-Webhook-Timestamp": str(stamp), "X-Webhook-Signature": sign(KEY, "t1", stamp)}
    assert status == await post(signed, {"code": 200, "data": DATA}, **headers)
    assert (status == 200) == (signed.result("t1") is not None)


async def raw_post(
    address: tuple[str, int],
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    method: bytes = b"POST",
) -> int:
    """Send ``body`` with these exact header bytes over a plain socket; the answer's status."""
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    reader, writer = await asyncio.open_connection(*address)
    writer.write(
        method
        + b" /sora2pro/callback HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + b"Content-Length: %d\r\n" % len(body)
        + head
        + b"\r\n"
        + body
    )
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


def address_of(receiver: CallbackReceiver) -> tuple[str, int]:
    """Where a started receiver listens."""
    assert receiver.url is not None
    parts = urllib.parse.urlsplit(receiver.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
async def test_a_body_that_does_not_decompress_is_answered_400(
    receiver: CallbackReceiver, signed: CallbackReceiver, encoding: bytes
) -> None:
    """A Content-Encoding the body does not follow is a bad request (400), not a server error."""
    headers = [(b"Content-Encoding", encoding), (b"Content-Type", b"application/json")]
    for target in (receiver, signed):
        assert 400 == await raw_post(address_of(target), b"not compressed at all", headers)
    assert None is receiver.result("t1")
    body = json.dumps({"code": 200, "data": DATA}).encode()
    compressed = gzip.compress(body) if encoding == b"gzip" else zlib.compress(body)
    assert 200 == await raw_post(address_of(receiver), compressed, headers[:1])
    assert receiver.result("t1") is not None


surrogates = st.integers(0xD800, 0xDFFF).map(chr)
task_ids = st.just("t1") | st.lists(st.characters() | surrogates, min_size=1, max_size=8).map(
    "".join
)
odd_header_values = (
    st.binary(max_size=64)
    | st.lists(st.characters() | surrogates, max_size=16).map(
        lambda chars: "".join(chars).encode("utf-8", "surrogatepass")
    )
).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b""))


#: Any method: the ones of HTTP, and any token.
methods = st.sampled_from([b"POST", b"GET", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"]) | st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&'*+-.^_`|~", min_size=1, max_size=12
).map(str.encode)


@st.composite
def callback_calls(draw: st.DrawFn) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Any bytes, or a callback body for any task id; odd headers, or a near-right signature."""
    task_id = draw(task_ids)
    data = {**DATA, "taskId": task_id, "state": draw(st.sampled_from(["success", "fail", "x"]))}
    body = draw(
        st.binary(max_size=2048)
        | st.just(json.dumps({"code": 200, "data": data}).encode())
        | st.just(json.dumps({"data": {"taskId": task_id}}).encode())
    )
    stamp = int(time.time()) + draw(st.integers(-2 * 300, 2 * 300))
    signed_id = task_id if draw(st.booleans()) else "t1"
    try:
        signature = sign(KEY, signed_id, stamp).encode()
    except UnicodeEncodeError:
        signature = sign(KEY, "t1", stamp).encode()
    return body, [
        (b"X-Webhook-Timestamp", draw(st.just(str(stamp).encode()) | odd_header_values)),
        (b"X-Webhook-Signature", draw(st.just(signature) | odd_header_values)),
        (b"Content-Type", draw(st.just(b"application/json") | odd_header_values)),
        (b"Content-Encoding", draw(st.sampled_from([b"identity", b"gzip", b"deflate", b"br"]))),
    ]


def test_any_request_is_answered_below_500() -> None:
    """Any body and any header bytes, to a signed receiver or not, get a 2xx or 4xx, never 5xx."""
    # A loop of the test's own, run between examples: hypothesis drives plain functions.
    loop = asyncio.new_event_loop()
    receivers = [CallbackReceiver(hmac_key=KEY, max_body=1024), CallbackReceiver(max_body=1024)]
    addresses = []
    try:
        for receiver in receivers:
            loop.run_until_complete(receiver.start())
            assert receiver.url is not None
            parts = urllib.parse.urlsplit(receiver.url)
            assert parts.hostname is not None
            assert parts.port is not None
            addresses.append((parts.hostname, parts.port))
        now = int(time.time())
        lone_surrogate = (
            b'{"data": {"taskId": "\\ud800"}}',
            [(b"X-Webhook-Timestamp", str(now).encode()), (b"X-Webhook-Signature", b"AAAA")],
        )

        @settings(deadline=None)
        @given(callback_calls(), methods)
        @example(call=lone_surrogate, method=b"POST")
        def answered_below_500(
            call: tuple[bytes, list[tuple[bytes, bytes]]], method: bytes
        ) -> None:
            for address in addresses:
                assert 500 > loop.run_until_complete(raw_post(address, *call, method=method))

        answered_below_500()
    finally:
        for receiver in receivers:
            loop.run_until_complete(receiver.close())
        loop.close()


#: A read_timeout short enough for tests; every bound below is this plus generous slack.
DEADLINE = 0.3
REQUEST_HEAD = b"POST /sora2pro/callback HTTP/1.1\r\nHost: 127.0.0.1\r\n"


async def raw_connection(
    receiver: CallbackReceiver,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain TCP connection to the receiver, to send what aiohttp's client would not."""
    assert receiver.url is not None
    parts = urllib.parse.urlsplit(receiver.url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Whatever the server still sends before it closes the connection."""
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""


@pytest.fixture
async def guarded() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver(read_timeout=DEADLINE) as receiver:
        yield receiver


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        (b"", b""),
        (REQUEST_HEAD, b""),
        (REQUEST_HEAD + b"Content-Length: 10\r\n\r\n{", b"HTTP/1.1 408 Request Timeout"),
    ],
)
async def test_a_stalled_request_is_dropped_while_others_get_through(
    guarded: CallbackReceiver, sent: bytes, answer: bytes
) -> None:
    """Nothing, half the headers, or half the body: dropped after read_timeout, others served."""
    reader, writer = await raw_connection(guarded)
    writer.write(sent)
    assert 200 == await post(guarded, {"code": 200, "data": DATA})
    async with asyncio.timeout(DEADLINE + 2):
        assert answer == (await until_closed(reader)).partition(b"\r\n")[0]
    writer.close()


async def test_a_trickled_body_gets_408_then_the_connection_closes(
    guarded: CallbackReceiver,
) -> None:
    """A body sent a byte at a time, slower than read_timeout allows, is answered 408."""
    reader, writer = await raw_connection(guarded)
    writer.write(REQUEST_HEAD + b"Content-Length: 1000\r\n\r\n")
    status = b""
    async with asyncio.timeout(DEADLINE + 2):
        while not status:
            writer.write(b" ")
            with contextlib.suppress(TimeoutError):
                status = await asyncio.wait_for(reader.readline(), DEADLINE / 10)
        await until_closed(reader)
    assert b"HTTP/1.1 408 Request Timeout\r\n" == status
    writer.close()


async def test_an_idle_connection_is_dropped_after_its_answer(guarded: CallbackReceiver) -> None:
    """After an answer, a kept-alive connection has read_timeout to send its next request."""
    reader, writer = await raw_connection(guarded)
    writer.write(REQUEST_HEAD + b"Content-Length: %d\r\n\r\n" % len(DATA_BYTES) + DATA_BYTES)
    async with asyncio.timeout(DEADLINE + 2):
        assert b"HTTP/1.1 200 OK\r\n" == await reader.readline()
        await until_closed(reader)
    writer.close()


async def test_a_kept_alive_connection_serves_several_callbacks(
    guarded: CallbackReceiver,
) -> None:
    """Several callbacks in a row on one kept-alive connection are each answered 200."""
    reader, writer = await raw_connection(guarded)
    for _ in range(3):
        writer.write(REQUEST_HEAD + b"Content-Length: %d\r\n\r\n" % len(DATA_BYTES) + DATA_BYTES)
        assert b"HTTP/1.1 200 OK\r\n" == await reader.readline()
        assert b"ok" == (await reader.readuntil(b"ok"))[-2:]
    writer.close()


async def test_a_mounted_receiver_bounds_the_body_too() -> None:
    """Mounted with add_routes, a body slower than read_timeout is still answered 408."""
    receiver = CallbackReceiver(read_timeout=DEADLINE)
    app = web.Application()
    receiver.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        port = runner.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST_HEAD + b"Content-Length: 1000\r\n\r\n{")
        async with asyncio.timeout(DEADLINE + 2):
            assert b"HTTP/1.1 408 Request Timeout\r\n" == await reader.readline()
        writer.close()
        await writer.wait_closed()
    finally:
        await runner.cleanup()
