"""Plain, frozen values: what a user asks for and what a task looks like.

These classes know nothing of the wire; ``_convert`` translates.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing
import urllib.parse
from collections.abc import Iterable, Mapping

import attrs

from sora2pro._errors import InvalidInputError

__all__ = [
    "MAX_CHARACTERS",
    "MAX_PROMPT_LENGTH",
    "AspectRatio",
    "Frames",
    "Size",
    "Task",
    "TaskState",
    "TextToVideo",
    "TextToVideoOptions",
    "check_callback_url",
    "is_http_url",
]

AspectRatio = typing.Literal["portrait", "landscape"]
Size = typing.Literal["standard", "high"]
#: Length of the video in seconds; the wire carries it as the string "10" or "15".
Frames = typing.Literal[10, 15]

MAX_PROMPT_LENGTH = 10_000
MAX_CHARACTERS = 5
_ASPECT_RATIOS = typing.get_args(AspectRatio)
_SIZES = typing.get_args(Size)
_FRAMES = typing.get_args(Frames)


def check_callback_url(name: str, value: str | None) -> None:
    """Refuse anything but an absolute http(s) URL.

    Raises:
        InvalidInputError: if ``value`` is not None and not such a URL.

    """
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidInputError(name, f"must be a URL string, not {type(value).__name__}")
    if not is_http_url(value):
        raise InvalidInputError(name, f"must be an absolute http(s) URL, not {value!r}")


def is_http_url(value: str) -> bool:
    """Whether ``value`` is an absolute http(s) URL with a host and a valid port."""
    try:
        parts = urllib.parse.urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname) and value == value.strip()


def _check_prompt(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise InvalidInputError("prompt", f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidInputError("prompt", "must not be empty")
    if len(value) > MAX_PROMPT_LENGTH:
        raise InvalidInputError(
            "prompt", f"has {len(value):,} characters; at most {MAX_PROMPT_LENGTH:,} are allowed"
        )


def _one_of(choices: tuple[str, ...]) -> typing.Callable[[object, attrs.Attribute[str], str], None]:
    """A validator that refuses anything outside ``choices``."""

    def check(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in choices:
            raise InvalidInputError(
                attribute.name, f"must be one of {', '.join(map(repr, choices))}, not {value!r}"
            )

    return check


def _to_frames(value: int | str) -> Frames:
    for frames in _FRAMES:
        if value == frames or value == str(frames):
            return typing.cast("Frames", frames)
    raise InvalidInputError("n_frames", f"must be 10 or 15 (seconds), not {value!r}")


def _to_character_ids(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidInputError("character_ids", "must be a list of character id strings")
    ids = tuple(value)
    if len(ids) > MAX_CHARACTERS:
        raise InvalidInputError(
            "character_ids", f"has {len(ids)} ids; at most {MAX_CHARACTERS} are allowed"
        )
    for item in ids:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInputError("character_ids", f"must hold non-empty strings, not {item!r}")
    return ids


def _check_watermark(
    _instance: object, _attribute: attrs.Attribute[bool | None], value: object
) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidInputError("remove_watermark", f"must be True, False or None, not {value!r}")


def _check_url(
    _instance: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    check_callback_url(attribute.name, value)


@attrs.frozen
class TextToVideo:
    """A Sora 2 Pro text-to-video request, checked when it is built.

    Args:
        prompt: What the video shows; 1 to 10,000 characters.
        aspect_ratio: ``"landscape"`` (default) or ``"portrait"``.
        n_frames: Length in seconds: 10 (default) or 15; ``"10"`` and ``"15"`` work too.
        size: ``"high"`` (default) or ``"standard"`` quality.
        remove_watermark: Ask for a video without watermark; None leaves it to the server.
        character_ids: Up to 5 ids from the characters model.
        callback_url: Where the server POSTs the result when the task ends.

    Raises:
        InvalidInputError: if any field breaks the provider's rules.

    """

    MODEL: typing.ClassVar[str] = "sora-2-pro-text-to-video"

    prompt: str = attrs.field(validator=_check_prompt)
    aspect_ratio: AspectRatio = attrs.field(
        default="landscape", kw_only=True, validator=_one_of(_ASPECT_RATIOS)
    )
    n_frames: Frames = attrs.field(default=10, kw_only=True, converter=_to_frames)
    size: Size = attrs.field(default="high", kw_only=True, validator=_one_of(_SIZES))
    remove_watermark: bool | None = attrs.field(
        default=None, kw_only=True, validator=_check_watermark
    )
    character_ids: tuple[str, ...] = attrs.field(
        default=(), kw_only=True, converter=_to_character_ids
    )
    callback_url: str | None = attrs.field(default=None, kw_only=True, validator=_check_url)


class TextToVideoOptions(typing.TypedDict, total=False):
    """The optional fields of :class:`TextToVideo`, as keyword arguments."""

    aspect_ratio: AspectRatio
    n_frames: int | str
    size: Size
    remove_watermark: bool | None
    character_ids: Iterable[str]
    callback_url: str | None


class TaskState(enum.StrEnum):
    """Where a task is in its life. Only ``SUCCESS`` and ``FAIL`` are final.

    A state the server sends that is not documented becomes ``UNKNOWN`` (the raw
    value stays in ``Task.raw_state``) and counts as not finished.
    """

    WAITING = "waiting"
    QUEUING = "queuing"
    GENERATING = "generating"
    SUCCESS = "success"
    FAIL = "fail"
    UNKNOWN = "unknown"


@attrs.frozen(kw_only=True)
class Task:
    """One snapshot of a task, as the task-details endpoint reported it.

    Attributes:
        id: The task id, an opaque string.
        model: The model that runs it.
        state: The state; ``UNKNOWN`` for a state the API does not document.
        raw_state: The state exactly as the server sent it.
        progress: 0 to 100 when the server reports it, else None.
        result_urls: The video URLs, once the task succeeded.
        watermark_urls: The watermarked video URLs, when the server sends them.
        fail_code: Why the task failed (a numeric string such as ``"500"``), else None.
        fail_message: The failure message, else None.
        created_at: When the task was created (aware, UTC).
        updated_at: When the task last changed (aware, UTC).
        completed_at: When the task ended (aware, UTC).
        request: The request the task was created from, when it is a request type
            sora2pro knows and the server echoed it back.

    """

    id: str
    model: str
    state: TaskState
    raw_state: str
    progress: int | None = None
    result_urls: tuple[str, ...] = ()
    watermark_urls: tuple[str, ...] = ()
    fail_code: str | None = None
    fail_message: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    request: TextToVideo | None = None

    @property
    def done(self) -> bool:
        """Whether the task has ended, in success or failure."""
        return self.state in (TaskState.SUCCESS, TaskState.FAIL)
