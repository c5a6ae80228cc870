"""Wire conversion: the API's JSON in and out of sora2pro's plain values.

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

from sora2pro._errors import InvalidInputError, ResponseError
from sora2pro._model._requests import (
    AS_LIST,
    AS_TEXT,
    REQUEST_TYPES,
    UPLOAD,
    WIRE,
    CharacterRequest,
    Request,
    is_http_url,
    is_text,
)
from sora2pro._model._task import Task, TaskState, UploadedFile

__all__ = [
    "Envelope",
    "decode_credits",
    "decode_envelope",
    "decode_task",
    "decode_task_id",
    "decode_upload",
    "encode_create",
    "make_converter",
]

logger = logging.getLogger("sora2pro")

_OptionalText = typing.NewType("_OptionalText", str)
_EpochMillis = typing.NewType("_EpochMillis", dt.datetime)
_Progress = typing.NewType("_Progress", int)
_JsonObject = typing.NewType("_JsonObject", dict[str, object])
_Moment = typing.NewType("_Moment", dt.datetime)
_Count = typing.NewType("_Count", int)
_Amount = typing.NewType("_Amount", float)
_Echo = typing.NewType("_Echo", dict[str, object])
_TaskId = typing.NewType("_TaskId", str)


@attrs.frozen
class Envelope:
    """The ``{"code", "msg" | "message", "data"}`` wrapper of every answer."""

    code: int
    message: str
    data: object


@attrs.frozen
class _WireTask:
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
class _WireUpload:
    """The ``data`` of a file-upload answer, as sent."""

    download_url: str
    file_name: str = ""
    file_path: str = ""
    file_size: _Count | None = None
    mime_type: _OptionalText | None = None
    uploaded_at: _Moment | None = None


def _number(value: object) -> float:
    """Read a JSON number, or a number sent as a string; refuse booleans, NaN and huge ones.

    Messages never quote the value: text from the server stays out of errors.
    """
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
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = _structure_text(value, _)
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


def _structure_json_object(value: object, _: object) -> dict[str, object] | None:
    """Accept an object, or a string holding one; ``""`` means none."""
    if isinstance(value, str):
        if not value.strip():
            return None
        value = json.loads(value)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


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
    except _DECODE_ERRORS:
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
    cls: type[Request],
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
    converter.register_structure_hook(_Echo, _structure_echo)
    converter.register_structure_hook(_TaskId, _structure_task_id)
    converter.register_structure_hook(str, _structure_text)
    converter.register_structure_hook(Envelope, _structure_envelope)
    for wire_type in (_WireTask, _WireUpload):
        camel: dict[str, typing.Any] = {
            name: override(rename=_camel(name)) for name in attrs.fields_dict(wire_type)
        }
        converter.register_structure_hook(
            wire_type, make_dict_structure_fn(wire_type, converter, **camel)
        )
    for request_type in REQUEST_TYPES:
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


def _describe(exc: Exception) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return str(exc)


# RecursionError: JSON nested deeper than Python's stack, sent on purpose or not.
_DECODE_ERRORS = (cattrs.BaseValidationError, ValueError, TypeError, RecursionError)


def decode_envelope(converter: cattrs.Converter, payload: object, *, http_status: int) -> Envelope:
    """Read the wrapper of an answer.

    Raises:
        ResponseError: if ``payload`` is not an object with a numeric ``code``.

    """
    try:
        return converter.structure(payload, Envelope)
    except _DECODE_ERRORS as exc:
        raise ResponseError(
            f"unexpected answer: {_describe(exc)}", http_status=http_status
        ) from exc


def encode_create(converter: cattrs.Converter, request: Request) -> dict[str, object]:
    """Build the createTask body for ``request``."""
    body: dict[str, object] = {
        "model": request.MODEL,
        "input": converter.unstructure(request, type(request)),
    }
    if request.callback_url is not None:
        body["callBackUrl"] = request.callback_url
    return body


def decode_task_id(data: object) -> str:
    """Read the task id from a createTask answer's ``data``.

    Raises:
        ResponseError: if there is no non-empty string ``taskId``.

    """
    task_id = data.get("taskId") if isinstance(data, Mapping) else None
    try:
        return _structure_task_id(task_id, None)
    except ValueError:
        pass
    # Raised outside the except clause: no context to carry the answer's text.
    raise ResponseError(f"createTask answered without a usable task id ({type(data).__name__})")


def decode_credits(data: object) -> float:
    """Read the balance from a credit answer's ``data``.

    Raises:
        ResponseError: if ``data`` is not a number.

    """
    try:
        return _number(data)
    except (ValueError, TypeError) as exc:
        raise ResponseError(f"credit answer is not a number: {exc}") from exc


def decode_upload(converter: cattrs.Converter, data: object) -> UploadedFile:
    """Read the stored file from a file-upload answer's ``data``.

    Raises:
        ResponseError: if ``data`` does not describe a file with an http(s) URL.

    """
    try:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a file object, got {type(data).__name__}")
        wire = converter.structure(data, _WireUpload)
        if not is_http_url(wire.download_url):
            raise ValueError("downloadUrl is not an http(s) URL")
    except _DECODE_ERRORS as exc:
        raise ResponseError(f"malformed upload answer: {_describe(exc)}") from exc
    return UploadedFile(
        url=wire.download_url,
        file_name=wire.file_name or wire.file_path.rpartition("/")[2],
        size=wire.file_size,
        mime_type=wire.mime_type,
        uploaded_at=wire.uploaded_at,
    )


_BY_MODEL = {request_type.MODEL: request_type for request_type in REQUEST_TYPES}


def _decode_request(converter: cattrs.Converter, param: dict[str, object]) -> Request | None:
    """Rebuild the request from a task's ``param``, if it is one sora2pro knows."""
    model = param.get("model")
    request_type = _BY_MODEL.get(model) if isinstance(model, str) else None
    if request_type is None:
        return None
    try:
        fields = _structure_json_object(param.get("input"), None) or {}
        request: Request = converter.structure(fields, request_type)
        callback_url = param.get("callBackUrl")
        if isinstance(callback_url, str) and callback_url:
            request = attrs.evolve(request, callback_url=callback_url)
    except (*_DECODE_ERRORS, InvalidInputError) as exc:
        logger.debug("task param not decoded", extra={"reason": _describe(exc)})
        return None
    return request


