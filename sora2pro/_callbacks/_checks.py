"""What makes a callback acceptable: pure functions, no server, usable from any framework.

The receiver runs these on each POST, and ``Client.deliver_callback`` on a body a web
framework received; anyone may run them on their own. Hostile input (any bytes, any
headers) raises a :class:`CallbackError`, never anything else; a setting that would
turn a check off raises :class:`InvalidInputError`.
"""

from __future__ import annotations

import functools
import hmac
import json
import math
import os
import time
import typing

from sora2pro._callbacks._signing import sign
from sora2pro._errors import (
    CallbackSignatureError,
    CallbackTooLargeError,
    InvalidInputError,
    MalformedCallbackError,
    ResponseError,
)
from sora2pro._wire import decode_task, make_converter

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

    import cattrs

    from sora2pro._model._task import Task

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_TOLERANCE",
    "Headers",
    "as_key",
    "check_count",
    "check_seconds",
    "header_pairs",
    "key_from_env",
    "parse_callback",
    "verify_callback",
]

#: Bodies larger than this are refused (413).
DEFAULT_MAX_BODY = 1024 * 1024
#: Signed callbacks whose timestamp is further than this from now are refused.
DEFAULT_TOLERANCE = 300.0
#: The environment variable a receiver takes its HMAC key from when given none.
KEY_VARIABLE = "APIKLEY_WEBHOOK_HMAC_KEY"
#: Timestamps of more digits are no Unix seconds of this era (and no int() of a megabyte).
_STAMP_DIGITS = 12


@functools.cache
def _converter() -> cattrs.Converter:
    """The wire converter of callbacks: built on first use, configured once, never changed."""
    return make_converter()


def as_key(value: str | bytes | None) -> bytes:
    """The HMAC key as bytes; the message never repeats it (it is a secret).

    Raises:
        InvalidInputError: the key is empty, not text or bytes, or no UTF-8.

    """
    if isinstance(value, str):
        try:
            value = value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError("hmac_key", "must be encodable as UTF-8") from None
    if not isinstance(value, bytes):
        raise InvalidInputError("hmac_key", f"must be str or bytes, not {type(value).__name__}")
    if not value:
        raise InvalidInputError("hmac_key", "must not be empty (None means unsigned callbacks)")
    return value


def key_from_env() -> bytes | None:
    """The key in ``APIKLEY_WEBHOOK_HMAC_KEY`` as its bytes; None when unset or empty."""
    value = os.environ.get(KEY_VARIABLE)
    # fsencode gives back the variable's own bytes, even those that are no UTF-8.
    return os.fsencode(value) if value else None


def check_seconds(name: str, value: float) -> None:
    """Refuse anything but a positive, finite number of seconds: these limits stay on."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(name, f"must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(name, f"must be positive and finite, not {value!r}")


def check_count(name: str, value: int) -> None:
    """Refuse anything but a whole number of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(name, f"must be a whole number >= 1, not {value!r}")


class Headers(typing.Protocol):
    """Request headers: any mapping of names to values, or whatever gives its pairs.

    ``items()`` gives each (name, value) pair: aiohttp's, Starlette's, Django's
    headers and a dict do, and werkzeug's (Flask's), which are no mapping, too.
    """

    def items(self) -> Iterable[tuple[str, str]]:
        """Each header as a (name, value) pair; a repeated header once per value."""
        ...


def header_pairs(headers: object) -> list[tuple[object, object]]:
    """The (name, value) pairs of request headers, as their ``items()`` give them.

    Raises:
        MalformedCallbackError: ``headers`` has no ``items()``, or it fails or gives
            something other than pairs.

    """
    items = getattr(headers, "items", None)
    if not callable(items):
        raise MalformedCallbackError(
            f"the headers must be a mapping of names to values, not {type(headers).__name__}"
        )
    try:
        pairs = list(items())
    except Exception:  # noqa: BLE001  # whatever the caller's object raises
        pairs = None
    if pairs is None or not all(type(pair) is tuple and len(pair) == 2 for pair in pairs):
        raise MalformedCallbackError(
            f"the headers ({type(headers).__name__}) gave no pairs of names and values"
        )
    return pairs


