"""How a Client is put together: its settings checked, its layers built, its calls checked.

Every check runs before anything is sent: a wrong type or value is refused with
:class:`InvalidInputError` naming the argument.
"""

from __future__ import annotations

import collections.abc
import hashlib
import inspect
import os
import pathlib
import typing

import aiohttp
import attrs

from sora2pro._api._endpoints import Api
from sora2pro._callbacks._receiver import CallbackReceiver
from sora2pro._config import (
    PollPolicy,
    RateLimits,
    RetryPolicy,
    Timeouts,
    check_callable,
    check_credit_floor,
    check_instance,
    check_redis_url,
    check_timeout,
)
from sora2pro._coordination._local import LocalCoordination
from sora2pro._coordination._protocols import Coordination, SharedJournal
from sora2pro._errors import InvalidInputError
from sora2pro._flows._confirmations import Confirmations
from sora2pro._flows._context import Context
from sora2pro._flows._download import check_max_bytes
from sora2pro._flows._events import Events
from sora2pro._flows._wait import relay
from sora2pro._model._requests import REQUEST_TYPES, Request, TextToVideo, with_changes
from sora2pro._model._task import Task
from sora2pro._transport._transport import Transport
from sora2pro._wire import make_converter

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sora2pro._flows._events import OnClientEvent
    from sora2pro._model._requests import TextToVideoOptions

__all__ = [
    "account_of",
    "as_request",
    "check_batch",
    "check_download",
    "check_items",
    "check_observer",
    "check_settings",
    "check_task_id",
    "open_coordination",
    "wire_up",
]


def check_settings(**settings: object) -> None:
    """Refuse a Client setting of the wrong type before anything can be sent with it."""
    kinds: dict[str, tuple[type | tuple[type, ...], str]] = {
        "api_key": (str, "a string"),
        "base_url": (str, "a URL string"),
        "poll": (PollPolicy, "a sora2pro.PollPolicy"),
        "retry": (RetryPolicy, "a sora2pro.RetryPolicy"),
        # Deadlines go to wait() and generate(); Timeouts bound each HTTP exchange.
        "timeout": (Timeouts, "a sora2pro.Timeouts (a deadline goes to wait() or generate())"),
        "session": (aiohttp.ClientSession, "an aiohttp.ClientSession"),
        "rate_limits": (RateLimits, "a sora2pro.RateLimits"),
        "callbacks": (CallbackReceiver, "a sora2pro.CallbackReceiver"),
        "coordination": (
            (Coordination, str),
            "a coordination backend (sora2pro.LocalCoordination, RedisCoordination) or a "
            "redis:// URL",
        ),
    }
    for name, value in settings.items():
        if name == "on_event":
            check_observer(name, value)
        elif value is not None:
            kind, what = kinds[name]
            check_instance(name, value, kind, f"{what} or None")
    if isinstance(settings.get("coordination"), str):
        check_redis_url("coordination", settings["coordination"])


def check_observer(name: str, value: object) -> None:
    """Refuse an observer that is not a plain function (None is none).

    It is called inline, in the task that caused each event, and never awaited:
    a coroutine function's calls would never run.
    """
    check_callable(name, value)
    if inspect.iscoroutinefunction(value) or inspect.iscoroutinefunction(
        getattr(value, "__call__", None)  # noqa: B004  # an object's async __call__
    ):
        raise InvalidInputError(
            name, "must be a plain function, not a coroutine function (hand events to a queue)"
        )


async def _nothing() -> None:
    """Close nothing: the coordination is not the client's own."""


def open_coordination(
    coordination: Coordination | str | None,
) -> tuple[Coordination, Callable[[], Awaitable[None]]]:
    """The coordination a client uses, and how to close it (a no-op unless the client made it).

    None is a :class:`LocalCoordination` of the client's own (nothing to close); a
    URL (checked already) a ``RedisCoordination`` the client closes with itself; a
    coordination given stays its owner's to close.

    Raises:
        InvalidInputError: a URL was given without the ``redis`` extra installed.

    """
    if coordination is None:
        return LocalCoordination(), _nothing
    if not isinstance(coordination, str):
        return coordination, _nothing
    try:
        from sora2pro._coordination._redis import RedisCoordination  # noqa: PLC0415
    except ImportError as exc:
        raise InvalidInputError(
            "coordination", "a Redis URL needs the redis extra: pip install 'sora2pro[redis]'"
        ) from exc
    try:
        made = RedisCoordination(coordination)
    except InvalidInputError as exc:
        raise InvalidInputError("coordination", str(exc).removeprefix("url: ")) from None
    return made, made.close


def as_request(request: str | Request, options: TextToVideoOptions) -> Request:
    """The request ``submit()`` and ``generate()`` were given, with its options applied."""
    if isinstance(request, str):
        unknown = set(options) - set(attrs.fields_dict(TextToVideo)) | {"prompt"} & set(options)
        if unknown:
            raise InvalidInputError("options", f"TextToVideo has no {', '.join(sorted(unknown))}")
        return TextToVideo(request, **options)
    if not isinstance(request, REQUEST_TYPES):
        raise InvalidInputError(
            "request", f"must be a prompt or a request, not {type(request).__name__}"
        )
    unknown = set(options) - set(attrs.fields_dict(type(request)))
    if unknown:
        raise InvalidInputError(
            "options", f"{type(request).__name__} has no {', '.join(sorted(unknown))}"
        )
    return with_changes(request, options) if options else request


