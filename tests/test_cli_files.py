"""The command line's file commands: upload, character create, generate --image."""

from __future__ import annotations

import json
import pathlib
import typing

import pytest

from sora2pro._cli import _common as _cli_common
from sora2pro._cli import main
from sora2pro.testing import Endpoint, Fault

from .files import SAMPLE_MP4, write

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator


def stdout_json(capsys: pytest.CaptureFixture[str]) -> typing.Any:
    return json.loads(capsys.readouterr().out)


def test_upload_prints_the_url(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """Upload FILE streams it, exits 0 and prints the URL to use on stdout."""
    assert 0 == main(["upload", str(write(tmp_path, "clip.mp4")), "--name", "c.mp4"])
    assert [f"url {served.url}/uploads/sora2pro/c.mp4"] == capsys.readouterr().out.splitlines()
    assert SAMPLE_MP4 == served.uploads["/uploads/sora2pro/c.mp4"].data


def test_upload_json_is_the_stored_file(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """Upload --base64 --json sends base64 and prints url, name, size, type and time."""
    path = write(tmp_path, "a.png")
    assert 0 == main(["upload", str(path), "--base64", "--path", "x", "--json"])
    stored = stdout_json(capsys)
    assert path.stat().st_size == stored["size"]
    assert stored["url"] == f"{served.url}/uploads/x/{stored['file_name']}"
    assert stored["file_name"].startswith("a-")
    assert {"url", "file_name", "size", "mime_type", "uploaded_at"} == set(stored)
    assert 1 == sum(r.path.endswith("file-base64-upload") for r in served.requests)


def test_upload_of_a_missing_file_exits_2(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A path that is no file, or an empty file, exits 2 before anything is sent."""
    assert 2 == main(["upload", str(tmp_path / "nope.png")])
    assert "is not a file" in capsys.readouterr().err
    (tmp_path / "empty.png").touch()
    assert 2 == main(["upload", str(tmp_path / "empty.png")])
    assert "is empty" in capsys.readouterr().err
    assert [] == served.requests


def test_upload_past_its_timeout_exits_4(
    served: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """An upload still unanswered at --timeout exits 4, as its help says."""
    served.inject(Fault.delay(0.6), Endpoint.UPLOAD)
    assert 4 == main(["upload", f"{served.url}/files/x.mp4", "--timeout", "0.1"])
    assert "timed out" in capsys.readouterr().err


def test_refused_upload_exits_3(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """A URL the service cannot fetch exits 3 with a JSON error naming the reason."""
    assert 3 == main(["upload", f"{served.url}/uploads/gone.png", "--json"])
    error = stdout_json(capsys)
    assert ("UnprocessableError", 3) == (error["error"], error["exit_code"])


def test_character_create_prints_the_task_and_the_character(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """Character create uploads the clip, prints the task id, then the character id."""
    clip = str(write(tmp_path, "hero.avi"))
    assert 0 == main(["character", "create", clip, "--prompt", "a knight", "--quiet"])
    task_line, character_line = capsys.readouterr().out.splitlines()
    (task_id,) = served.tasks
    assert f"task {task_id}" == task_line
    assert character_line.startswith("character char_")
    (body,) = served.create_bodies
    assert "a knight" == body["input"]["character_prompt"]  # type: ignore[index]


def test_character_create_json(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """Character create --json prints the character: its id and its finished task."""
    assert 0 == main(["character", "create", "https://example.com/c.mp4", "--json"])
    character = stdout_json(capsys)
    assert character["id"] == character["task"]["character_id"]
    assert "success" == character["task"]["state"]


@pytest.mark.parametrize(
    "case", [("c.mov", b"x", "must be one of"), ("c.mp4", b"<html>", "is not a .mp4 file")]
)
def test_character_create_refuses_a_bad_clip_with_2(
    served: Emulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
    case: tuple[str, bytes, str],
) -> None:
    """A clip of the wrong type exits 2 with the reason, and nothing is sent."""
    name, data, why = case
    path = tmp_path / name
    path.write_bytes(data)
    assert 2 == main(["character", "create", str(path)])
    assert why in capsys.readouterr().err
    assert [] == served.requests


def test_character_create_exit_codes(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """A failed task exits 1, a timeout 4 and a lost create answer 5, each naming the task."""
    url = "https://example.com/c.mp4"
    served.fail_rate = 1.0
    assert 1 == main(["character", "create", url])
    served.fail_rate = 0.0
    served.duration = None
    assert 4 == main(["character", "create", url, "--timeout", "0.2"])
    assert "the task id is" in capsys.readouterr().err
    served.inject(Fault.disconnect(after_create=True), Endpoint.CREATE)
    assert 5 == main(["character", "create", url])


def test_offline_character_and_upload_need_no_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """Upload and character create work --offline, against an emulator of their own."""
    monkeypatch.delenv("APIKLEY_API_KEY", raising=False)
    monkeypatch.setattr(_cli_common, "OFFLINE_DURATION", 0.2)
    clip = str(write(tmp_path, "c.webm"))
    assert 0 == main(["upload", clip, "--offline", "--quiet"])
    assert 0 == main(["character", "create", clip, "--offline", "--quiet"])
    assert "character char_" in capsys.readouterr().out


def test_generate_image_uploads_it_first(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """Generate --image FILE uploads it and submits image-to-video, size standard by default."""
    assert 0 == main(["generate", "the dog runs", "--image", str(write(tmp_path, "dog.jpg"))])
    (body,) = served.create_bodies
    assert isinstance(body, dict)
    assert "sora-2-pro-image-to-video" == body["model"]
    assert "standard" == body["input"]["size"]
    (upload,) = served.uploads
    assert [served.url + upload] == body["input"]["image_urls"]


def test_generate_image_refuses_a_bad_image_with_2(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """Generate --image with a file that is not an image exits 2, nothing sent."""
    assert 2 == main(["generate", "x", "--image", str(write(tmp_path, "a.png", b"GIF89a"))])
    assert "image: a.png is not a .png file" in capsys.readouterr().err
    assert [] == served.requests


def test_batch_jsonl_takes_image_lines(
    served: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A JSONL line with an image is image-to-video; an unknown field is named, unsent."""
    image = write(tmp_path, "dog.png")
    lines = tmp_path / "requests.jsonl"
    lines.write_text(json.dumps({"prompt": "a dog", "image": str(image)}) + "\n")
    assert 0 == main(["batch", str(lines), "--quiet"])
    (body,) = served.create_bodies
    assert "sora-2-pro-image-to-video" == body["model"]  # type: ignore[index]
    lines.write_text('{"prompt": "a dog", "picture": "x.png"}\n')
    assert 2 == main(["batch", str(lines)])
    assert "line 1: item: unknown fields: picture" in capsys.readouterr().err
    assert 1 == len(served.create_bodies)


def test_wait_shows_the_character_id(served: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """After a characters task, status and wait print its character id in human mode."""
    served.duration = None
    assert 4 == main(["character", "create", "https://example.com/c.mp4", "--timeout", "0.1"])
    (task_id,) = served.tasks
    capsys.readouterr()
    served.tasks[task_id].duration = 0.0  # it ends now
    assert 0 == main(["wait", task_id])
    assert any(line.startswith("character char_") for line in capsys.readouterr().out.splitlines())
