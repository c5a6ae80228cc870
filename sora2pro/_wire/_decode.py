"""Reading the API's answers into plain values, and building its requests.

A payload that does not fit raises :class:`ResponseError`, never a ``KeyError`` or
``TypeError``.
"""

from __future__ import annotations

import json
import logging
import sys
import typing
from collections.abc import Mapping

from sora2pro._errors import InvalidInputError, ResponseError
from sora2pro._model._json import frozen_object, thaw
from sora2pro._model._requests import CharacterRequest, Job, Request, is_http_url
from sora2pro._model._task import Task, TaskState, UploadedFile
from sora2pro._wire._converter import (
    DECODE_ERRORS,
    Envelope,
    WireTask,
    WireUpload,
    _number,
    _structure_amount,
    _structure_echo,
    _structure_json_object,
    _structure_millis,
    _structure_optional_text,
    _structure_progress,
    _structure_task_id,
    describe,
)
from sora2pro._wire._jobs import check_job, rebuild

if typing.TYPE_CHECKING:
    import cattrs

__all__ = [
    "decode_create",
    "decode_credits",
    "decode_envelope",
    "decode_task",
    "decode_task_id",
    "decode_upload",
    "encode_create",
    "encode_task",
]

logger = logging.getLogger("sora2pro")

T = typing.TypeVar("T")


def decode_envelope(converter: cattrs.Converter, payload: object, *, http_status: int) -> Envelope:
    """Read the wrapper of an answer.

    Raises:
        ResponseError: if ``payload`` is not an object with a numeric ``code``.

    """
    try:
        return converter.structure(payload, Envelope)
    except DECODE_ERRORS as exc:
        raise ResponseError(f"unexpected answer: {describe(exc)}", http_status=http_status) from exc


def encode_create(converter: cattrs.Converter, request: Request) -> dict[str, object]:
    """Build the createTask body for ``request``.

    Raises:
        InvalidInputError: a :class:`Job` naming a typed model breaks its rules.

    """
    if isinstance(request, Job):
        check_job(converter, request)
    body: dict[str, object] = {
        "model": request.model,
        "input": converter.unstructure(request, type(request)),
    }
    if request.callback_url is not None:
        body["callBackUrl"] = request.callback_url
    return body


def decode_create(converter: cattrs.Converter, body: object) -> Request | None:
    """The request a createTask body (:func:`encode_create`'s) names; None if not one we know."""
    return _decode_request(converter, body) if isinstance(body, dict) else None


def encode_task(converter: cattrs.Converter, task: Task) -> dict[str, object]:
    """The task as a task-details answer's ``data``: :func:`decode_task` reads it back."""
    result = typing.cast("dict[str, object]", thaw(task.result_object))
    if task.result_urls:
        result["resultUrls"] = list(task.result_urls)
    if task.watermark_urls:
        result["resultWaterMarkUrls"] = list(task.watermark_urls)
    if task.character_id is not None and _character_id(result) != task.character_id:
        result["character_id"] = task.character_id
    times = {
        "createTime": task.created_at,
        "updateTime": task.updated_at,
        "completeTime": task.completed_at,
    }
    data: dict[str, object] = {
        "taskId": task.id,
        "model": task.model,
        "state": task.raw_state,
        "resultJson": json.dumps(result) if result else None,
        "failCode": task.fail_code,
        "failMsg": task.fail_message,
        "progress": task.progress,
        "costTime": task.cost_time,
        "creditsConsumed": task.credits_consumed,
    }
    data |= {
        name: None if moment is None else round(moment.timestamp() * 1000)
        for name, moment in times.items()
    }
    if task.request is not None:
        data["param"] = json.dumps(encode_create(converter, task.request))
    return data


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
        wire = converter.structure(data, WireUpload)
        if not is_http_url(wire.download_url):
            raise ValueError("downloadUrl is not an http(s) URL")
    except DECODE_ERRORS as exc:
        raise ResponseError(f"malformed upload answer: {describe(exc)}") from exc
    return UploadedFile(
        url=wire.download_url,
        file_name=wire.file_name or wire.file_path.rpartition("/")[2],
        size=wire.file_size,
        mime_type=wire.mime_type,
        uploaded_at=wire.uploaded_at,
    )


def _decode_request(converter: cattrs.Converter, param: dict[str, object]) -> Request | None:
    """Rebuild the request from a task's ``param``; None if it breaks a request's rules."""
    try:
        return rebuild(converter, param)
    except (*DECODE_ERRORS, InvalidInputError) as exc:
        logger.debug("task param not decoded", extra={"reason": describe(exc)})
        return None


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


#: How many distinct ``param`` echoes a cache keeps before it starts again.
_CACHED_REQUESTS = 4096


