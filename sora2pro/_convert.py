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
from sora2pro._models import Task, TaskState, TextToVideo

__all__ = [
    "Envelope",
    "decode_credits",
    "decode_envelope",
    "decode_task",
    "decode_task_id",
    "encode_create",
    "make_converter",
]

logger = logging.getLogger("sora2pro")

_OptionalText = typing.NewType("_OptionalText", str)
_EpochMillis = typing.NewType("_EpochMillis", dt.datetime)
_Progress = typing.NewType("_Progress", int)
_JsonObject = typing.NewType("_JsonObject", dict[str, object])


@attrs.frozen
class Envelope:
    """The ``{"code", "msg" | "message", "data"}`` wrapper of every answer."""

    code: int
    message: str
    data: object


@attrs.frozen
class _WireTask:
    """The ``data`` of a task-details answer (or a callback), as sent."""

    task_id: str
    model: str = ""
    state: str = ""
    param: _JsonObject | None = None
    result_json: _JsonObject | None = None
    fail_code: _OptionalText | None = None
    fail_msg: _OptionalText | None = None
    progress: _Progress | None = None
    create_time: _EpochMillis | None = None
    update_time: _EpochMillis | None = None
    complete_time: _EpochMillis | None = None


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
    """Hand a field to TextToVideo untouched: its own checks are the only rules.

    cattrs' default hooks would coerce (``"false"`` into True, ``"abc"`` into a tuple
    of letters); a request echoed by the server must pass the same checks as ours.
    """
    return value


def make_converter() -> cattrs.Converter:
    """Build the private converter that knows the API's wire format."""
    converter = cattrs.Converter(forbid_extra_keys=False)
    converter.register_structure_hook(_OptionalText, _structure_optional_text)
    converter.register_structure_hook(_EpochMillis, _structure_millis)
    converter.register_structure_hook(_Progress, _structure_progress)
    converter.register_structure_hook(_JsonObject, _structure_json_object)
    converter.register_structure_hook(str, _structure_text)
    converter.register_structure_hook(Envelope, _structure_envelope)
    camel: dict[str, typing.Any] = {
        name: override(rename="".join(p.title() if i else p for i, p in enumerate(name.split("_"))))
        for name in attrs.fields_dict(_WireTask)
    }
    converter.register_structure_hook(
        _WireTask, make_dict_structure_fn(_WireTask, converter, **camel)
    )
    converter.register_unstructure_hook(
        TextToVideo,
        make_dict_unstructure_fn(
            TextToVideo,
            converter,
            n_frames=override(unstruct_hook=str),
            character_ids=override(
                rename="character_id_list", omit_if_default=True, unstruct_hook=list
            ),
            remove_watermark=override(omit_if_default=True),
            callback_url=override(omit=True),
        ),
    )
    as_sent: dict[str, typing.Any] = {
        field.name: override(struct_hook=_as_sent) for field in attrs.fields(TextToVideo)
    }
    as_sent["character_ids"] = override(rename="character_id_list", struct_hook=_as_sent)
    as_sent["callback_url"] = override(omit=True)
    converter.register_structure_hook(
        TextToVideo, make_dict_structure_fn(TextToVideo, converter, **as_sent)
    )
    return converter


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


def encode_create(converter: cattrs.Converter, request: TextToVideo) -> dict[str, object]:
    """Build the createTask body for ``request``."""
    body: dict[str, object] = {
        "model": request.MODEL,
        "input": converter.unstructure(request, TextToVideo),
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
    if not isinstance(task_id, str) or not task_id.strip():
        raise ResponseError(f"createTask answered without a task id (data: {type(data).__name__})")
    return task_id


def decode_credits(data: object) -> float:
    """Read the balance from a credit answer's ``data``.

    Raises:
        ResponseError: if ``data`` is not a number.

    """
    try:
        return _number(data)
    except (ValueError, TypeError) as exc:
        raise ResponseError(f"credit answer is not a number: {exc}") from exc


def _decode_request(converter: cattrs.Converter, param: dict[str, object]) -> TextToVideo | None:
    """Rebuild the request from a task's ``param``, if it is one sora2pro knows."""
    if param.get("model") != TextToVideo.MODEL:
        return None
    try:
        fields = _structure_json_object(param.get("input"), None) or {}
        request = converter.structure(fields, TextToVideo)
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
        request=None if wire.param is None else _decode_request(converter, wire.param),
    )