def check_items(items: object) -> None:
    """Refuse what is not a collection of batch items, above all one prompt.

    A string is iterable: taken as items, it would pay for one video per letter.
    """
    if isinstance(items, str | bytes | bytearray):
        raise InvalidInputError(
            "items", "is one prompt, not a list of them: pass [prompt], or use generate()"
        )
    if isinstance(items, (collections.abc.Mapping, *REQUEST_TYPES)):
        raise InvalidInputError(
            "items", f"is one item ({type(items).__name__}), not a list of them: pass [item]"
        )
    if not isinstance(items, collections.abc.Iterable):
        raise InvalidInputError(
            "items", f"must be a list or other iterable of items, not {type(items).__name__}"
        )


def wire_up(
    key: str,
    url: str,
    *,
    poll: PollPolicy,
    retry: RetryPolicy,
    timeouts: Timeouts,
    session: aiohttp.ClientSession | None,
    limits: RateLimits,
    callbacks: CallbackReceiver | None,
    coordination: Coordination | str | None,
    on_event: OnClientEvent | None = None,
) -> tuple[Context, Callable[[], Awaitable[None]]]:
    """The flows' context of one client, and how to close the coordination it made.

    Raises:
        InvalidInputError: ``coordination`` is a URL but the ``redis`` extra is missing.

    """
    shared, close = open_coordination(coordination)
    shared.bind(account_of(key))
    converter = make_converter()
    events = Events(on_event)
    transport = Transport(
        api_key=key,
        base_url=url,
        timeouts=timeouts,
        converter=converter,
        session=session,
        listener=events.report,
    )
    api = Api(
        transport=transport,
        converter=converter,
        create_pacer=shared.pacer("createTask", limits.creates_per_second),
        status_pacer=shared.pacer("recordInfo", limits.status_per_second),
        default_pause=limits.pause,
        max_pause=retry.max_retry_after,
    )
    ctx = Context(
        api=api,
        retry=retry,
        poll=poll,
        coordination=shared,
        registry=shared.registry(),
        callbacks=callbacks,
        events=events,
        confirmations=confirmations_for(limits),
    )
    if callbacks is not None and ctx.bus.relays:
        # A wait in another process may need a callback that nothing here waits for.
        ctx.unhook = callbacks.on_unclaimed(
            lambda callback: ctx.run_chore(relay(ctx, callback), "relaying a callback")
        )
    return ctx, close


def confirmations_for(limits: RateLimits) -> Confirmations:
    """How fast callbacks of tasks not known here may take the coming status slot.

    The account's callbacks come no faster than its creates; a quarter of the status
    budget at most, so that forgeries leave the polls most of it.
    """
    per_second = min(limits.creates_per_second, limits.status_per_second / 4)
    return Confirmations(per_second, min(float(limits.creates), limits.status_per_second))


def account_of(key: str) -> str:
    """The name of the API key's account for a coordination backend: a hash, not the key."""
    return hashlib.sha256(f"sora2pro account {key}".encode()).hexdigest()[:32]


def check_task_id(task_id: str) -> None:
    """Refuse a task id that is not a non-empty string."""
    if not isinstance(task_id, str) or not task_id.strip():
        raise InvalidInputError("task_id", f"must be a non-empty string, not {task_id!r}")


def check_batch(
    items: object,
    *,
    concurrency: object,
    timeout: float | None,
    on_event: object,
    journal: object,
    flags: dict[str, object],
    keep_credits: object,
) -> None:
    """Refuse a batch's arguments of the wrong type or value."""
    check_items(items)
    check_credit_floor(keep_credits)
    check_callable("on_event", on_event)
    if journal is not None:
        check_instance(
            "journal",
            journal,
            (str, os.PathLike, SharedJournal),
            "a file path, a RedisCoordination journal, or None",
        )
    for name, flag in flags.items():
        check_instance(name, flag, bool, "True or False")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidInputError("concurrency", f"must be a whole number >= 1, not {concurrency!r}")
    check_timeout("timeout", timeout)


def check_download(
    task: object,
    dest: object,
    *,
    index: object,
    timeout: float | None,
    flags: dict[str, object],
    max_bytes: int | None,
    on_progress: object,
) -> pathlib.Path:
    """Refuse a download's arguments of the wrong type or value; the path to write."""
    check_timeout("timeout", timeout)
    check_max_bytes(max_bytes)
    check_instance("task", task, (Task, str), "a Task or a task id")
    check_instance("dest", dest, (str, os.PathLike), "a file path")
    check_instance("index", index, int, "a whole number")
    for name, flag in flags.items():
        check_instance(name, flag, bool, "True or False")
    check_callable("on_progress", on_progress)
    assert isinstance(index, int)  # noqa: S101  # checked above
    if index < 0:
        raise InvalidInputError("index", f"must be 0 or more, not {index}")
    path = pathlib.Path(typing.cast("str | os.PathLike[str]", dest))
    if path.is_dir():
        raise InvalidInputError("dest", f"{path} is a directory; name the file to write")
    if path.exists() and not flags.get("overwrite"):
        raise InvalidInputError("dest", f"{path} exists; pass overwrite=True to replace it")
    return path
