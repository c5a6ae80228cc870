"""What the command line shows besides the live display: --verbose, plain fallbacks, the summary."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import pathlib
import signal
import subprocess
import sys
import typing
import urllib.request

import pytest

import sora2pro
from sora2pro._cli import main
from sora2pro._cli._output import table

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator

ROOT = pathlib.Path(__file__).resolve().parents[1]
LONG_ID = "task_sora-2-pro-text-to-video_1765183463848_and_some_more_of_it"


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        """Always: this is the terminal."""
        return True


def submit(served: Emulator) -> str:
    """Create a task on the served emulator, as an earlier run would have."""

    async def create() -> str:
        async with sora2pro.Client(served.api_key, base_url=served.url) as client:
            return await client.submit("a dog")

    return asyncio.run(create())


def test_verbose_shows_the_library_log_on_stderr(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """--verbose logs each request with its fields, never the key, and leaves no handler."""
    task_id = submit(served)
    logger = logging.getLogger("sora2pro")
    handlers, level = list(logger.handlers), logger.level
    assert 0 == main(["status", task_id, "--verbose"])
    err = capsys.readouterr().err
    assert "DEBUG sora2pro: GET /api/v1/jobs/recordInfo -> HTTP 200" in err
    assert "event=http" in err
    assert served.api_key not in err
    assert (handlers, level) == (logger.handlers, logger.level)


def test_without_verbose_the_log_stays_off(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --verbose no log line reaches stderr."""
    task_id = submit(served)
    assert 0 == main(["status", task_id])
    assert "HTTP 200" not in capsys.readouterr().err


def test_emulator_with_verbose_logs_each_request_once() -> None:
    """Emulator --log-requests --verbose logs a request once, through --verbose's handler."""
    argv = ["emulator", "--port", "0", "--log-requests", "--verbose"]
    with subprocess.Popen(  # noqa: S603  # the test's own command line
        [sys.executable, "-m", "sora2pro", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            process.stdout.readline()
            exports = dict(item.split("=", 1) for item in process.stdout.readline().split()[1:])
            request = urllib.request.Request(  # noqa: S310  # a loopback URL the test built
                exports["APIKLEY_BASE_URL"] + "/api/v1/chat/credit",
                headers={"Authorization": f"Bearer {exports['APIKLEY_API_KEY']}"},
            )
            with urllib.request.urlopen(request, timeout=5):  # noqa: S310
                pass
            process.send_signal(signal.SIGINT)
            assert 130 == process.wait(10)
            err = process.stderr.read()
        finally:
            process.kill()
    (line,) = [line for line in err.splitlines() if "/api/v1/chat/credit" in line]
    assert "INFO sora2pro.testing: GET /api/v1/chat/credit 200" in line


def test_without_rich_a_terminal_gets_plain_lines(
    served: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the library alone installed (no rich), progress on a terminal is plain lines."""
    task_id = submit(served)
    monkeypatch.setitem(sys.modules, "sora2pro._cli._live", None)  # as if rich were missing
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert 0 == main(["wait", task_id])
    assert "success 100%  0:00\n" == terminal.getvalue()


@pytest.mark.parametrize("option", ["--json", "--quiet"])
def test_json_or_quiet_on_a_terminal_draws_nothing_live(
    served: Emulator, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    """--json keeps progress as plain lines on a terminal; --quiet drops it."""
    task_id = submit(served)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert 0 == main(["wait", task_id, option])
    shown = terminal.getvalue()
    assert "\x1b" not in shown
    assert ("success 100%  0:00\n" if option == "--json" else "") == (
        shown.split(f"task {task_id}\n")[0]
    )


def test_importing_the_library_or_the_cli_loads_no_rich() -> None:
    """Importing sora2pro or its command line module loads no rich (the cli extra's)."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys, sora2pro, sora2pro._cli; print('rich' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert "False" == result.stdout.strip()


def test_summary_keeps_long_ids_whole_at_any_width() -> None:
    """A long task id is never cut: beside its row when it fits, else on a line of its own."""
    header = ["index", "status", "task id", "detail"]
    rows = [["0", "ok", LONG_ID, "/videos/0001.mp4"], ["1", "failed", "-", "x" * 200]]
    wide = table(header, rows, 200)
    assert f"0      ok      {LONG_ID}  /videos/0001.mp4" == wide[1]
    assert len(wide[2]) <= 200
    assert wide[2].endswith("x…")
    narrow = table(header, rows, 50)
    assert ["0      ok      /videos/0001.mp4", f"{LONG_ID}"] == narrow[2:4]
    assert all(len(line) <= 50 for line in narrow if LONG_ID not in line)
    assert 80 == len(table(header, rows, None)[2].split("  ")[-1])  # cut at 80 off a terminal


def test_summary_numbers_rows_as_json_does(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each summary row starts with the index, status and task id of its --json result."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog\na cat\na bird\n")
    assert 0 == main(["batch", str(prompts), "--json", "--journal", str(tmp_path / "j")])
    captured = capsys.readouterr()
    results = json.loads(captured.out)["results"]
    lines = captured.err.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("index")))
    shown = [tuple(line.split()[:3]) for line in lines[start + 1 : start + 4]]
    assert [(str(r["index"]), r["status"], r["task_id"]) for r in results] == shown
    assert ["0", "1", "2"] == [index for index, _, _ in shown]
