"""What a user asks for: one frozen, self-checking class per model.

Each request type carries its model's rules. The wire names of its fields live in
their metadata, which ``_convert`` reads, so a new model is one small class here.
"""

from __future__ import annotations

import os
import pathlib
import typing
from collections.abc import Iterable, Mapping

import attrs

from sora2pro._errors import InvalidInputError
from sora2pro._model._checks import (
    callback_url_field,
    check_callback_url,
    is_http_url,
    is_text,
)
from sora2pro._model._job import Job

__all__ = [
    "AS_LIST",
    "AS_TEXT",
    "IMAGE_TYPES",
    "MAX_CHARACTERS",
    "MAX_CHARACTER_PROMPT_LENGTH",
    "MAX_FILE_SIZE",
    "MAX_PROMPT_LENGTH",
    "REQUEST_TYPES",
    "TYPED_REQUESTS",
    "UPLOAD",
    "VIDEO_TYPES",
    "WIRE",
    "AspectRatio",
    "CharacterRequest",
    "Frames",
    "ImageToVideo",
    "Job",
    "Request",
    "Size",
    "TextToVideo",
    "TextToVideoOptions",
    "TypedRequest",
    "check_callback_url",
    "is_http_url",
    "is_text",
    "local_file",
    "with_changes",
]

AspectRatio = typing.Literal["portrait", "landscape"]
Size = typing.Literal["standard", "high"]
#: Length of the video in seconds; the wire carries it as the string "10" or "15".
Frames = typing.Literal[10, 15]

MAX_PROMPT_LENGTH = 10_000
MAX_CHARACTER_PROMPT_LENGTH = 5_000
MAX_CHARACTERS = 5
#: The largest image or character clip the API takes: 10 MB.
MAX_FILE_SIZE = 10 * 1000 * 1000
_ASPECT_RATIOS = typing.get_args(AspectRatio)
_SIZES = typing.get_args(Size)
_FRAMES = typing.get_args(Frames)

# Field metadata read by the converter: the field's name on the wire, whether one
# value travels as a one-item list, whether a number travels as a string.
WIRE = "sora2pro.wire"
AS_LIST = "sora2pro.as_list"
AS_TEXT = "sora2pro.as_text"
#: Field metadata: a local file here is uploaded before the request is sent.
UPLOAD = "sora2pro.upload"


def _riff(kind: bytes) -> typing.Callable[[bytes], bool]:
    return lambda head: head[:4] == b"RIFF" and head[8:12] == kind


#: Image files an image-to-video request takes, by suffix, with a check of their first bytes.
IMAGE_TYPES: Mapping[str, typing.Callable[[bytes], bool]] = {
    ".jpg": lambda head: head[:3] == b"\xff\xd8\xff",
    ".jpeg": lambda head: head[:3] == b"\xff\xd8\xff",
    ".png": lambda head: head[:8] == b"\x89PNG\r\n\x1a\n",
    ".webp": _riff(b"WEBP"),
}
#: Clips the characters model takes, by suffix, with a check of their first bytes.
VIDEO_TYPES: Mapping[str, typing.Callable[[bytes], bool]] = {
    ".mp4": lambda head: head[4:8] == b"ftyp",
    ".webm": lambda head: head[:4] == b"\x1a\x45\xdf\xa3",
    ".avi": _riff(b"AVI "),
}


def local_file(value: str) -> pathlib.Path | None:
    """The local file ``value`` names, or None when it is an http(s) URL."""
    return None if is_http_url(value) else pathlib.Path(value)


def _checked_source(
    name: str, kinds: Mapping[str, typing.Callable[[bytes], bool]], value: object
) -> str:
    """Take an http(s) URL as it is, or check a local file now.

    A local file must exist, have one of the suffixes in ``kinds``, start with the
    bytes that kind of file starts with, and be at most :data:`MAX_FILE_SIZE`.
    """
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str) or not text.strip() or ("://" in text and not is_http_url(text)):
        raise InvalidInputError(name, f"must be an http(s) URL or a file path, not {value!r}")
    if is_http_url(text):
        return text
    path = pathlib.Path(text)
    looks_like = kinds.get(path.suffix.lower())
    if looks_like is None:
        raise InvalidInputError(name, f"{path.name}: must be one of {', '.join(kinds)}")
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(16)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise InvalidInputError(name, f"cannot read {path}: {exc}") from exc
    if size > MAX_FILE_SIZE:
        raise InvalidInputError(
            name, f"{path.name} has {size:,} bytes; at most {MAX_FILE_SIZE:,} are allowed"
        )
    if not looks_like(head):
        raise InvalidInputError(name, f"{path.name} is not a {path.suffix.lower()} file")
    return text


def _to_image(value: str | os.PathLike[str]) -> str:
    return _checked_source("image", IMAGE_TYPES, value)


def _to_video(value: str | os.PathLike[str]) -> str:
    return _checked_source("video", VIDEO_TYPES, value)


def with_changes(request: Request, changes: Mapping[str, typing.Any]) -> Request:
    """``attrs.evolve`` for any request type (mypy cannot check it over the union)."""
    evolve: typing.Callable[..., Request] = attrs.evolve
    return evolve(request, **changes)


