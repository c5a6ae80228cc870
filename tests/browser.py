"""A real headless browser for tests: Debian's chromium, and its screenshots read back."""

from __future__ import annotations

import shutil
import struct
import subprocess
import typing
import zlib

import attrs

if typing.TYPE_CHECKING:
    import pathlib

#: The names the browser is installed under; .ci/run installs Debian's ``chromium``.
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str:
    """The browser's path; the calling test fails (never skips) when there is none."""
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    assert found is not None, (
        "no headless browser on the PATH: apt-get install -y --no-install-recommends chromium"
    )
    return found


def run_browser(page: pathlib.Path, profile: pathlib.Path, *options: str) -> str:
    """Load ``page`` (a local file) in the headless browser, offline; what it printed."""
    done = subprocess.run(  # noqa: S603  # a fixed program and arguments
        [
            find_browser(),
            "--headless",
            "--no-sandbox",  # tests may run as root, in a container
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--force-device-scale-factor=1",
            # Nothing may come from the network: make sure nothing can.
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            *options,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@attrs.frozen
class Image:
    """An RGB image: ``pixels[y][x]`` is an (r, g, b) tuple."""

    width: int
    height: int
    pixels: list[list[tuple[int, int, int]]]

    def near(self, x: int, y: int, colour: tuple[int, int, int], tolerance: int = 8) -> bool:
        """Whether the pixel at (x, y) is within ``tolerance`` of ``colour`` on each channel."""
        return all(abs(a - b) <= tolerance for a, b in zip(self.pixels[y][x], colour, strict=True))

    def where(self, colour: tuple[int, int, int], tolerance: int = 8) -> list[tuple[int, int]]:
        """Every (x, y) whose colour is within ``tolerance`` of ``colour`` on each channel."""
        return [
            (x, y)
            for y, row in enumerate(self.pixels)
            for x, pixel in enumerate(row)
            if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))
        ]


def read_png(data: bytes) -> Image:
    """Decode an 8-bit RGB or RGBA PNG (what the browser writes) with the stdlib alone."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (8, 0) == (depth, interlace), "not an 8-bit, non-interlaced PNG"
    assert colour in (2, 6), "not an RGB or RGBA PNG"
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    pixels = []
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(
            raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels
        )
        pixels.append([tuple(row[x : x + 3]) for x in range(0, stride, channels)])
        previous = row
    return Image(width, height, typing.cast("list[list[tuple[int, int, int]]]", pixels))


def _unfilter(kind: int, row: bytearray, above: bytearray, step: int) -> bytearray:
    """Undo one scanline's PNG filter (None, Sub, Up, Average, Paeth)."""
    if kind == 2:
        return bytearray((a + b) & 0xFF for a, b in zip(row, above, strict=True))
    for i in range(len(row)):
        left = row[i - step] if i >= step else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + above[i]) // 2) & 0xFF
        elif kind == 4:
            upper_left = above[i - step] if i >= step else 0
            row[i] = (row[i] + _paeth(left, above[i], upper_left)) & 0xFF
    return row


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
