"""The file upload service: its three upload routes, and the files it keeps."""

from __future__ import annotations

import base64
import datetime as dt
import mimetypes
import time
import typing
import urllib.parse
import uuid

import aiohttp
from aiohttp import web

from sora2pro.testing._state import HTML_PAGE, UPLOADS, EmulatorState, Upload, read_body

__all__ = ["MAX_UPLOAD", "UploadService"]

#: The largest upload the emulator takes; the characters model wants at most 10 MB.
MAX_UPLOAD = 32 * 1024 * 1024
#: The largest clip the characters model takes (API.md section 6).
_MAX_CLIP = 10 * 1000 * 1000


async def _read_parts(request: web.Request) -> dict[str, tuple[str | None, bytes]] | None:
    """Each part of a multipart body, by name: (its file name, its bytes).

    Read into memory, not into aiohttp's temporary files (which a malformed body
    leaves open); None once the parts pass :data:`MAX_UPLOAD` together.
    """
    parts: dict[str, tuple[str | None, bytes]] = {}
    size = 0
    async for part in await request.multipart():
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            raise ValueError("a part without a name")
        chunks = []
        while chunk := await part.read_chunk():
            size += len(chunk)
            if size > MAX_UPLOAD:
                return None
            chunks.append(chunk)
        parts[part.name] = (part.filename, b"".join(chunks))
    return parts


def _guess(name: object, fallback: object = None) -> str:
    """The media type, from the file's name as the service does, else ``fallback``."""
    guessed = mimetypes.guess_type(name)[0] if isinstance(name, str) else None
    if guessed is None and isinstance(fallback, str):
        guessed = mimetypes.guess_type(fallback)[0] or (fallback if "/" in fallback else None)
    return guessed or "application/octet-stream"


class UploadService(EmulatorState):
    """The part of the emulator that takes uploads, serves them, and checks them in creates."""

    def _upload_routes(self) -> list[web.RouteDef]:
        """The three ways to upload a file, and the uploaded files themselves."""
        return [
            web.post("/file-upload/api/file-stream-upload", self._stream_upload),
            web.post("/file-upload/api/file-base64-upload", self._base64_upload),
            web.post("/file-upload/api/file-url-upload", self._url_upload),
            web.get(UPLOADS + "/{path:.+}", self._uploaded),
        ]

    def _store(
        self, data: bytes, upload_path: object, file_name: object, mime: str
    ) -> web.Response:
        """Keep an uploaded file and answer as the upload service does."""
        if not isinstance(upload_path, str) or not upload_path.strip("/ "):
            return self._error(422, "uploadPath is required")
        if file_name is not None and (not isinstance(file_name, str) or not file_name.strip()):
            return self._error(422, "fileName must be a non-empty string")
        if not data:
            return self._error(422, "the file is empty")
        name = file_name or f"{uuid.UUID(int=self.rng.getrandbits(128)).hex}"
        path = f"{upload_path.strip('/')}/{name}"
        self.uploads[f"{UPLOADS}/{path}"] = Upload(name=name, data=data, mime_type=mime)
        moment = time.time()
        # Sources do not say how uploadedAt is written: both forms happen.
        stamp: object = (
            int(moment * 1000)
            if self.rng.random() < 0.5
            else dt.datetime.fromtimestamp(moment, dt.UTC).isoformat().replace("+00:00", "Z")
        )
        return self._envelope(
            200,
            "File uploaded successfully",
            {
                "fileName": name,
                "filePath": path,
                "downloadUrl": f"{self.url}{UPLOADS}/{urllib.parse.quote(path)}",
                "fileSize": len(data),
                "mimeType": mime,
                "uploadedAt": stamp,
            },
        )

    async def _stream_upload(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            return self._error(422, "expected multipart/form-data")
        try:
            parts = await _read_parts(request)
        except (ValueError, aiohttp.ClientError, aiohttp.http_exceptions.HttpProcessingError):
            return self._error(422, "the multipart body is malformed")
        if parts is None:
            return self._error(413, "the file is too large")
        if "file" not in parts:
            return self._error(422, "file is required")
        filename, data = parts["file"]
        name = parts["fileName"][1].decode("utf-8", "replace") if "fileName" in parts else None
        path = parts["uploadPath"][1].decode("utf-8", "replace") if "uploadPath" in parts else None
        return self._store(data, path, name, _guess(name, filename))

    async def _base64_upload(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("base64Data"), str):
            return self._error(422, "base64Data is required")
        encoded: str = body["base64Data"]
        header, _, payload = encoded.rpartition(",")  # a data: URL, or bare base64
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            return self._error(422, "base64Data is not valid base64")
        mime = header.removeprefix("data:").removesuffix(";base64") or _guess(body.get("fileName"))
        return self._store(data, body.get("uploadPath"), body.get("fileName"), mime)

    async def _url_upload(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        url = body.get("fileUrl") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return self._error(422, "fileUrl must be an http(s) URL")
        assert isinstance(body, dict)  # noqa: S101  # checked with url
        assert self._session is not None  # noqa: S101  # set by start()
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as got:
                data = await got.read()
                fetched = got.status == 200
                mime = got.content_type
        except (aiohttp.ClientError, TimeoutError, ValueError):  # UnicodeError: a bad host
            fetched = False
        if not fetched:
            return self._error(422, "could not download the file at fileUrl")
        name = body.get("fileName")
        return self._store(data, body.get("uploadPath"), name, _guess(name, mime))

    async def _uploaded(self, request: web.Request) -> web.Response:
        stored = self.uploads.get(request.path)
        if stored is None:
            return web.Response(status=404, text=HTML_PAGE.format("404 Not Found"))
        return web.Response(body=stored.data, content_type=stored.mime_type)

    def _source_errors(self, body: dict[str, typing.Any]) -> list[str]:
        """What is wrong with files a create names that this emulator stores."""
        payload = body.get("input")
        wanted = {"image_urls": "image", "character_file_url": "video"}
        errors = []
        for key, kind in wanted.items():
            urls = payload.get(key) if isinstance(payload, dict) else None
            for url in urls if isinstance(urls, list) else []:
                if not isinstance(url, str) or not url.startswith(self.url + UPLOADS):
                    continue  # somewhere else: the real service would fetch it
                stored = self.uploads.get(url[len(self.url) :])
                if stored is None:
                    errors.append(f"input.{key}: the file is gone")
                elif stored.mime_type.partition("/")[0] != kind:
                    errors.append(f"input.{key}: {stored.mime_type} is not of type {kind}")
                elif key == "character_file_url" and len(stored.data) > _MAX_CLIP:
                    errors.append(f"input.{key}: larger than 10 MB")
        return errors
