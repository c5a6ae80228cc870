"""verify_callback() and parse_callback(): a callback checked without a server, any input."""

from __future__ import annotations

import array
import contextlib
import json
import math
import time
import typing

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

import sora2pro
from sora2pro import (
    CallbackError,
    CallbackReceiver,
    CallbackSignatureError,
    CallbackTooLargeError,
    MalformedCallbackError,
    TaskState,
    parse_callback,
    verify_callback,
)
from sora2pro._callbacks._signing import sign

KEY = b"webhook-secret"
DATA = {"taskId": "t1", "model": "sora-2-pro-text-to-video", "state": "success",
        "resultJson": json.dumps({"resultUrls": ["https://f/v.mp4"]})}  # fmt: skip
BODY = json.dumps({"code": 200, "msg": "success", "data": DATA}).encode()


def signed_headers(task_id: str = "t1", age: float = 0.0) -> dict[str, str]:
    """The platform's headers for ``task_id``, signed ``age`` seconds ago."""
    stamp = int(time.time() - age)
    return {"X-Webhook-Timestamp": str(stamp), "X-Webhook-Signature": sign(KEY, task_id, stamp)}


def test_parse_callback_reads_the_task() -> None:
    """A success callback's body gives the task, its state and its result URLs."""
    task = parse_callback(BODY)
    assert ("t1", TaskState.SUCCESS, ("https://f/v.mp4",)) == (
        task.id,
        task.state,
        task.result_urls,
    )


def test_parse_callback_reads_a_failure() -> None:
    """A failure callback (code 501, resultJson null) gives the failed task and its reason."""
    data = {**DATA, "state": "fail", "resultJson": None, "failMsg": "blocked"}
    task = parse_callback(json.dumps({"code": 501, "msg": "blocked", "data": data}).encode())
    assert (TaskState.FAIL, "blocked") == (task.state, task.fail_message)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_parse_callback_takes_any_bytes_like_body(kind: type) -> None:
    """The raw body as bytes, bytearray or memoryview (what frameworks hand over) is read."""
    assert "t1" == parse_callback(kind(BODY)).id


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00garbage",
        b'{"code": 200}',
        b'{"code": 200, "data": {"state": "success"}}',
        b'{"code": 200, "data": {"taskId": 5}}',
        b"[1, 2, 3]",
        b"null",
        b'{"data": {"taskId": "\\ud800"}}',
        b"[" * 100_000,
        json.dumps({"code": 200, "data": {**DATA, "taskId": ""}}).encode(),
    ],
)
def test_parse_callback_refuses_what_is_no_callback(body: bytes) -> None:
    """Garbage, non-UTF-8, deep nesting and bodies without a task raise MalformedCallbackError."""
    with pytest.raises(MalformedCallbackError) as caught:
        parse_callback(body)
    assert 400 == caught.value.status


@pytest.mark.parametrize("body", ["{}", json.dumps({"data": DATA}), None, 123, {"data": DATA}])
def test_parse_callback_refuses_a_body_that_is_not_bytes(body: object) -> None:
    """Text, None, a number or a dict instead of the raw bytes is a MalformedCallbackError."""
    with pytest.raises(MalformedCallbackError, match="bytes"):
        parse_callback(body)  # type: ignore[arg-type]


def test_parse_callback_refuses_a_body_over_max_body() -> None:
    """A body over max_body (1 MiB by default) raises CallbackTooLargeError, status 413."""
    with pytest.raises(CallbackTooLargeError) as caught:
        parse_callback(b" " * (1024 * 1024) + BODY)
    assert 413 == caught.value.status
    assert "t1" == parse_callback(BODY, max_body=len(BODY)).id
    with pytest.raises(CallbackTooLargeError):
        parse_callback(BODY, max_body=len(BODY) - 1)


@settings(deadline=None)  # a loaded machine is not a defect
@given(st.binary(max_size=512))
@example(BODY[:-1])
@example(b'{"data": {"taskId": "t", "state": "success", "resultJson": "{"}}')
def test_parse_callback_raises_only_callback_errors_on_any_bytes(body: bytes) -> None:
    """Any bytes at all give a Task or a CallbackError, never another exception."""
    with contextlib.suppress(CallbackError):
        parse_callback(body)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16)
json_values = (
    scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=8), scalars)
)