def _check_text(
    limit: int, *, optional: bool = False
) -> typing.Callable[[object, attrs.Attribute[typing.Any], object], None]:
    """A validator for a non-blank string of at most ``limit`` characters (or None)."""

    def check(_instance: object, attribute: attrs.Attribute[typing.Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str):
            raise InvalidInputError(attribute.name, f"must be a string, not {type(value).__name__}")
        if not value.strip():
            raise InvalidInputError(attribute.name, "must not be empty")
        if not is_text(value):
            raise InvalidInputError(attribute.name, "holds a lone surrogate, which is not text")
        if len(value) > limit:
            raise InvalidInputError(
                attribute.name, f"has {len(value):,} characters; at most {limit:,} are allowed"
            )

    return check


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
        if (
            not isinstance(item, str)
            or not item.strip()
            or not is_text(item)
            or not item.isprintable()
        ):
            raise InvalidInputError("character_ids", f"must hold non-empty strings, not {item!r}")
    return ids


def _check_watermark(
    _instance: object, _attribute: attrs.Attribute[bool | None], value: object
) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidInputError("remove_watermark", f"must be True, False or None, not {value!r}")


@attrs.frozen
class _ProVideo:
    """The fields both Sora 2 Pro video models share."""

    MODEL: typing.ClassVar[str]

    prompt: str = attrs.field(validator=_check_text(MAX_PROMPT_LENGTH))
    aspect_ratio: AspectRatio = attrs.field(
        default="landscape", kw_only=True, validator=_one_of(_ASPECT_RATIOS)
    )
    n_frames: Frames = attrs.field(
        default=10, kw_only=True, converter=_to_frames, metadata={AS_TEXT: True}
    )
    size: Size = attrs.field(default="high", kw_only=True, validator=_one_of(_SIZES))
    remove_watermark: bool | None = attrs.field(
        default=None, kw_only=True, validator=_check_watermark
    )
    character_ids: tuple[str, ...] = attrs.field(
        default=(), kw_only=True, converter=_to_character_ids, metadata={WIRE: "character_id_list"}
    )
    callback_url: str | None = callback_url_field()

    @property
    def model(self) -> str:
        """The model's name in the createTask body: :attr:`MODEL`."""
        return self.MODEL


@attrs.frozen
class TextToVideo(_ProVideo):
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


@attrs.frozen
class ImageToVideo(_ProVideo):
    """A Sora 2 Pro image-to-video request: the image becomes the first frame.

    Args:
        prompt: What happens in the video; 1 to 10,000 characters.
        image: An http(s) URL of the image, or a local JPEG, PNG or WebP file of at
            most 10 MB (checked now, uploaded when the request is submitted).
        aspect_ratio: ``"landscape"`` (default) or ``"portrait"``.
        n_frames: Length in seconds: 10 (default) or 15.
        size: ``"standard"`` (default for this model) or ``"high"`` quality.
        remove_watermark: Ask for a video without watermark; None leaves it to the server.
        character_ids: Up to 5 ids from the characters model.
        callback_url: Where the server POSTs the result when the task ends.

    Raises:
        InvalidInputError: if any field breaks the provider's rules, or the local
            image is missing, too large or not an image of those kinds.

    """

    MODEL: typing.ClassVar[str] = "sora-2-pro-image-to-video"

    image: str = attrs.field(
        kw_only=True,
        converter=_to_image,
        metadata={WIRE: "image_urls", AS_LIST: True, UPLOAD: True},
    )
    size: Size = attrs.field(default="standard", kw_only=True, validator=_one_of(_SIZES))


@attrs.frozen
class CharacterRequest:
    """A request to the characters model: a reusable character from a short clip.

    :meth:`Client.create_character` builds one, uploads a local clip, and waits.

    Args:
        video: An http(s) URL of the clip, or a local MP4, WebM or AVI file of at
            most 10 MB (checked now, uploaded when the request is submitted). The
            clip should last 1 to 4 seconds.
        prompt: What the character is like; at most 5,000 characters.
        safety_instruction: Limits on how the character may be used; at most 5,000
            characters.
        callback_url: Where the server POSTs the result when the task ends.

    Raises:
        InvalidInputError: if any field breaks the provider's rules, or the local
            clip is missing, too large or not a video of those kinds.

    """

    MODEL: typing.ClassVar[str] = "sora-2-characters"

    video: str = attrs.field(
        converter=_to_video,
        metadata={WIRE: "character_file_url", AS_LIST: True, UPLOAD: True},
    )
    prompt: str | None = attrs.field(
        default=None,
        kw_only=True,
        validator=_check_text(MAX_CHARACTER_PROMPT_LENGTH, optional=True),
        metadata={WIRE: "character_prompt"},
    )
    safety_instruction: str | None = attrs.field(
        default=None,
        kw_only=True,
        validator=_check_text(MAX_CHARACTER_PROMPT_LENGTH, optional=True),
    )
    callback_url: str | None = callback_url_field()

    @property
    def model(self) -> str:
        """The model's name in the createTask body: :attr:`MODEL`."""
        return self.MODEL


#: The request types of the models sora2pro knows field by field.
TypedRequest = TextToVideo | ImageToVideo | CharacterRequest
TYPED_REQUESTS: tuple[type[TypedRequest], ...] = (TextToVideo, ImageToVideo, CharacterRequest)
#: Every request type sora2pro can submit: a typed one, or a :class:`Job` of any model.
Request = TypedRequest | Job
REQUEST_TYPES: tuple[type[Request], ...] = (*TYPED_REQUESTS, Job)


class TextToVideoOptions(typing.TypedDict, total=False):
    """The optional fields of :class:`TextToVideo` and :class:`ImageToVideo`, as keywords."""

    aspect_ratio: AspectRatio
    n_frames: int | str
    size: Size
    remove_watermark: bool | None
    character_ids: Iterable[str]
    callback_url: str | None
