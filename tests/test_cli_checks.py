"""The command line checks what it can before its first request: nothing is sent or paid."""

from __future__ import annotations

import pathlib
import typing

import pytest

from sora2pro._cli import main
from sora2pro.testing import Endpoint

from .files import write

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator


def exit_status(argv: list[str]) -> int:
    """The exit status of a run, whether main() returned it or argparse exited."""
    try:
        return main(argv)
    except SystemExit as stop:
        return typing.cast("int", stop.code)


@pytest.mark.parametrize("timeout", ["-5", "0", "nan", "inf", "soon"])
def test_generate_refuses_a_bad_timeout_before_creating(
    served: Emulator, capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    """Generate --timeout that is not a positive number exits 2; no task is created."""
    assert 2 == exit_status(["generate", "a dog", "--timeout", timeout])
    assert (0, []) == (served.count(Endpoint.CREATE), served.requests)
    err = capsys.readouterr().err
    assert f"--timeout: must be a positive number of seconds, not {timeout!r}" in err
    assert "None" not in err


def command_lines(tmp_path: pathlib.Path) -> dict[str, list[str]]:
    """A valid run of every command that takes --timeout, but for the timeout."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog\n")
    return {
        "wait": ["wait", "some-task"],
        "download": ["download", "some-task", "-o", str(tmp_path / "v.mp4")],
        "upload": ["upload", str(write(tmp_path, "a.png"))],
        "character": ["character", "create", str(write(tmp_path, "c.mp4"))],
        "batch": ["batch", str(prompts), "--journal", str(tmp_path / "j")],
    }


@pytest.mark.parametrize("command", ["wait", "download", "upload", "character", "batch"])
def test_every_timeout_is_checked_before_any_request(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, command: str
) -> None:
    """--timeout -1 exits 2 with the command line's wording; the server saw nothing."""
    argv = command_lines(tmp_path)[command]
    assert 2 == exit_status([*argv, "--timeout", "-1"])
    assert [] == served.requests
    assert "must be a positive number of seconds, not '-1'" in capsys.readouterr().err


def test_generate_output_that_is_a_directory_exits_2_unsent(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """Generate --output DIR exits 2 before the task is created, even with --overwrite."""
    assert 2 == exit_status(["generate", "a dog", "-o", str(tmp_path), "--overwrite"])
    assert f"{tmp_path} is a directory" in capsys.readouterr().err
    assert [] == served.requests


def test_generate_output_in_a_missing_directory_exits_2_unsent(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """Generate --output /no/such/dir/x.mp4 exits 2 before the task is created."""
    path = tmp_path / "no" / "such" / "x.mp4"
    assert 2 == exit_status(["generate", "a dog", "-o", str(path)])
    assert f"{tmp_path / 'no' / 'such'} does not exist" in capsys.readouterr().err
    assert [] == served.requests


def test_generate_keeps_an_existing_file_unless_told(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """An existing --output exits 2 unsent and untouched; --overwrite replaces it."""
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert 2 == exit_status(["generate", "a dog", "-o", str(notes)])
    assert f"{notes} exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert ("mine", []) == (notes.read_text(), served.requests)
    assert 0 == exit_status(["generate", "a dog", "-o", str(notes), "--overwrite"])
    assert 1 == served.count(Endpoint.CREATE)
    assert b"mine" != notes.read_bytes()


@pytest.mark.parametrize(
    "case",
    [
        ("dir", ["--overwrite"], "is a directory"),
        ("no/such/v.mp4", [], "does not exist"),
        ("v.mp4", ["--index", "-1"], "--index: must be a whole number >= 0, not '-1'"),
    ],
    ids=["directory", "missing-directory", "negative-index"],
)
def test_download_checks_its_options_before_fetching_the_task(
    served: Emulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
    case: tuple[str, list[str], str],
) -> None:
    """Download exits 2 on an output it cannot write, or a bad index, before any request."""
    where, extra, why = case
    (tmp_path / "dir").mkdir()
    assert 2 == exit_status(["download", "some-task", "-o", str(tmp_path / where), *extra])
    assert why in capsys.readouterr().err
    assert [] == served.requests


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "a dog", "--image", "missing.png"],
        ["character", "create", "missing.mp4"],
        ["upload", "missing.png"],
    ],
    ids=["image", "clip", "upload"],
)
def test_a_missing_file_exits_2_unsent(
    served: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
    argv: list[str],
) -> None:
    """An image, clip or upload that is not there exits 2 naming it; the server saw nothing."""
    monkeypatch.chdir(tmp_path)
    assert 2 == exit_status(argv)
    assert "missing." in capsys.readouterr().err
    assert [] == served.requests


@pytest.mark.parametrize(
    "case",
    [
        (["--concurrency", "0"], "--concurrency: must be a whole number >= 1, not '0'"),
        (["--out", "prompts.txt"], "prompts.txt is not a directory"),
        (["--keep-credits", "-1"], "--keep-credits: must be a number of credits >= 0, not '-1'"),
        (["--keep-credits", "nan"], "--keep-credits: must be a number of credits >= 0, not 'nan'"),
    ],
    ids=["concurrency", "out-is-a-file", "keep-credits-negative", "keep-credits-nan"],
)
def test_batch_checks_its_options_before_sending(
    served: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
    case: tuple[list[str], str],
) -> None:
    """Batch exits 2 on a bad --concurrency or --keep-credits, or an --out file; nothing is sent."""
    option, why = case
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts.txt").write_text("a dog\n")
    assert 2 == exit_status(["batch", "prompts.txt", "--journal", "j", *option])
    assert why in capsys.readouterr().err
    assert [] == served.requests