@settings(deadline=None)  # a loaded machine is not a defect
@given(st.dictionaries(st.sampled_from([*DATA, "failMsg", "progress", "costTime"]), json_values))
def test_parse_callback_raises_only_callback_errors_on_any_task_fields(
    fields: dict[str, object],
) -> None:
    """Any JSON values in the task's fields give a Task or a CallbackError, nothing else."""
    body = json.dumps({"code": 200, "data": {**DATA, **fields}}).encode()
    with contextlib.suppress(CallbackError):
        parse_callback(body)


def test_verify_callback_returns_the_task_of_a_good_signature() -> None:
    """A fresh, correct signature gives the body's task."""
    assert "t1" == verify_callback(BODY, signed_headers(), hmac_key=KEY).id
    assert "t1" == verify_callback(BODY, signed_headers(), hmac_key=KEY.decode()).id


@pytest.mark.parametrize(
    "spell",
    [str.lower, str.upper, str.title, lambda name: name],
)
def test_verify_callback_finds_headers_in_any_case(spell: typing.Callable[[str], str]) -> None:
    """Header names match case-insensitively, in a plain dict as in aiohttp's CIMultiDict."""
    headers = {spell(name): value for name, value in signed_headers().items()}
    assert "t1" == verify_callback(BODY, headers, hmac_key=KEY).id
    assert "t1" == verify_callback(BODY, CIMultiDict(headers), hmac_key=KEY).id


def test_verify_callback_works_with_starlette_headers() -> None:
    """Starlette's (FastAPI's) Headers, built from the raw ASGI pairs, are read."""
    from starlette.datastructures import Headers  # noqa: PLC0415

    raw = [(name.lower().encode(), value.encode()) for name, value in signed_headers().items()]
    assert "t1" == verify_callback(BODY, Headers(raw=raw), hmac_key=KEY).id


class WsgiHeaders:
    """Headers shaped as werkzeug's (Flask's ``request.headers``): pairs, and no Mapping."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self, lower: bool = False) -> typing.Iterator[tuple[str, str]]:
        """Each pair, its name lowered if asked, as werkzeug's does."""
        for name, value in self._pairs:
            yield (name.lower() if lower else name), value


def test_verify_callback_reads_headers_that_only_have_items() -> None:
    """Werkzeug's (Flask's) headers are no Mapping, yet give their pairs: read, repeats refused."""
    pairs = list(signed_headers().items())
    assert "t1" == verify_callback(BODY, WsgiHeaders(pairs), hmac_key=KEY).id
    assert "t1" == CallbackReceiver().check(BODY, WsgiHeaders(pairs)).task.id
    name, value = pairs[0]
    with pytest.raises(CallbackSignatureError, match="more than once"):
        verify_callback(BODY, WsgiHeaders([*pairs, (name.upper(), value)]), hmac_key=KEY)


def refused(headers: typing.Mapping[str, str], body: bytes = BODY) -> CallbackSignatureError:
    """The signature error verify_callback raises for ``headers``."""
    with pytest.raises(CallbackSignatureError) as caught:
        verify_callback(body, headers, hmac_key=KEY)
    assert 401 == caught.value.status
    return caught.value


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Webhook-Timestamp": "{now}"},
        {"X-Webhook-Signature": "{sig}"},
        {"X-Webhook-Timestamp": "{now}", "X-Webhook-Signature": "AAAA"},
        {"X-Webhook-Timestamp": "{now}", "X-Webhook-Signature": "{other}"},
        {"X-Webhook-Timestamp": "soon", "X-Webhook-Signature": "{sig}"},
        {"X-Webhook-Timestamp": "-5", "X-Webhook-Signature": "{sig}"},
        {"X-Webhook-Timestamp": "9" * 400, "X-Webhook-Signature": "{sig}"},
        {"X-Webhook-Timestamp": "{now}", "X-Webhook-Signature": "é" * 44},
        {"X-Webhook-Timestamp": "١٢٣", "X-Webhook-Signature": "{sig}"},
        {"X-Webhook-Timestamp": " {now}", "X-Webhook-Signature": "{sig}"},
    ],
)
def test_verify_callback_refuses_missing_wrong_and_odd_signatures(
    headers: dict[str, str],
) -> None:
    """Missing, wrong, other-task, non-numeric, non-ASCII or padded headers: 401, never a crash."""
    now = int(time.time())
    values = {"now": str(now), "sig": sign(KEY, "t1", now), "other": sign(KEY, "t2", now)}
    refused({name: value.format(**values) for name, value in headers.items()})


