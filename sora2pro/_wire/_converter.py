"""The converter: how each wire value becomes a plain one, and each request field goes out.

Every quirk of the wire lives here and nowhere else: camelCase keys, ``msg`` or
``message``, JSON encoded inside strings (sometimes twice), epoch milliseconds,
``""`` meaning "none", numbers sent as strings. Unknown keys are ignored so that the
API can grow. A payload that does not fit raises :class:`ResponseError`, never a
``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import typing
from collections.abc import Mapping

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from sora2pro._model._json import thaw
from sora2pro._model._requests import (
    AS_LIST,
    AS_TEXT,
    TYPED_REQUESTS,
    UPLOAD,
    WIRE,
    Job,
    TypedRequest,
    is_http_url,
    is_text,
)

__all__ = ["DECODE_ERRORS", "Envelope", "WireTask", "WireUpload", "describe", "make_converter"]

logger = logging.getLogger("sora2pro")

_OptionalText = typing.NewType("_OptionalText", str)
_EpochMillis = typing.NewType("_EpochMillis", dt.datetime)
_Progress = typing.NewType("_Progress", int)
_JsonObject = typing.NewType("_JsonObject", dict[str, object])
_Moment = typing.NewType("_Moment", dt.datetime)
_Count = typing.NewType("_Count", int)
_Amount = typing.NewType("_Amount", float)
_Echo = typing.NewType("_Echo", object)
_TaskId = typing.NewType("_TaskId", str)


@attrs.frozen
class Envelope:
    """The ``{"code", "msg" | "message", "data"}`` wrapper of every answer."""

    code: int
    message: str
    data: object


@attrs.frozen
class WireTask:
    """The ``data`` of a task-details answer (or a callback), as sent."""

    task_id: _TaskId
    model: str = ""
    state: str = ""
    param: _Echo | None = None
    result_json: _JsonObject | None = None
    fail_code: _OptionalText | None = None
    fail_msg: _OptionalText | None = None
    progress: _Progress | None = None
    create_time: _EpochMillis | None = None
    update_time: _EpochMillis | None = None
    complete_time: _EpochMillis | None = None
    cost_time: _Amount | None = None
    credits_consumed: _Amount | None = None
    consume_credits: _Amount | None = None


@attrs.frozen
class WireUpload:
    """The ``data`` of a file-upload answer, as sent."""

    download_url: str
    file_name: str = ""
    file_path: str = ""
    file_size: _Count | None = None
    mime_type: _OptionalText | None = None
    uploaded_at: _Moment | None = None


#: Whole numbers this far from 0 are floats without a loss that matters, and no overflow.
_MOST = 2**53


def _number(value: object) -> float:
    """Read a JSON number, or a number sent as a string; refuse booleans, NaN and huge ones.

    Messages never quote the value: text from the server stays out of errors.
    """
    if type(value) is float and math.isfinite(value):
        return value  # the usual case, first
    if type(value) is int and -_MOST < value < _MOST:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except OverflowError:
        raise ValueError("number out of range") from None
    except ValueError:
        raise ValueError("expected a number, got a string that is not one") from None
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _structure_code(value: object, _: object) -> int:
    number = _number(value)
    if not number.is_integer():
        raise ValueError("expected a whole number")
    return int(number)


def _structure_text(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_optional_text(value: object, _: object) -> str | None:
    """A message for people (failMsg, failCode): a lone surrogate in it becomes U+FFFD.

    Python's json reads one from an escaped surrogate; as is, it could not be journaled,
    logged to a file or printed, and the failure it tells of would be lost.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = _structure_text(value, _)
    if not is_text(text):
        text = "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text or None


def _structure_millis(value: object, _: object) -> dt.datetime | None:
    if value == "":
        return None
    millis = _number(value)
    if millis <= 0:
        return None
    try:
        return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
    except (OverflowError, OSError) as exc:
        raise ValueError("timestamp out of range") from exc


def _structure_moment(value: object, _: object) -> dt.datetime | None:
    """Accept epoch milliseconds, or an ISO 8601 string (UTC when it names no zone)."""
    if not isinstance(value, str) or not value.strip() or value.strip().isdigit():
        return _structure_millis(value, _)
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("expected a date and time") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _structure_count(value: object, _: object) -> int | None:
    if value == "":
        return None
    number = _number(value)
    if not number.is_integer() or number < 0:
        raise ValueError("expected a whole number >= 0")
    return int(number)


def _structure_progress(value: object, _: object) -> int | None:
    if value == "":
        return None
    return min(100, max(0, round(_number(value))))


#: What an object that no JSON text can hold is refused with.
_UNWRITABLE = "the JSON object holds NaN, Infinity or a lone surrogate"


def _structure_json_object(value: object, _: object) -> dict[str, object] | None:
    """Accept an object, or a string holding one; ``""`` means none."""
    if isinstance(value, str):
        if not value.strip():
            return None
        text = value
        value = _READER.decode(text)
        if type(value) is dict and "\\u" not in text and (text.isascii() or is_text(text)):
            return value  # no escape, no lone surrogate: nothing else to look for
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    # Python's json reads NaN and lone surrogates ("\ud800"), which no JSON text holds:
    # such an object could not be printed, logged or sent on as it came.
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError:
        raise ValueError(_UNWRITABLE) from None
    return value


def _not_a_number(_: str) -> float:
    raise ValueError(_UNWRITABLE)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(_UNWRITABLE)
    return number


