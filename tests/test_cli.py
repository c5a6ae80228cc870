"""The command line: offline demo, documented exit codes, one clear line per error."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from sora2pro._cli import _common as _cli_common
from sora2pro._cli import main
from sora2pro.testing import Emulator, Endpoint, Fault

SAMPLE = importlib.resources.files("sora2pro.testing").joinpath("sample.mp4").read_bytes()


def test_offline_generate_saves_a_playable_video(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Generate --offline needs no key, prints the task id and URL, and saves the MP4."""
    monkeypatch.delenv("APIKLEY_API_KEY", raising=False)
    monkeypatch.setattr(_cli_common, "OFFLINE_DURATION", 0.3)
    out = tmp_path / "demo.mp4"
    assert 0 == main(["generate", "--offline", "a happy dog", "--frames", "15", "-o", str(out)])
    stdout = capsys.readouterr().out.splitlines()
    assert stdout[0].startswith("task ")
    assert stdout[1].startswith("video http://127.0.0.1:")
    assert f"saved {out}" == stdout[2]
    assert SAMPLE == out.read_bytes()


def test_generate_against_a_server(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """Generate sends every option as the API wants it and prints plain status lines."""
    argv = ["generate", "a cat", "--aspect-ratio", "portrait", "--size", "standard",
            "--no-watermark", "--character", "c1", "--character", "c2"]  # fmt: skip
    assert 0 == main(argv)
    (body,) = served.create_bodies
    assert {
        "prompt": "a cat",
        "aspect_ratio": "portrait",
        "n_frames": "10",
        "size": "standard",
        "remove_watermark": True,
        "character_id_list": ["c1", "c2"],
    } == body["input"]  # type: ignore[index]
    assert "success 100%" in capsys.readouterr().err


def test_failed_task_exits_1(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """A task that fails exits 1 with one error line naming the task id, no traceback."""
    served.fail_rate = 1.0
    assert 1 == main(["generate", "a dog"])
    err = capsys.readouterr().err
    assert "sora2pro: error: task" in err
    assert "Traceback" not in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Invalid input exits 2 before anything is sent; so do bad options."""
    assert 2 == main(["generate", "--offline", ""])
    assert "prompt: must not be empty" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["generate", "x", "--frames", "12"])
    assert 2 == caught.value.code


def test_api_error_exits_3(
    served: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused key exits 3 with the server's reason."""
    monkeypatch.setenv("APIKLEY_API_KEY", "sk-wrong")
    assert 3 == main(["generate", "a dog"])
    assert "401" in capsys.readouterr().err


def test_timeout_exits_4(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """A wait past --timeout exits 4 and tells the task id."""
    served.duration = None
    assert 4 == main(["generate", "a dog", "--timeout", "0.3"])
    assert "the task id is" in capsys.readouterr().err


def test_uncertain_submit_exits_5(served: Emulator) -> None:
    """A create whose answer was lost exits 5."""
    served.inject(Fault.disconnect(after_create=True), Endpoint.CREATE)
    assert 5 == main(["generate", "a dog"])


def test_help_reads_like_a_man_page() -> None:
    """Python -m sora2pro --help lists the commands, the environment and the exit codes."""
    result = subprocess.run(
        [sys.executable, "-m", "sora2pro", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for words in ("generate", "download", "APIKLEY_API_KEY", "exit status", "5    uncertain"):
        assert words in result.stdout


def test_emulator_command_serves_until_interrupted() -> None:
    """sora2pro emulator serves the API on the given port and exits 130 on Ctrl-C."""
    with subprocess.Popen(
        [sys.executable, "-m", "sora2pro", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        try:
            process.stdout.readline()
            exports = dict(item.split("=", 1) for item in process.stdout.readline().split()[1:])
            request = urllib.request.Request(  # noqa: S310  # a loopback URL the test built
                exports["APIKLEY_BASE_URL"] + "/api/v1/chat/credit",
                headers={
                    "Authorization": f"Bearer {exports['APIKLEY_API_KEY']}",
                    "User-Agent": "test",
                },
            )
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                assert b'"code": 200' in response.read()
            process.send_signal(signal.SIGINT)
            assert 130 == process.wait(10)
        finally:
            process.kill()


def test_busy_port_is_one_error_line(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """sora2pro emulator on a busy port exits 2 with one line, no traceback."""
    assert 2 == main(["emulator", "--port", str(served.port)])
    err = capsys.readouterr().err
    assert err.startswith("sora2pro: error:")
    assert "Traceback" not in err


def test_offline_batch_downloads_every_video(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch --offline makes a video per prompt in --out and prints a summary table."""
    monkeypatch.setattr(_cli_common, "OFFLINE_DURATION", 0.2)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog\n\na cat\na bird\n")
    out = tmp_path / "videos"
    assert 0 == main(["batch", str(prompts), "--offline", "--out", str(out)])
    videos = sorted(out.glob("*.mp4"))
    assert 3 == len(videos)
    assert all(SAMPLE == video.read_bytes() for video in videos)
    assert "ok 3, failed 0, uncertain 0" in capsys.readouterr().out
    assert not (tmp_path / "videos.journal.sqlite").exists()  # offline keeps no journal


def test_batch_refuses_bad_lines_before_sending(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every bad line is named, with its number, and nothing is sent."""
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        '{"prompt": "ok"}\n{"prompt": ""}\nnot json\n{"prompt": "x", "size": "4k"}\n'
    )
    assert 2 == main(["batch", str(requests)])
    err = capsys.readouterr().err
    for line in ("line 2", "line 3", "line 4"):
        assert line in err
    assert [] == served.requests


def test_batch_resumes_from_its_journal(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rerun re-attaches to what it paid for; uncertain creates wait for the flag."""
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        "\n".join(json.dumps({"prompt": f"dog {n}", "n_frames": 15}) for n in range(5))
    )
    out = tmp_path / "videos"
    served.inject(Fault.disconnect(after_create=True), Endpoint.CREATE)
    argv = ["batch", str(requests), "--out", str(out)]
    assert 5 == main(argv)
    assert (tmp_path / "videos.journal.sqlite").exists()
    assert 5 == served.count(Endpoint.CREATE)
    assert 5 == main(argv)  # the uncertain one is not sent again
    assert 5 == served.count(Endpoint.CREATE)
    assert 0 == main([*argv, "--resubmit-uncertain"])
    assert 6 == served.count(Endpoint.CREATE)
    assert 5 == len(list(out.glob("*.mp4")))
    assert all(body["input"]["n_frames"] == "15" for body in served.create_bodies)  # type: ignore[index]
    assert "ok 5, failed 0, uncertain 0" in capsys.readouterr().out


def test_interrupted_batch_resumes_without_paying_twice(
    served: Emulator, emulator_loop: asyncio.AbstractEventLoop, tmp_path: pathlib.Path
) -> None:
    """Ctrl-C mid-batch exits 130; the same command then finishes without new creates."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"dog {n}" for n in range(4)))
    served.duration = None  # nothing finishes until the test says so
    argv = ["batch", str(prompts), "--journal", str(tmp_path / "run.sqlite")]
    with subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "sora2pro", *argv], stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        while served.count(Endpoint.CREATE) < 4:  # the emulator has no arrival event
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        assert 130 == process.wait(10)
        assert "run the same command again to resume" in process.stderr.read()
    for task_id in list(served.tasks):
        asyncio.run_coroutine_threadsafe(finish(served, task_id), emulator_loop).result(5)
    assert 0 == main(argv)
    assert 4 == served.count(Endpoint.CREATE)


async def finish(emulator: Emulator, task_id: str) -> None:
    """End a task from the emulator's own loop."""
    emulator.finish(task_id)


def test_batch_out_dot_puts_the_journal_beside_it(
    served: Emulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out . works: the journal goes beside the current directory, named after it."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (tmp_path / "prompts.txt").write_text("a dog\n")
    monkeypatch.chdir(videos)
    assert 0 == main(["batch", "../prompts.txt", "--out", "."])
    assert (tmp_path / "videos.journal.sqlite").exists()
    assert 1 == len(list(videos.glob("*.mp4")))


def test_batch_reads_jsonl_whatever_the_case_of_its_suffix(
    served: Emulator, tmp_path: pathlib.Path
) -> None:
    """A .JSONL file is read as requests, not sent line by line as prompts."""
    requests = tmp_path / "REQUESTS.JSONL"
    requests.write_text('{"prompt": "a dog", "size": "standard"}\n')
    assert 0 == main(["batch", str(requests)])
    (body,) = served.create_bodies
    assert ("a dog", "standard") == (body["input"]["prompt"], body["input"]["size"])  # type: ignore[index]


def test_batch_lines_with_one_idempotency_key_pay_once(
    served: Emulator, tmp_path: pathlib.Path
) -> None:
    """JSON lines sharing an idempotency_key make one task; a bad key is refused unsent."""
    requests = tmp_path / "requests.jsonl"
    line = json.dumps({"prompt": "a dog", "idempotency_key": "order-42"})
    requests.write_text(f"{line}\n{line}\n")
    assert 0 == main(["batch", str(requests)])
    assert 1 == served.count(Endpoint.CREATE)
    requests.write_text('{"prompt": "a dog", "idempotency_key": ""}\n')
    assert 2 == main(["batch", str(requests)])
    assert 1 == served.count(Endpoint.CREATE)


def test_batch_exit_status_names_api_errors(
    served: Emulator,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A batch whose creates are refused (bad key) exits 3, like generate."""
    monkeypatch.setenv("APIKLEY_API_KEY", "sk-wrong")
    (tmp_path / "prompts.txt").write_text("a dog\na cat\n")
    assert 3 == main(["batch", str(tmp_path / "prompts.txt"), "--journal", str(tmp_path / "j")])
    assert "failed 2" in capsys.readouterr().out


def test_batch_with_failed_tasks_saves_the_rest_and_a_rerun_finishes(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed tasks are failed rows, exit 1; the rest are saved; a rerun creates nothing."""
    fates = iter([True, False, False, True, False, False, True, False, False, True])

    def fated(_rng: object) -> float:
        served.fail_rate = 1.0 if next(fates) else 0.0  # read by this same create
        return 0.0

    served.duration = fated
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"dog {n}" for n in range(10)))
    out = tmp_path / "videos"
    argv = ["batch", str(prompts), "--out", str(out), "--json"]
    for _run in range(2):
        code = main(argv)
        summary = json.loads(capsys.readouterr().out)
        assert (1, 6, 4, 0) == (code, summary["ok"], summary["failed"], summary["uncertain"])
        assert 6 == len(list(out.glob("*.mp4")))
        assert 10 == served.count(Endpoint.CREATE)
    failed = {row["task_id"] for row in summary["results"] if row["status"] == "failed"}
    assert {task.id for task in served.tasks.values() if task.fails} == failed