def test_verify_callback_refuses_a_repeated_header() -> None:
    """A timestamp or signature given twice (one of them may be forged) is refused."""
    good = signed_headers()
    older = signed_headers(age=10)
    for name in good:
        twice: CIMultiDict[str] = CIMultiDict(good)
        twice.add(name, older[name])
        assert "more than once" in str(refused(twice))
        assert "more than once" in str(refused({**good, name.lower(): older[name]}))


@pytest.mark.parametrize("value", [b"123", None, 123])
def test_verify_callback_refuses_header_values_that_are_not_text(value: object) -> None:
    """A header value of another type than str is refused as a bad signature."""
    for name in ("X-Webhook-Timestamp", "X-Webhook-Signature"):
        refused(typing.cast("dict[str, str]", {**signed_headers(), name: value}))


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        (0, True),
        (295, True),
        (305, False),
        (365 * 24 * 3600, False),
        (-295, True),
        (-305, False),
        (-365 * 24 * 3600, False),
    ],
)
def test_verify_callback_judges_the_timestamp_by_its_age(age: float, accepted: bool) -> None:
    """Signed within 300 s either way passes; older or further ahead is refused as stale."""
    headers = signed_headers(age=age)
    if accepted:
        assert "t1" == verify_callback(BODY, headers, hmac_key=KEY).id
    else:
        assert "tolerance" in str(refused(headers))


def test_verify_callback_takes_its_own_tolerance() -> None:
    """tolerance= widens or narrows the accepted age."""
    headers = signed_headers(age=100)
    assert "t1" == verify_callback(BODY, headers, hmac_key=KEY, tolerance=200).id
    with pytest.raises(CallbackSignatureError):
        verify_callback(BODY, headers, hmac_key=KEY, tolerance=50)


def test_verify_callback_refuses_a_malformed_body_before_its_signature() -> None:
    """A body that is no callback is a MalformedCallbackError even with good headers."""
    with pytest.raises(MalformedCallbackError):
        verify_callback(b"{", signed_headers(), hmac_key=KEY)
    with pytest.raises(CallbackTooLargeError):
        verify_callback(BODY, signed_headers(), hmac_key=KEY, max_body=10)


class BrokenHeaders:
    """Headers whose items() fails: a bug of the caller's, refused as malformed."""

    def items(self) -> list[tuple[str, str]]:
        """Fail, as a caller's buggy object may."""
        raise RuntimeError("broken")


@pytest.mark.parametrize(
    "headers",
    [
        None,
        [("X-Webhook-Timestamp", "1")],
        "X-Webhook",
        5,
        BrokenHeaders(),
        WsgiHeaders([("X-Webhook-Timestamp",)]),  # type: ignore[list-item]
    ],
)
def test_verify_callback_refuses_headers_that_are_no_mapping(headers: object) -> None:
    """Headers that give no pairs of names and values raise MalformedCallbackError."""
    with pytest.raises(MalformedCallbackError, match="headers"):
        verify_callback(BODY, headers, hmac_key=KEY)  # type: ignore[arg-type]


def test_a_signature_error_names_the_task_and_never_the_key() -> None:
    """The error carries the task id; neither its message nor its repr holds the key."""
    error = refused({"X-Webhook-Timestamp": str(int(time.time())), "X-Webhook-Signature": "AAAA"})
    assert "t1" == error.task_id
    assert KEY.decode() not in f"{error} {error!r}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("hmac_key", ""),
        ("hmac_key", b""),
        ("hmac_key", None),
        ("hmac_key", 123),
        ("tolerance", 0),
        ("tolerance", math.nan),
        ("tolerance", "300"),
        ("max_body", 0),
        ("max_body", 1.5),
    ],
)
def test_verify_callback_refuses_settings_that_switch_a_check_off(name: str, value: object) -> None:
    """A missing key, a tolerance or max_body that is no positive number: InvalidInputError."""
    options: dict[str, typing.Any] = {"hmac_key": KEY, name: value}
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        verify_callback(BODY, signed_headers(), **options)
    assert name == caught.value.field


