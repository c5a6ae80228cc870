"""The command line's task and account commands: status, wait, download, credits, --json."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.resources
import io
import json
import pathlib
import signal
import subprocess
import sys
import typing

import pyte
import pytest

import sora2pro
from sora2pro._cli import COMMANDS, main
from sora2pro.testing import Endpoint, Fault

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator

SAMPLE = importlib.resources.files("sora2pro.testing").joinpath("sample.mp4").read_bytes()
SIZE = f"{len(SAMPLE) / 1e3:.1f} kB"


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


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, typing.Any]:
    """Run with --json: the exit status and the one JSON document on stdout."""
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def run_json_err(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, typing.Any, str]:
    """Run with --json: the exit status, the JSON document, and what went to stderr."""
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_status_prints_the_state_and_video(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Status of a finished task exits 0 and prints id, state and video URL on stdout."""
    task_id = submit(served)
    assert 0 == main(["status", task_id])
    video = f"video {served.url}/files/{task_id}.mp4"
    assert [f"task {task_id}", "state success", video] == capsys.readouterr().out.splitlines()


def test_status_json_is_the_task(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """Status --json prints the task as one snake_case object with ISO 8601 times."""
    task_id = submit(served)
    code, task, err = run_json_err(["status", task_id], capsys)
    assert (0, task_id, "success", 100) == (code, task["id"], task["state"], task["progress"])
    assert [f"{served.url}/files/{task_id}.mp4"] == task["result_urls"]
    assert dt.UTC == dt.datetime.fromisoformat(task["created_at"]).tzinfo
    assert "a dog" == task["request"]["prompt"]
    assert [f"task {task_id}", "state success"] == err.splitlines()[:2]  # the human lines


def test_status_of_a_running_task_exits_0(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A task still running exits 0 and shows its progress."""
    served.duration = None
    task_id = submit(served)
    served.force_state(task_id, "generating", 42)
    assert 0 == main(["status", task_id])
    expected = [f"task {task_id}", "state generating", "progress 42"]
    assert expected == capsys.readouterr().out.splitlines()


def test_status_of_a_failed_task_exits_1(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed task exits 1; the output is still the task, with why it failed."""
    served.fail_rate = 1.0
    task_id = submit(served)
    assert 1 == main(["status", task_id])
    assert "reason 500 Internal Error" in capsys.readouterr().out
    code, task = run_json(["status", task_id], capsys)
    assert (1, "fail", "500") == (code, task["state"], task["fail_code"])


@pytest.mark.parametrize("command", ["status", "wait", "download"])
def test_an_unknown_task_exits_3_with_a_json_error(
    served: Emulator, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """An id the server does not know exits 3: a JSON error on stdout, one line on stderr."""
    code, error, err = run_json_err([command, "nope"], capsys)
    assert (3, 3) == (code, error["exit_code"])
    assert ("NotFoundError", "nope", None) == (error["error"], error["task_id"], error["task"])
    assert error["message"].startswith("404 task not found")
    assert err.startswith(f"sora2pro: error: {error['message']}\n")


@pytest.mark.parametrize("command", ["status", "wait", "download"])
def test_offline_is_refused_where_no_task_can_be_known(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """--offline with a task id is a usage error that points at sora2pro emulator."""
    with pytest.raises(SystemExit) as caught:
        main([command, "some-task", "--offline"])
    assert 2 == caught.value.code
    assert "Run 'sora2pro emulator'" in capsys.readouterr().err


def test_wait_prints_the_finished_task(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Wait exits 0 with the task's lines on stdout and its progress on stderr."""
    task_id = submit(served)
    assert 0 == main(["wait", task_id])
    captured = capsys.readouterr()
    assert [f"task {task_id}", "state success"] == captured.out.splitlines()[:2]
    assert captured.err.startswith("success 100%")


def test_wait_json_is_the_finished_task(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Wait --json prints the finished task; the human lines move to stderr."""
    task_id = submit(served)
    code, task = run_json(["wait", task_id], capsys)
    assert (0, task_id, "success") == (code, task["id"], task["state"])


def test_wait_for_a_failed_task_exits_1(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed task exits 1; the JSON error carries the task and its fail code."""
    served.fail_rate = 1.0
    task_id = submit(served)
    code, error = run_json(["wait", task_id], capsys)
    assert (1, "TaskFailedError", task_id) == (code, error["error"], error["task_id"])
    assert ("fail", "500") == (error["task"]["state"], error["task"]["fail_code"])


def test_wait_past_its_timeout_exits_4(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Wait --timeout exits 4 with the last state seen; the task is left running."""
    served.duration = None
    task_id = submit(served)
    code, error = run_json(["wait", task_id, "--timeout", "0.2"], capsys)
    assert (4, "WaitTimeoutError", 4) == (code, error["error"], error["exit_code"])
    assert "waiting" == error["task"]["state"]


def test_quiet_leaves_stderr_empty(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--quiet drops progress and notes; the results still reach stdout."""
    task_id = submit(served)
    assert 0 == main(["wait", task_id, "--quiet"])
    assert 0 == main(["download", task_id, "-o", str(tmp_path / "dog.mp4"), "-q"])
    captured = capsys.readouterr()
    assert "" == captured.err
    video = f"video {served.url}/files/{task_id}.mp4"
    saved = f"saved {tmp_path / 'dog.mp4'}"
    assert [f"task {task_id}", "state success", video, saved] == captured.out.splitlines()


def test_download_saves_under_the_task_id_here(
    served: Emulator,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Download without --output writes TASK_ID.mp4 in the current directory."""
    monkeypatch.chdir(tmp_path)
    task_id = submit(served)
    assert 0 == main(["download", task_id])
    assert [f"saved {task_id}.mp4"] == capsys.readouterr().out.splitlines()
    assert SAMPLE == (tmp_path / f"{task_id}.mp4").read_bytes()


def test_download_json_adds_the_saved_path(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Download --json prints the task plus the path it saved."""
    task_id = submit(served)
    out = tmp_path / "dog.mp4"
    code, task = run_json(["download", task_id, "-o", str(out)], capsys)
    assert (0, task_id, str(out)) == (code, task["id"], task["saved"])
    assert SAMPLE == out.read_bytes()


def test_download_keeps_an_existing_file(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing file exits 2 before any request, unless --overwrite says so."""
    task_id = submit(served)
    out = tmp_path / "dog.mp4"
    out.write_bytes(b"mine")
    assert 2 == main(["download", task_id, "-o", str(out)])
    assert "pass --overwrite" in capsys.readouterr().err
    assert (b"mine", 0) == (out.read_bytes(), served.count(Endpoint.RECORD_INFO))
    assert 0 == main(["download", task_id, "-o", str(out), "--overwrite"])
    assert SAMPLE == out.read_bytes()


def test_download_picks_the_watermarked_copy_or_refuses_a_missing_one(
    served: Emulator, tmp_path: pathlib.Path
) -> None:
    """--watermark fetches the watermarked URL; --index past the videos exits 2."""
    task_id = submit(served)
    assert 0 == main(["download", task_id, "-o", str(tmp_path / "w.mp4"), "--watermark"])
    assert f"/files/{task_id}-watermark.mp4" == served.requests[-1].path
    assert 2 == main(["download", task_id, "-o", str(tmp_path / "2.mp4"), "--index", "1"])


def test_download_of_a_running_task_exits_2(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A task not finished yet exits 2 and says to wait first."""
    served.duration = None
    task_id = submit(served)
    assert 2 == main(["download", task_id, "-o", str(tmp_path / "dog.mp4")])
    assert f"run 'sora2pro wait {task_id}' first" in capsys.readouterr().err


def test_download_of_a_failed_task_exits_1(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed task has no video: exit 1 with the task in the JSON error."""
    served.fail_rate = 1.0
    task_id = submit(served)
    code, error = run_json(["download", task_id, "-o", str(tmp_path / "dog.mp4")], capsys)
    assert (1, "TaskFailedError", "fail") == (code, error["error"], error["task"]["state"])


@pytest.mark.parametrize(
    ("fault", "timeout", "expected"),
    [(Fault.html(400), "60", 3), (Fault.delay(0.5), "0.1", 4)],
    ids=["refused", "too-slow"],
)
def test_a_failed_download_exits_3_and_a_slow_one_4(
    served: Emulator, tmp_path: pathlib.Path, fault: Fault, timeout: str, expected: int
) -> None:
    """The file host refusing exits 3; running out of --timeout exits 4; no file is left."""
    task_id = submit(served)
    served.inject(fault, Endpoint.FILES)
    assert expected == main(
        ["download", task_id, "-o", str(tmp_path / "d.mp4"), "--timeout", timeout]
    )
    assert [] == list(tmp_path.iterdir())


def test_download_progress_is_one_live_line_on_a_terminal(
    served: Emulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal the byte count redraws one row, which ends when the download does."""
    task_id = submit(served)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert 0 == main(["download", task_id, "-o", str(tmp_path / "dog.mp4")])
    shown = terminal.getvalue()
    screen = pyte.Screen(80, 5)
    pyte.Stream(screen).feed(shown.replace("\n", "\r\n"))  # a terminal's ONLCR
    (row,) = [row.rstrip() for row in screen.display if row.strip()]
    assert "downloading" in row
    assert row.endswith(f"{SIZE} of {SIZE} 100%  0:00")
    assert (0, 1) == (screen.cursor.x, screen.cursor.y)  # the row ended


def test_download_progress_elsewhere_is_plain_lines(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Off a terminal the byte count comes as plain lines, with no control codes."""
    task_id = submit(served)
    assert 0 == main(["download", task_id, "-o", str(tmp_path / "dog.mp4")])
    err = capsys.readouterr().err
    assert err.startswith(f"downloading {SIZE} of {SIZE} 100%")
    assert "\r" not in err


def test_credits_human_and_json(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """Credits prints the balance as a line, or as {"credits": n} with --json."""
    assert 0 == main(["credits"])
    assert "credits 1000\n" == capsys.readouterr().out
    assert (0, {"credits": 1000}) == run_json(["credits"], capsys)


def test_credits_offline_needs_no_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credits --offline asks an emulator started for the run: no key needed."""
    monkeypatch.delenv("APIKLEY_API_KEY", raising=False)
    assert (0, {"credits": 1000}) == run_json(["credits", "--offline"], capsys)


def test_a_refused_key_exits_3_and_is_never_printed(
    served: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong key exits 3 with a JSON error; the key appears on neither stream."""
    monkeypatch.setenv("APIKLEY_API_KEY", "sk-not-this-one")
    assert 3 == main(["credits", "--json"])
    captured = capsys.readouterr()
    assert "AuthenticationError" == json.loads(captured.out)["error"]
    assert "sk-not-this-one" not in captured.out + captured.err


def test_generate_json_is_one_document(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Generate --json prints only the task (with saved) on stdout; its id goes to stderr."""
    code, task, err = run_json_err(["generate", "a dog", "-o", str(tmp_path / "dog.mp4")], capsys)
    assert (0, "success", str(tmp_path / "dog.mp4")) == (code, task["state"], task["saved"])
    assert f"task {task['id']}\n" == err.splitlines(keepends=True)[0]


def test_generate_uncertain_submit_is_a_json_error(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A create whose answer was lost exits 5, reported as a JSON error."""
    served.inject(Fault.disconnect(after_create=True), Endpoint.CREATE)
    code, error = run_json(["generate", "a dog"], capsys)
    assert (5, "SubmitUncertainError", 5) == (code, error["error"], error["exit_code"])


def test_batch_json_and_quiet(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batch --json --quiet prints one document of results and nothing on stderr."""
    (tmp_path / "prompts.txt").write_text("a dog\na cat\n")
    argv = ["batch", str(tmp_path / "prompts.txt"), "--journal", str(tmp_path / "j"), "-q"]
    code, summary = run_json(argv, capsys)
    assert (0, 2, 0) == (code, summary["ok"], summary["failed"])
    assert [0, 1] == [result["index"] for result in summary["results"]]
    assert "" == capsys.readouterr().err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.name)
def test_every_command_has_a_man_page(
    capsys: pytest.CaptureFixture[str], command: typing.Any
) -> None:
    """Each command's --help has its description, environment and exit status."""
    with pytest.raises(SystemExit) as caught:
        main([command.name, "--help"])
    assert 0 == caught.value.code
    page = capsys.readouterr().out
    assert command.description.split()[:3] == page.split("\n\n")[1].split()[:3]
    assert "exit status:\n" in page
    assert command.environment == ("environment:\n" in page)


def test_interrupted_wait_reports_130_as_json(served: Emulator) -> None:
    """Ctrl-C during wait --json exits 130 with a JSON error naming the task."""
    served.duration = None
    task_id = submit(served)
    with subprocess.Popen(  # noqa: S603  # our own module, fixed arguments
        [sys.executable, "-m", "sora2pro", "wait", task_id, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        process.stderr.readline()  # the first status line: it is polling
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=10)
    assert 130 == process.returncode
    assert {"error": "KeyboardInterrupt", "task_id": task_id, "exit_code": 130}.items() <= (
        json.loads(stdout).items()
    )


def test_a_create_refused_with_body_code_500_exits_3_with_the_servers_message(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A create answered HTTP 200, body code 500, exits 3 (refused), not 5 (uncertain)."""
    message = "aspect_ratio is not within the range of allowed options"
    served.inject(Fault.error(500, message=message), Endpoint.CREATE)
    assert 3 == main(["generate", "a dog", "--output", str(tmp_path / "v.mp4")])
    assert message in capsys.readouterr().err
    assert ({}, 1) == (served.tasks, served.count(Endpoint.CREATE))