def _urls(result: dict[str, object], key: str) -> tuple[str, ...]:
    urls = result.get(key)
    if urls is None:
        return ()
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise ValueError(f"resultJson.{key} must be a list of strings")
    return tuple(urls)


def _character_id(result: dict[str, object]) -> str | None:
    """The id a characters task made, under either key API.md names."""
    found = result.get("character_id")
    if found is None:
        found = result.get("character_id_list")
    if isinstance(found, list) and len(found) == 1:
        found = found[0]
    if found is None:
        return None
    if not isinstance(found, str) or not found.strip():
        raise ValueError("resultJson.character_id must be one non-empty string")
    return found


def decode_task(converter: cattrs.Converter, data: object) -> Task:
    """Read a task from a task-details answer's ``data`` (or a callback's).

    Raises:
        ResponseError: if ``data`` does not describe a task.

    """
    try:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a task object, got {type(data).__name__}")
        wire = converter.structure(data, _WireTask)
        result: dict[str, object] = wire.result_json or {}
        result_urls = _urls(result, "resultUrls")
        watermark_urls = _urls(result, "resultWaterMarkUrls")
        character_id = _character_id(result) if wire.model == CharacterRequest.MODEL else None
    except _DECODE_ERRORS as exc:
        raise ResponseError(f"malformed task details: {_describe(exc)}") from exc
    try:
        state = TaskState(wire.state)
    except ValueError:
        state = TaskState.UNKNOWN
    if state is TaskState.UNKNOWN:
        logger.warning(
            "task %.80s in undocumented state %.40r; treated as not finished",
            wire.task_id,
            wire.state,
            extra={"event": "unknown_state", "task_id": wire.task_id, "state": wire.state},
        )
    return Task(
        id=wire.task_id,
        model=wire.model,
        state=state,
        raw_state=wire.state,
        progress=wire.progress,
        result_urls=result_urls,
        watermark_urls=watermark_urls,
        fail_code=wire.fail_code,
        fail_message=wire.fail_msg,
        created_at=wire.create_time,
        updated_at=wire.update_time,
        completed_at=wire.complete_time,
        cost_time=wire.cost_time,
        credits_consumed=(
            wire.credits_consumed if wire.credits_consumed is not None else wire.consume_credits
        ),
        character_id=character_id,
        request=None if wire.param is None else _decode_request(converter, wire.param),
    )