@st.composite
def header_maps(draw: st.DrawFn) -> dict[str, str]:
    """Near-right or random platform headers, under names in any case."""
    good = signed_headers(draw(st.sampled_from(["t1", "t2"])), draw(st.integers(-600, 600)))
    names = st.sampled_from(["X-Webhook-Timestamp", "x-webhook-signature", "X-WEBHOOK-SIGNATURE"])
    odd = st.dictionaries(names | st.text(max_size=8), st.text(max_size=48), max_size=4)
    return draw(st.just(good) | odd | st.builds(lambda extra: {**good, **extra}, odd))


@settings(deadline=None)  # a loaded machine is not a defect
@given(st.binary(max_size=256) | st.just(BODY), header_maps())
def test_verify_callback_raises_only_callback_errors_on_any_call(
    body: bytes, headers: dict[str, str]
) -> None:
    """Any body with any headers gives a Task or a CallbackError, never another exception."""
    with contextlib.suppress(CallbackError):
        verify_callback(body, headers, hmac_key=KEY)


def test_callback_errors_are_value_errors_in_one_family() -> None:
    """Each refusal is a CallbackError (a Sora2ProError and ValueError) with a 4xx status."""
    for kind in (MalformedCallbackError, CallbackTooLargeError, CallbackSignatureError):
        assert issubclass(kind, CallbackError)
        assert 400 <= kind.status < 500
    assert issubclass(CallbackError, sora2pro.Sora2ProError)
    assert issubclass(CallbackError, ValueError)


async def post(receiver: CallbackReceiver, headers: dict[str, str]) -> int:
    """POST the callback ``BODY`` to the receiver with ``headers``; its HTTP status."""
    assert receiver.url is not None
    async with (
        aiohttp.ClientSession() as session,
        session.post(receiver.url, data=BODY, headers=headers) as response,
    ):
        return response.status


async def test_the_receiver_takes_its_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With APIKLEY_WEBHOOK_HMAC_KEY set, a receiver given no key refuses unsigned callbacks."""
    monkeypatch.setenv("APIKLEY_WEBHOOK_HMAC_KEY", KEY.decode())
    caplog.set_level("DEBUG")
    async with CallbackReceiver() as receiver:
        assert 401 == await post(receiver, {})
        assert 200 == await post(receiver, signed_headers())
        callback = receiver.result("t1")
    assert callback is not None
    assert callback.verified
    assert KEY.decode() not in f"{receiver!r} {caplog.text}"


async def test_an_empty_key_variable_leaves_callbacks_unsigned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """APIKLEY_WEBHOOK_HMAC_KEY set but empty counts as unset: unsigned callbacks pass."""
    monkeypatch.setenv("APIKLEY_WEBHOOK_HMAC_KEY", "")
    async with CallbackReceiver() as receiver:
        assert 200 == await post(receiver, {})


def test_a_key_given_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """hmac_key= is used rather than the environment's key."""
    monkeypatch.setenv("APIKLEY_WEBHOOK_HMAC_KEY", "another-secret")
    assert CallbackReceiver(hmac_key=KEY).check(BODY, signed_headers()).verified
    with pytest.raises(CallbackSignatureError):
        CallbackReceiver().check(BODY, signed_headers())


@pytest.mark.parametrize(
    ("options", "body", "headers", "error"),
    [
        ({}, b"{", {}, MalformedCallbackError),
        ({"max_body": 10}, BODY, {}, CallbackTooLargeError),
        ({"hmac_key": KEY}, BODY, {}, CallbackSignatureError),
        ({"hmac_key": KEY, "tolerance": 5}, BODY, signed_headers(age=60), CallbackSignatureError),
    ],
)
def test_the_receiver_checks_with_the_same_functions(
    options: dict[str, typing.Any],
    body: bytes,
    headers: dict[str, str],
    error: type[CallbackError],
) -> None:
    """receiver.check() refuses as verify_callback/parse_callback do, with its own settings."""
    with pytest.raises(error):
        CallbackReceiver(**options).check(body, headers)


def test_a_memoryview_is_measured_in_bytes() -> None:
    """max_body counts a memoryview's bytes, whatever its item size."""
    wide = memoryview(array.array("I", b"\0" * 40))
    assert 10 == len(wide)
    with pytest.raises(CallbackTooLargeError):
        parse_callback(wide, max_body=20)


def test_a_released_memoryview_is_malformed() -> None:
    """A memoryview released before the call is a MalformedCallbackError, not a ValueError."""
    view = memoryview(BODY)
    view.release()
    with pytest.raises(MalformedCallbackError, match="released"):
        parse_callback(view)
