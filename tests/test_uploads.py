"""upload(): a file, bytes or a URL end up stored by the upload service, never half-sent."""

from __future__ import annotations

import pathlib
import re

import pytest

import sora2pro
from sora2pro import InvalidInputError, ResponseError
from sora2pro.testing import Emulator, Endpoint, Fault

from .files import SAMPLE_MP4, write


def stored(emulator: Emulator, file: sora2pro.UploadedFile) -> bytes:
    """The bytes the emulator keeps behind an uploaded file's URL."""
    return emulator.uploads[file.url.removeprefix(emulator.url)].data


def paths(emulator: Emulator) -> list[str]:
    return [r.path.rpartition("/")[2] for r in emulator.requests if r.path.startswith("/file-")]


async def test_local_file_is_streamed_as_multipart(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A local path goes through the stream upload and comes back as an UploadedFile."""
    path = write(tmp_path, "clip.mp4")
    file = await client.upload(path)
    assert SAMPLE_MP4 == stored(emulator, file)
    assert ("video/mp4", len(SAMPLE_MP4)) == (file.mime_type, file.size)
    assert re.fullmatch(rf"{emulator.url}/uploads/sora2pro/clip-[0-9a-f]{{12}}\.mp4", file.url)
    assert file.uploaded_at is not None
    assert ["file-stream-upload"] == paths(emulator)
    (request,) = [r for r in emulator.requests if r.path.startswith("/file-")]
    assert request.headers["content-type"].startswith("multipart/form-data")


async def test_bytes_are_stored_under_the_given_name_and_folder(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Bytes with file_name and upload_path are stored under that name, in that folder."""
    file = await client.upload(b"\x89PNG-ish", upload_path="bots/42", file_name="face.png")
    assert ("face.png", f"{emulator.url}/uploads/bots/42/face.png") == (file.file_name, file.url)
    assert b"\x89PNG-ish" == stored(emulator, file)


async def test_base64_upload_sends_json(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """as_base64 sends the file as base64 JSON to the base64 endpoint, byte for byte."""
    file = await client.upload(write(tmp_path, "a.png"), as_base64=True)
    assert (tmp_path / "a.png").read_bytes() == stored(emulator, file)
    assert ["file-base64-upload"] == paths(emulator)


async def test_url_is_fetched_by_the_service(client: sora2pro.Client, emulator: Emulator) -> None:
    """An http(s) URL goes through the URL upload: the service fetches it, the client does not."""
    first = await client.upload(b"frame bytes", file_name="frame.png")
    second = await client.upload(first.url, file_name="copy.png")
    assert b"frame bytes" == stored(emulator, second)
    assert ["file-stream-upload", "file-url-upload"] == paths(emulator)
    assert not [r for r in emulator.requests if r.path.startswith("/uploads/") and
                r.headers.get("user-agent", "").startswith("sora2pro/")]  # fmt: skip


async def test_files_of_the_same_name_never_share_a_url(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Two local frame.png from two folders get two URLs: the service replaces same names."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = await client.upload(write(tmp_path / "a", "frame.png", b"first"))
    second = await client.upload(write(tmp_path / "b", "frame.png", b"second"))
    assert first.url != second.url
    assert (b"first", b"second") == (stored(emulator, first), stored(emulator, second))


@pytest.mark.parametrize("source", [b"", 42, "no/such/file.png", ".", "nul\0.png"])
async def test_bad_sources_are_refused_before_sending(
    client: sora2pro.Client, emulator: Emulator, source: object
) -> None:
    """Empty bytes, a non-path, a missing file, a folder or a NUL raise InvalidInputError."""
    with pytest.raises(InvalidInputError, match="source"):
        await client.upload(source)  # type: ignore[arg-type]
    assert [] == emulator.requests


async def test_transient_failure_resends_the_whole_file(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A 502 page, then success: the file is sent again from its first byte."""
    emulator.inject(Fault.html(502), Endpoint.UPLOAD)
    file = await client.upload(write(tmp_path, "clip.mp4"))
    assert SAMPLE_MP4 == stored(emulator, file)
    assert 2 == emulator.count(Endpoint.UPLOAD)


async def test_refused_upload_is_an_api_error(client: sora2pro.Client, emulator: Emulator) -> None:
    """A URL the service cannot fetch is refused with the service's reason, not retried."""
    with pytest.raises(sora2pro.UnprocessableError, match="could not download"):
        await client.upload(f"{emulator.url}/uploads/nothing-here.png")
    assert 1 == emulator.count(Endpoint.UPLOAD)


async def test_garbled_answer_is_a_response_error(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """An answer that never parses ends as ResponseError once the retries are spent."""
    emulator.inject(Fault.garbage(), Endpoint.UPLOAD, times=10)
    with pytest.raises(ResponseError, match="not JSON"):
        await client.upload(b"x", file_name="x.png")
