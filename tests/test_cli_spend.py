"""sora2pro batch --keep-credits and --dry-run: spend nothing more than asked, or nothing."""

from __future__ import annotations

import json
import typing

import sora2pro
from sora2pro._cli import main
from sora2pro._cli._batch import _SEVERITY
from sora2pro._cli._common import exit_code
from sora2pro.testing import Emulator, Endpoint

if typing.TYPE_CHECKING:
    import pathlib

    import pytest


def test_keep_credits_leaves_rows_unsent_and_a_rerun_sends_them(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Balance 6, keep 3: three videos, three unsent rows, exit 3; topped up, a rerun ends."""
    served.credits = 6.0
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"dog {n}" for n in range(6)))
    argv = ["batch", str(prompts), "--keep-credits", "3", "--concurrency", "1", "--json"]
    assert 3 == main(argv)
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (3, 0, 3) == (summary["ok"], summary["failed"], summary["unsent"])
    unsent = [row for row in summary["results"] if row["status"] == "unsent"]
    assert all(row["detail"].startswith("not sent: credit floor") for row in unsent)
    assert "3 not sent" in captured.err
    assert 3.0 == served.credits
    served.credits = 100.0
    assert 0 == main(argv)
    assert 6 == json.loads(capsys.readouterr().out)["ok"]
    assert 6 == served.count(Endpoint.CREATE)


def test_dry_run_counts_videos_and_sends_nothing(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run says how many videos a valid file makes, exits 0, and sends no request."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog\n\na cat\na bird\n")
    assert 0 == main(["batch", str(prompts), "--dry-run", "--keep-credits", "5"])
    assert f"would make 3 video(s) from {prompts}; nothing was sent\n" == capsys.readouterr().out
    assert [] == served.requests
    assert not (tmp_path / "prompts.txt.journal.sqlite").exists()


def test_dry_run_names_every_invalid_line(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad lines are listed with their numbers, as JSON too; exit 2, still nothing sent."""
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        '{"prompt": "ok"}\n{"prompt": ""}\nnot json\n{"prompt": "x", "size": "4k"}\n'
    )
    assert 2 == main(["batch", str(requests), "--dry-run", "--json"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert 1 == document["videos"]
    assert [2, 3, 4] == [problem["line"] for problem in document["invalid"]]
    assert "prompt: must not be empty" == document["invalid"][0]["error"]
    assert "line 2: prompt: must not be empty" in captured.err
    assert "would make 1 video(s)" in captured.err
    assert [] == served.requests


def test_dry_run_and_a_run_refuse_a_sora_job_line_its_typed_request_would_not_send(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model line breaking its typed rules is an invalid line: --dry-run names it, a run stops."""
    requests = tmp_path / "requests.jsonl"
    job = {"model": "sora-2-pro-text-to-video", "input": {"prompt": "x", "n_frames": 10}}
    requests.write_text(json.dumps(job) + '\n{"prompt": "ok"}\n')
    assert 2 == main(["batch", str(requests), "--dry-run", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert 1 == document["videos"]
    assert [1] == [problem["line"] for problem in document["invalid"]]
    assert "n_frames: must be '10'" in document["invalid"][0]["error"]
    assert 2 == main(["batch", str(requests), "--json"])
    assert "line 1: " in json.loads(capsys.readouterr().out)["message"]
    assert [] == served.requests


def test_every_exit_status_of_an_item_ranks_in_the_batchs_worst_outcome() -> None:
    """Any item's outcome, a refused input too, has a rank in the batch's worst outcome."""
    request = sora2pro.TextToVideo("x")
    errors = [
        None,
        sora2pro.InvalidInputError("image", "cannot read it"),
        sora2pro.SubmitUncertainError("lost", request=request),
        sora2pro.WaitTimeoutError("t", None, 1.0),
        sora2pro.CreditFloorError("floor", floor=1.0, balance=0.0, cost=None),
    ]
    assert {exit_code(error) for error in errors} <= set(_SEVERITY)


def test_a_file_that_is_no_utf8_is_a_usage_error(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A prompts file in Latin-1 exits 2 with a message, dry run or not; nothing is sent."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_bytes("café au lait\n".encode("latin-1"))
    for extra in (["--dry-run"], []):
        assert 2 == main(["batch", str(prompts), *extra])
        assert "not UTF-8" in capsys.readouterr().err
    assert [] == served.requests


def test_a_line_nested_past_what_json_reads_is_an_invalid_line(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line of arrays nested 100,000 deep is a bad line (exit 2), not a RecursionError."""
    requests = tmp_path / "requests.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    requests.write_text('{"model": "x", "input": ' + deep + '}\n{"prompt": "ok"}\n')
    assert 2 == main(["batch", str(requests), "--dry-run", "--json"])
    assert [1] == [problem["line"] for problem in json.loads(capsys.readouterr().out)["invalid"]]
    assert [] == served.requests
