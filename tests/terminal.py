"""A pseudo-terminal for the command line's tests: run it, and read its screen as a person would.

The command runs in a real pseudo-terminal of a given size (``tests.cli_driver``);
every byte it writes goes through ``pyte``, a terminal emulator, so that a test
asserts on the rows a person would see, not on escape sequences.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pathlib
import re
import select
import struct
import subprocess
import sys
import termios
import time
import typing

import pyte

if typing.TYPE_CHECKING:
    from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: Polls of a running task an hour apart: the display alone must move the clock.
RARE_POLLS = {"min_interval": 3600.0, "max_interval": 3600.0, "adaptive": False}
FAST_POLLS = {"min_interval": 0.01, "max_interval": 0.05, "expected_duration": 0.3}
#: Variables that would override the terminal's size or what it can do.
_UNSET = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
#: A clock at the end of a row: m:ss, or h:mm:ss.
_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d\d)$")


def clock_of(row: str) -> int | None:
    """The clock a row ends with, in seconds; None if it has none."""
    match = _CLOCK.search(row.rstrip())
    if match is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return 3600 * hours + 60 * minutes + seconds


class Terminal:
    """``sora2pro ARGS`` in a pseudo-terminal ``columns`` wide; use it as a context manager."""

    def __init__(
        self, argv: list[str], *, columns: int, rows: int = 30, poll: dict[str, object]
    ) -> None:
        self.screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self.screen)
        self._master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        environment = {k: v for k, v in os.environ.items() if k not in _UNSET}
        environment["TERM"] = "xterm-256color"
        command = [sys.executable, "-m", "tests.cli_driver", json.dumps(poll), *argv]
        self.process = subprocess.Popen(  # noqa: S603  # the test's own command line
            command, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=environment,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self._closed = False

    def __enter__(self) -> typing.Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        os.close(self._master)

    def rows(self) -> list[str]:
        """The screen's rows, without trailing blanks."""
        return [row.rstrip() for row in self.screen.display]

    def text(self) -> str:
        """The screen's non-blank rows, one a line: for an assertion's message."""
        return "\n".join(row for row in self.rows() if row)

    def _read(self, seconds: float) -> None:
        """Feed the screen what the command wrote within ``seconds``, if anything."""
        if self._closed or not select.select([self._master], [], [], seconds)[0]:
            return
        try:
            data = os.read(self._master, 65536)
        except OSError as error:  # the command closed the terminal: it ended
            if error.errno != errno.EIO:
                raise
            data = b""
        self._closed = not data
        self._stream.feed(data)

    def until(self, condition: Callable[[Terminal], bool], seconds: float = 15.0) -> None:
        """Read until the screen meets ``condition``; fail after ``seconds``."""
        end = time.monotonic() + seconds
        while not condition(self):
            assert not self._closed, f"the command ended first:\n{self.text()}"
            assert time.monotonic() < end, f"the screen never showed it:\n{self.text()}"
            self._read(0.1)

    def press(self, keys: bytes) -> None:
        """Type ``keys``: Ctrl-C is the byte 3."""
        os.write(self._master, keys)

    def wait(self, seconds: float = 15.0) -> int:
        """Read everything until the command ends; its exit status."""
        end = time.monotonic() + seconds
        while not self._closed:
            assert time.monotonic() < end, f"the command did not end:\n{self.text()}"
            self._read(0.1)
        return self.process.wait(seconds)
