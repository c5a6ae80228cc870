"""The command line's ``generate --model MODEL --input FILE``: a job of any model."""

from __future__ import annotations

import io
import json
import pathlib
import typing

import pytest

from sora2pro._cli import main
from sora2pro.testing import Endpoint

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator

MODEL = "kling/v2-1-master"


def write_input(tmp_path: pathlib.Path, value: object) -> str:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def test_generate_a_job_sends_its_input_as_given(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--model with --input sends that model and input untouched, and prints the result URL."""
    fields = {"prompt": "a dog", "duration": "5", "cfg_scale": 0.5, "tags": ["a", {"b": None}]}
    assert 0 == main(["generate", "--model", MODEL, "--input", write_input(tmp_path, fields)])
    assert [{"model": MODEL, "input": fields}] == served.create_bodies
    (task_id,) = served.tasks
    expected = [f"task {task_id}", f"result {served.url}/files/{task_id}.mp4"]
    assert expected == capsys.readouterr().out.splitlines()


def test_generate_a_job_json_has_the_result_object_and_saves(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json gives the task with result_object and the job as request; -o saves the file."""
    served.results = {MODEL: lambda url: {"resultUrls": [url], "seed": 11}}
    out = tmp_path / "dog.mp4"
    assert 0 == main(["generate", "--model", MODEL, "a dog", "-o", str(out), "--json"])
    task = json.loads(capsys.readouterr().out)
    assert {"resultUrls": task["result_urls"], "seed": 11} == task["result_object"]
    assert {"model": MODEL, "input": {"prompt": "a dog"}, "callback_url": None} == task["request"]
    assert (str(out), served._video) == (task["saved"], out.read_bytes())


def test_a_result_without_urls_is_printed_as_json(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model whose result has no URLs prints the result object on one line."""
    served.results = {"text-model": {"text": "héllo", "tokens": 2}}
    assert 0 == main(["generate", "--model", "text-model", "hi"])
    assert 'result {"text": "héllo", "tokens": 2}' == capsys.readouterr().out.splitlines()[1]


def test_input_dash_reads_stdin(
    served: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--input - reads the JSON object from standard input."""
    monkeypatch.setattr("sys.stdin", io.StringIO('{"prompt": "from stdin"}'))
    assert 0 == main(["generate", "--model", MODEL, "--input", "-"])
    assert [{"model": MODEL, "input": {"prompt": "from stdin"}}] == served.create_bodies


@pytest.mark.parametrize(
    "case",
    [
        (["--input", "{file}", "a dog"], {}, "--input: needs --model"),
        ([], None, "prompt: is required"),
        (["--model", MODEL, "--size", "high"], None, "--size shape Sora requests"),
        (["--model", MODEL, "--frames", "15", "--character", "c"], None, "--frames, --character"),
        (["--model", MODEL, "--image", "x.png"], None, "--image"),
        (["--model", MODEL, "--input", "{file}", "a dog"], {"prompt": "x"}, "given twice"),
        (["--model", MODEL, "--input", "{file}"], [1, 2], "input: must be a mapping, not list"),
        (["--model", MODEL, "--input", "{file}"], "{not json", "is not JSON"),
        (["--model", MODEL, "--input", "{missing}"], None, "cannot read"),
        (["--model", MODEL, "--input", "{file}"], {"a": "\\ud800"}, "lone surrogate"),
        (["--model", "bad model", "x"], None, "model: must be a model name"),
        (["--model", "sora-2-pro-text-to-video", "--input", "{file}"],
         {"prompt": "x", "n_frames": 10}, "n_frames: must be '10'"),
    ],
)  # fmt: skip
def test_bad_jobs_exit_2_before_anything_is_sent(
    served: Emulator,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[list[str], object, str],
) -> None:
    """Every check on --model, --input and the options runs before any request: exit 2."""
    argv, content, why = case
    path = tmp_path / "input.json"
    if isinstance(content, str):
        path.write_text(content.replace("\\\\", "\\"), encoding="utf-8")
    elif content is not None:
        path.write_text(json.dumps(content).replace("\\\\", "\\"), encoding="utf-8")
    names = {"file": str(path), "missing": str(tmp_path / "nowhere.json")}
    assert 2 == main(["generate", *(arg.format(**names) for arg in argv)])
    assert why in capsys.readouterr().err
    assert 0 == served.count(Endpoint.CREATE)


def test_an_input_file_past_its_cap_is_refused(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job's input over 1 MB as JSON is refused unsent."""
    path = write_input(tmp_path, {"prompt": "x" * 1_000_001})
    assert 2 == main(["generate", "--model", MODEL, "--input", path])
    assert "at most 1,000,000" in capsys.readouterr().err
    assert 0 == served.count(Endpoint.CREATE)


def test_a_batch_file_takes_job_lines_beside_prompt_lines(
    served: Emulator, tmp_path: pathlib.Path
) -> None:
    """A .jsonl batch line naming a model is a Job, sent as given, with no Sora defaults."""
    requests = tmp_path / "requests.jsonl"
    job = {"model": MODEL, "input": {"prompt": "a tune", "seconds": 30}}
    requests.write_text(json.dumps(job) + "\n" + json.dumps({"prompt": "a dog"}) + "\n")
    assert 0 == main(["batch", str(requests), "--size", "high"])
    bodies = typing.cast("list[dict[str, typing.Any]]", served.create_bodies)
    assert job in bodies
    (sora,) = [body for body in bodies if body["model"] != MODEL]
    assert "high" == sora["input"]["size"]


def test_a_dry_run_counts_job_lines(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run checks a job line as a real run would: it counts, and nothing is sent."""
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps({"model": MODEL, "input": {"prompt": "a tune"}}) + "\n")
    assert 0 == main(["batch", "--dry-run", str(requests)])
    assert "would make 1 video(s)" in capsys.readouterr().out
    assert [] == served.requests


def test_a_batch_with_out_keeps_going_past_a_job_without_a_file(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out saves what has URLs; a job whose result has none is an ok row, not a stop."""
    served.results = {"text-model": {"text": "hello"}}
    requests = tmp_path / "requests.jsonl"
    job = {"model": "text-model", "input": {"prompt": "hi"}}
    requests.write_text(json.dumps(job) + "\n" + json.dumps({"prompt": "a dog"}) + "\n")
    out = tmp_path / "out"
    assert 0 == main(["batch", str(requests), "--out", str(out), "--json"])
    rows = json.loads(capsys.readouterr().out)["results"]
    assert ["ok", "ok"] == [row["status"] for row in rows]
    assert "" == rows[0]["detail"]
    assert pathlib.Path(rows[1]["detail"]).read_bytes() == served._video
    assert 1 == (out / "index.html").read_text().count("<video ")  # the dog's alone


def test_output_for_a_result_without_a_file_is_a_failed_save_not_a_usage_error(
    served: Emulator, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o with a result that has no URLs: the result is printed, nothing saved, exit 3 (not 2)."""
    served.results = {"text-model": {"text": "hello"}}
    out = tmp_path / "answer.mp4"
    assert 3 == main(["generate", "--model", "text-model", "hi", "-o", str(out)])
    captured = capsys.readouterr()
    assert 'result {"text": "hello"}' in captured.out
    assert "nothing to save" in captured.err
    assert not out.exists()
    assert 1 == served.count(Endpoint.CREATE)