def parse_callback(
    body: bytes | bytearray | memoryview, *, max_body: int = DEFAULT_MAX_BODY
) -> Task:
    """The task a callback's body describes, its signature unchecked.

    Use it where callbacks are unsigned; the task is a hint until confirmed (for
    instance by ``client.get_task(task.id)``): anyone who can reach your URL can
    send one.

    Args:
        body: The raw request body, as bytes (or bytearray, memoryview).
        max_body: The largest body accepted, in bytes.

    Returns:
        The task, in the state the body claims.

    Raises:
        MalformedCallbackError: the body is not bytes, not JSON, or holds no task.
        CallbackTooLargeError: the body is larger than ``max_body``.
        InvalidInputError: ``max_body`` is not a whole number >= 1.

    """
    check_count("max_body", max_body)
    if not isinstance(body, bytes | bytearray | memoryview):
        raise MalformedCallbackError(
            f"the body must be the request's raw bytes, not {type(body).__name__}"
        )
    try:
        size = memoryview(body).nbytes
    except ValueError:  # a memoryview released already
        raise MalformedCallbackError("the body is a released memoryview") from None
    if size > max_body:
        raise CallbackTooLargeError(f"the body is larger than {max_body} bytes")
    try:
        payload = json.loads(bytes(body))
        # JSON may escape a lone surrogate ("\ud800"), which is no text: it could not
        # be signed, logged or sent on, so such a body is malformed.
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return decode_task(_converter(), payload.get("data") if isinstance(payload, dict) else None)
    except (ValueError, RecursionError, ResponseError) as exc:
        # Not chained: a JSON error holds the whole body (``doc``); its message says enough.
        raise MalformedCallbackError(f"the body is not a callback: {exc}") from None


def verify_callback(
    body: bytes | bytearray | memoryview,
    headers: Headers,
    *,
    hmac_key: str | bytes,
    tolerance: float = DEFAULT_TOLERANCE,
    max_body: int = DEFAULT_MAX_BODY,
) -> Task:
    """The task of a callback the platform signed: its signature and age checked.

    ``X-Webhook-Signature`` must be base64(HMAC-SHA256(key, taskId + "." +
    timestamp)) for the body's task id and ``X-Webhook-Timestamp``, compared in
    constant time, and the timestamp within ``tolerance`` of now. The signature does
    not cover the body, so the task is still best confirmed before its results are
    trusted (``client.deliver_callback`` does that).

    Args:
        body: The raw request body, as bytes (or bytearray, memoryview).
        headers: The request's headers: any mapping of names to values (aiohttp's,
            Starlette's, Django's, a plain dict), or anything whose ``items()`` gives
            the (name, value) pairs (werkzeug's, Flask's); names match in any case.
        hmac_key: The account's webhook HMAC key.
        tolerance: Seconds the timestamp may differ from now, either way.
        max_body: The largest body accepted, in bytes.

    Returns:
        The task, in the state the body claims.

    Raises:
        MalformedCallbackError: the body is no callback, or ``headers`` give no pairs.
        CallbackTooLargeError: the body is larger than ``max_body``.
        CallbackSignatureError: a header is missing, given twice or not text, the
            timestamp is stale, or the signature does not match.
        InvalidInputError: ``hmac_key``, ``tolerance`` or ``max_body`` would turn a
            check off (an empty key, a duration that is no positive number).

    """
    key = as_key(hmac_key)
    check_seconds("tolerance", tolerance)
    pairs = header_pairs(headers)
    task = parse_callback(body, max_body=max_body)
    try:
        _check_signature(key, task.id, pairs, tolerance)
    except CallbackSignatureError as exc:
        exc.task_id = task.id
        raise
    return task


def _check_signature(
    key: bytes, task_id: str, pairs: list[tuple[object, object]], tolerance: float
) -> None:
    stamp = _header(pairs, "X-Webhook-Timestamp")
    given = _header(pairs, "X-Webhook-Signature")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _STAMP_DIGITS):
        raise CallbackSignatureError("X-Webhook-Timestamp is not a number of Unix seconds")
    timestamp = int(stamp)
    if abs(time.time() - timestamp) > tolerance:
        raise CallbackSignatureError(
            f"the timestamp is further from now than the tolerance of {tolerance:g} s"
        )
    if not (given.isascii() and hmac.compare_digest(sign(key, task_id, timestamp), given)):
        raise CallbackSignatureError("the signature does not match")


def _header(pairs: list[tuple[object, object]], name: str) -> str:
    """The one value of header ``name``, in any case; refused when missing, repeated or no text.

    A multidict lists a repeated header once per value, and a plain dict may hold
    two spellings of one name: either way it is refused, since one may be forged.
    """
    wanted = name.lower()
    values = [value for key, value in pairs if isinstance(key, str) and key.lower() == wanted]
    if not values:
        raise CallbackSignatureError(f"no {name} header")
    if len(values) > 1:
        raise CallbackSignatureError(f"{name} given more than once")
    (value,) = values
    if not isinstance(value, str):
        raise CallbackSignatureError(f"{name} is {type(value).__name__}, not text")
    return value