def _echoed_request(
    converter: cattrs.Converter, param: object, cache: dict[str, Request | None] | None
) -> Request | None:
    """The request a task's ``param`` echoes: the same text is decoded once per cache.

    A task echoes the same ``param`` at every poll, and rebuilding the request (JSON,
    then the request type's checks) is most of the cost of reading a task.
    """
    if isinstance(param, str) and cache is not None and param in cache:
        return cache[param]
    echo = _structure_echo(param, None)
    request = None if echo is None else _decode_request(converter, echo)
    if isinstance(param, str) and cache is not None:
        if len(cache) >= _CACHED_REQUESTS:
            cache.clear()
        cache[param] = request
    return request


def decode_task(
    converter: cattrs.Converter,
    data: object,
    *,
    requests: dict[str, Request | None] | None = None,
) -> Task:
    """Read a task from a task-details answer's ``data`` (or a callback's).

    ``requests`` caches the requests decoded from ``param`` echoes, by their text.

    Raises:
        ResponseError: if ``data`` does not describe a task.

    """
    task = quick_task(converter, data, requests) if type(data) is dict else None
    return task if task is not None else checked_task(converter, data, requests)


#: The documented states by their wire value; any other state is read by checked_task.
_STATES = {state.value: state for state in TaskState if state is not TaskState.UNKNOWN}


def _optional(hook: typing.Callable[[object, object], T], value: object) -> T | None:
    """What the converter makes of an optional field: None stays None, else its hook."""
    return None if value is None else hook(value, None)


def quick_task(
    converter: cattrs.Converter,
    data: dict[str, object],
    requests: dict[str, Request | None] | None,
) -> Task | None:
    """The task in an answer of the usual shape, read by the converter's hooks alone.

    cattrs' dispatch and its detailed errors cost more than the hooks themselves, and
    nearly every answer is well-formed. Anything else (a value the hooks refuse, a
    string subclass, a characters task, an undocumented state) gives None, and
    :func:`checked_task` reads it: the task, or the typed error. Where this gives a
    task, it is the one :func:`checked_task` gives (tests/test_convert.py checks).
    """
    model = data.get("model", "")
    raw_state = data.get("state", "")
    if type(model) is not str or type(raw_state) is not str or model == CharacterRequest.MODEL:
        return None
    state = _STATES.get(raw_state)
    if state is None or "taskId" not in data:
        return None
    get = data.get
    try:
        task_id = _structure_task_id(data["taskId"], None)
        result = _optional(_structure_json_object, get("resultJson")) or {}
        result_object = frozen_object(result)
        result_urls = _urls(result, "resultUrls")
        watermark_urls = _urls(result, "resultWaterMarkUrls")
        progress = _optional(_structure_progress, get("progress"))
        fail_code = _optional(_structure_optional_text, get("failCode"))
        fail_message = _optional(_structure_optional_text, get("failMsg"))
        created_at = _optional(_structure_millis, get("createTime"))
        updated_at = _optional(_structure_millis, get("updateTime"))
        completed_at = _optional(_structure_millis, get("completeTime"))
        cost_time = _optional(_structure_amount, get("costTime"))
        credits = _optional(_structure_amount, get("creditsConsumed"))
        other_credits = _optional(_structure_amount, get("consumeCredits"))
    except Exception:  # noqa: BLE001  # whatever a hook refuses, checked_task reports
        return None
    # One string per model and per state for every snapshot: thousands are kept at once.
    return Task(
        id=task_id,
        model=sys.intern(model),
        state=state,
        raw_state=state.value,
        progress=progress,
        result_urls=result_urls,
        watermark_urls=watermark_urls,
        fail_code=fail_code,
        fail_message=fail_message,
        created_at=created_at,
        updated_at=updated_at,
        completed_at=completed_at,
        cost_time=cost_time,
        credits_consumed=credits if credits is not None else other_credits,
        result_object=result_object,
        # Last, as in checked_task: it never raises, and caches what it decodes.
        request=_echoed_request(converter, get("param"), requests),
    )


def checked_task(
    converter: cattrs.Converter, data: object, requests: dict[str, Request | None] | None
) -> Task:
    """Read a task through the converter, every field checked; see :func:`decode_task`."""
    try:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a task object, got {type(data).__name__}")
        wire = converter.structure(data, WireTask)
        result: dict[str, object] = wire.result_json or {}
        result_object = frozen_object(result)
        result_urls = _urls(result, "resultUrls")
        watermark_urls = _urls(result, "resultWaterMarkUrls")
        character_id = _character_id(result) if wire.model == CharacterRequest.MODEL else None
    except DECODE_ERRORS as exc:
        raise ResponseError(f"malformed task details: {describe(exc)}") from exc
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
        result_object=result_object,
        request=_echoed_request(converter, wire.param, requests),
    )
