"""The command line's output: --json documents, --quiet, and each command's help."""

from __future__ import annotations

import json
import pathlib
import typing

import pytest

from sora2pro._cli import COMMANDS, main
from sora2pro.testing import Endpoint, Fault

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator


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
