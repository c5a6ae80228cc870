"""Small files of each kind the API takes, written for tests."""

from __future__ import annotations

import importlib.resources
import pathlib

#: The emulator's sample video: a real, playable MP4.
SAMPLE_MP4 = importlib.resources.files("sora2pro.testing").joinpath("sample.mp4").read_bytes()
#: The first bytes of each kind of file, padded: enough for the client's checks.
HEADS = {
    ".png": b"\x89PNG\r\n\x1a\n" + bytes(64),
    ".jpg": b"\xff\xd8\xff\xe0" + bytes(64),
    ".jpeg": b"\xff\xd8\xff\xdb" + bytes(64),
    ".webp": b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(64),
    ".mp4": SAMPLE_MP4,
    ".webm": b"\x1a\x45\xdf\xa3" + bytes(64),
    ".avi": b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(64),
}


def write(folder: pathlib.Path, name: str, data: bytes | None = None) -> pathlib.Path:
    """Write ``name`` in ``folder``, by default with the first bytes of its kind."""
    path = folder / name
    path.write_bytes(HEADS[path.suffix.lower()] if data is None else data)
    return path
