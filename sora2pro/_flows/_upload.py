"""Files to the API's upload service: a local file or bytes streamed, a URL fetched there."""

from __future__ import annotations

import asyncio
import base64
import logging
import mimetypes
import os
import pathlib
import secrets
import typing

import aiohttp

from sora2pro._api._endpoints import UPLOAD_BASE64, UPLOAD_STREAM, UPLOAD_URL
from sora2pro._errors import InvalidInputError
from sora2pro._model._requests import is_http_url
from sora2pro._transport._retry import is_transient, retrying
from sora2pro._wire import decode_upload

if typing.TYPE_CHECKING:
    import cattrs

    from sora2pro._config import RetryPolicy
    from sora2pro._model._task import UploadedFile
    from sora2pro._transport._transport import Transport
    from sora2pro._wire import Envelope

__all__ = ["DEFAULT_UPLOAD_PATH", "Source", "upload"]

logger = logging.getLogger("sora2pro")

#: The folder uploads go to unless told otherwise.
DEFAULT_UPLOAD_PATH = "sora2pro"

#: What :meth:`Client.upload` takes: a local file, its bytes, or an http(s) URL.
Source = str | os.PathLike[str] | bytes


def _check_name(name: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise InvalidInputError(name, f"must be a non-empty string, not {value!r}")


def _local(source: str | os.PathLike[str]) -> pathlib.Path:
    path = pathlib.Path(source)
    try:
        size = path.stat().st_size if path.is_file() else None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise InvalidInputError("source", f"cannot read {path!r}: {exc}") from exc
    if size is None:
        raise InvalidInputError("source", f"{path} is not a file (nor an http(s) URL)")
    if size == 0:
        raise InvalidInputError("source", f"{path} is empty")
    return path


def _unique_name(path: pathlib.Path) -> str:
    """The file's name made unique: the service replaces a file of the same name.

    Two files called ``frame.png`` from two folders must never share one URL, nor
    may a new ``hero.mp4`` replace the clip an earlier character was made from.
    """
    # A name that is not valid UTF-8 (undecodable bytes on disk) cannot go on the wire.
    stem = path.stem.encode("utf-8", "replace").decode("utf-8")[:64]
    return f"{stem}-{secrets.token_hex(6)}{path.suffix.lower()}"


async def upload(
    transport: Transport,
    converter: cattrs.Converter,
    policy: RetryPolicy,
    source: Source,
    *,
    upload_path: str,
    file_name: str | None,
    as_base64: bool,
    deadline: float | None,
) -> UploadedFile:
    """Store ``source`` with the upload service; see :meth:`Client.upload`.

    Uploads are retried on transient failures: a re-sent upload costs nothing
    but a second copy of the file.
    """
    _check_name("upload_path", upload_path)
    _check_name("file_name", file_name)
    fields: dict[str, object] = {"uploadPath": upload_path}
    if file_name is not None:
        fields["fileName"] = file_name
    path: pathlib.Path | None = None
    body: dict[str, object] | None = None
    if isinstance(source, bytes):
        if not source:
            raise InvalidInputError("source", "is empty")
    elif isinstance(source, str) and is_http_url(source):
        endpoint, body = UPLOAD_URL, fields | {"fileUrl": source}
    elif isinstance(source, str | os.PathLike):
        path = _local(source)
        fields.setdefault("fileName", _unique_name(path))
    else:
        raise InvalidInputError(
            "source", f"must be a file path, bytes or an http(s) URL, not {type(source).__name__}"
        )
    if body is None and as_base64:
        raw = source if path is None else await _read(path)
        assert isinstance(raw, bytes)  # noqa: S101  # a path was read, else source is bytes
        endpoint, body = (
            UPLOAD_BASE64,
            fields | {"base64Data": base64.b64encode(raw).decode("ascii")},
        )
    name = file_name or (path.name if path is not None else "upload")

    async def attempt() -> UploadedFile:
        if body is not None:
            envelope = await transport.exchange("POST", endpoint, body=body, deadline=deadline)
        else:
            content = source if path is None else path
            assert isinstance(content, bytes | pathlib.Path)  # noqa: S101  # URLs have a body
            envelope = await _stream(transport, content, name, fields, deadline)
        return _uploaded(converter, envelope.data)

    return await retrying(
        attempt,
        policy=policy,
        retryable=is_transient,
        deadline=deadline,
        operation="upload",
        listener=transport.listener,
    )


async def _stream(
    transport: Transport,
    content: bytes | pathlib.Path,
    name: str,
    fields: dict[str, object],
    deadline: float | None,
) -> Envelope:
    """Send one multipart upload; a form is spent once sent, so each try builds its own."""
    file = await _open(content) if isinstance(content, pathlib.Path) else None
    try:
        form = aiohttp.FormData()
        form.add_field(
            "file",
            content if file is None else file,
            filename=name,
            content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        )
        for key, value in fields.items():
            form.add_field(key, str(value))
        return await transport.exchange("POST", UPLOAD_STREAM, form=form, deadline=deadline)
    finally:
        if file is not None:
            await asyncio.to_thread(file.close)


async def _open(path: pathlib.Path) -> typing.BinaryIO:
    try:
        return await asyncio.to_thread(path.open, "rb")
    except OSError as exc:
        raise InvalidInputError("source", f"cannot read {path}: {exc.strerror}") from exc


async def _read(path: pathlib.Path) -> bytes:
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise InvalidInputError("source", f"cannot read {path}: {exc.strerror}") from exc


def _uploaded(converter: cattrs.Converter, data: object) -> UploadedFile:
    stored = decode_upload(converter, data)
    logger.info(
        "uploaded %s (%s bytes)",
        stored.file_name,
        stored.size,
        extra={"event": "uploaded", "url": stored.url},
    )
    return stored