#: Reads JSON text, refusing NaN, Infinity and numbers past a float's range as it goes.
_READER = json.JSONDecoder(parse_constant=_not_a_number, parse_float=_finite)


def _structure_amount(value: object, _: object) -> float | None:
    """A non-negative number (credits, seconds), or None for ``""``."""
    if value == "":
        return None
    number = _number(value)
    if number < 0:
        raise ValueError("expected a number >= 0")
    return number


def _structure_echo(value: object, _: object) -> dict[str, object] | None:
    """The request the server echoes in ``param``: None when it is not a JSON object.

    It is only an echo (API.md section 8 says it may not be valid JSON): a bad one
    must never cost the task's state or its result URLs.
    """
    try:
        return _structure_json_object(value, _)
    except DECODE_ERRORS:
        logger.debug("task param is not a JSON object; request left unknown")
        return None


def _structure_task_id(value: object, _: object) -> str:
    """A task id: opaque, but printable text that a URL and a log line can carry."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("taskId must be a non-empty string")
    if not value.isprintable() or not is_text(value):
        raise ValueError("taskId holds characters that are not printable text")
    return value


def _structure_envelope(value: object, _: object) -> Envelope:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    if "code" not in value:
        raise ValueError("the answer has no 'code'")
    message = value.get("msg")
    if message is None:
        message = value.get("message")
    return Envelope(
        code=_structure_code(value["code"], int),
        message="" if message is None else str(message),
        data=value.get("data"),
    )


def _as_sent(value: object, _: object) -> object:
    """Hand a field to its request type untouched: its own checks are the only rules.

    cattrs' default hooks would coerce (``"false"`` into True, ``"abc"`` into a tuple
    of letters); a request echoed by the server must pass the same checks as ours.
    """
    return value


def _one_item_list(value: object) -> list[object]:
    return [value]


def _only_item(value: object, _: object) -> object:
    """The value inside a one-item list; anything else goes to the request's checks."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _only_url(value: object, _: object) -> object:
    """A file field echoed by the server: one http(s) URL, never a local path.

    A path would make the request's own checks open a local file the server named.
    """
    item = _only_item(value, _)
    if not isinstance(item, str) or not is_http_url(item):
        raise ValueError("an echoed file field is not an http(s) URL")
    return item


def _request_overrides(
    cls: type[TypedRequest],
) -> tuple[dict[str, typing.Any], dict[str, typing.Any]]:
    """How each field of a request type goes out in ``input``, and comes back in ``param``.

    The field's metadata names it on the wire; optional fields left at their default
    are not sent; ``callback_url`` travels outside ``input``.
    """
    out: dict[str, typing.Any] = {}
    back: dict[str, typing.Any] = {}
    for field in attrs.fields(cls):
        if field.name == "callback_url":
            out[field.name] = back[field.name] = override(omit=True)
            continue
        wire = field.metadata.get(WIRE, field.name)
        encode: typing.Any
        if field.metadata.get(AS_LIST):
            encode = _one_item_list
            hook = _only_url if field.metadata.get(UPLOAD) else _only_item
            back[field.name] = override(rename=wire, struct_hook=hook)
        else:
            encode = str if field.metadata.get(AS_TEXT) else (list if field.default == () else None)
            back[field.name] = override(rename=wire, struct_hook=_as_sent)
        out[field.name] = override(
            rename=wire, omit_if_default=field.default in (None, ()), unstruct_hook=encode
        )
    return out, back


def make_converter() -> cattrs.Converter:
    """Build the private converter that knows the API's wire format."""
    converter = cattrs.Converter(forbid_extra_keys=False)
    converter.register_structure_hook(_OptionalText, _structure_optional_text)
    converter.register_structure_hook(_EpochMillis, _structure_millis)
    converter.register_structure_hook(_Progress, _structure_progress)
    converter.register_structure_hook(_JsonObject, _structure_json_object)
    converter.register_structure_hook(_Moment, _structure_moment)
    converter.register_structure_hook(_Count, _structure_count)
    converter.register_structure_hook(_Amount, _structure_amount)
    converter.register_structure_hook(_Echo, _as_sent)  # read later, and only once
    converter.register_structure_hook(_TaskId, _structure_task_id)
    converter.register_structure_hook(str, _structure_text)
    converter.register_structure_hook(Envelope, _structure_envelope)
    for wire_type in (WireTask, WireUpload):
        camel: dict[str, typing.Any] = {
            name: override(rename=_camel(name)) for name in attrs.fields_dict(wire_type)
        }
        converter.register_structure_hook(
            wire_type, make_dict_structure_fn(wire_type, converter, **camel)
        )
    # A job's input goes out as given; a job is rebuilt from its body in _decode.
    converter.register_unstructure_hook(Job, lambda job: thaw(job.input))
    for request_type in TYPED_REQUESTS:
        out, back = _request_overrides(request_type)
        converter.register_unstructure_hook(
            request_type, make_dict_unstructure_fn(request_type, converter, **out)
        )
        converter.register_structure_hook(
            request_type, make_dict_structure_fn(request_type, converter, **back)
        )
    return converter


def _camel(name: str) -> str:
    return "".join(part.title() if i else part for i, part in enumerate(name.split("_")))


def describe(exc: Exception) -> str:
    """What went wrong in a decode, without the values decoded."""
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return str(exc)


# RecursionError: JSON nested deeper than Python's stack, sent on purpose or not.
DECODE_ERRORS = (cattrs.BaseValidationError, ValueError, TypeError, RecursionError)
