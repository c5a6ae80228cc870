"""Characters and image-to-video end to end: local files uploaded first, then one create."""

from __future__ import annotations

import pathlib

import pytest

import sora2pro
from sora2pro import CharacterRequest, ImageToVideo, InvalidInputError
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import assert_valid_create_body
from .files import write


async def test_character_from_a_local_clip_is_usable_in_a_generation(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """create_character uploads the clip, waits, returns the id; generate then uses it."""
    character = await client.create_character(
        write(tmp_path, "hero.webm"), prompt="a calm knight", safety_instruction="PG only"
    )
    assert character.id.startswith("char_")
    assert character.id == character.task.character_id
    (upload,) = emulator.uploads.values()
    assert (tmp_path / "hero.webm").read_bytes() == upload.data
    await client.generate("the knight crosses a bridge", character_ids=[character.id])
    first, second = emulator.create_bodies
    assert isinstance(first, dict)
    assert isinstance(second, dict)
    assert "sora-2-characters" == first["model"]
    assert {
        "character_file_url": [f"{emulator.url}/uploads/sora2pro/{upload.name}"],
        "character_prompt": "a calm knight",
        "safety_instruction": "PG only",
    } == first["input"]
    assert [character.id] == second["input"]["character_id_list"]


async def test_character_from_a_url_uploads_nothing(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A clip given as a URL goes into the create as it is; nothing is uploaded."""
    character = await client.create_character("https://example.com/clip.mp4")
    assert character.id.startswith("char_")
    assert [] == list(emulator.uploads)
    (body,) = emulator.create_bodies
    assert {"character_file_url": ["https://example.com/clip.mp4"]} == body["input"]  # type: ignore[index]


async def test_bad_clip_sends_nothing(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A clip of the wrong type or size, or too long a prompt, is refused before any request."""
    with pytest.raises(InvalidInputError, match=r"must be one of \.mp4, \.webm, \.avi"):
        await client.create_character(tmp_path / "clip.mov")
    with pytest.raises(InvalidInputError, match="at most 10,000,000"):
        await client.create_character(write(tmp_path, "big.mp4", b"\0\0\0\x18ftyp" + bytes(10**7)))
    with pytest.raises(InvalidInputError, match="prompt: has 5,001"):
        await client.create_character(write(tmp_path, "ok.avi"), prompt="x" * 5001)
    assert [] == emulator.requests


async def test_failed_character_task_raises_with_its_id(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A characters task that fails raises TaskFailedError carrying the task id."""
    emulator.fail_rate = 1.0
    with pytest.raises(sora2pro.TaskFailedError) as caught:
        await client.create_character("https://example.com/clip.mp4")
    assert caught.value.task_id in emulator.tasks


async def test_local_image_is_uploaded_then_sent_as_its_url(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Image-to-video with a local image uploads it, then creates with its URL only."""
    task = await client.generate(ImageToVideo("the dog runs", image=write(tmp_path, "dog.png")))
    (upload,) = emulator.uploads.values()
    (body,) = emulator.create_bodies
    assert_valid_create_body(body)
    assert isinstance(body, dict)
    assert "sora-2-pro-image-to-video" == body["model"]
    assert [f"{emulator.url}/uploads/sora2pro/{upload.name}"] == body["input"]["image_urls"]
    assert "standard" == body["input"]["size"]
    assert isinstance(task.request, ImageToVideo)
    assert body["input"]["image_urls"] == [task.request.image]


async def test_failed_upload_creates_nothing(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """When the image upload fails for good, no create is sent and the error says why."""
    emulator.inject(Fault.error(401, http_status=401), Endpoint.UPLOAD)
    with pytest.raises(sora2pro.AuthenticationError):
        await client.submit(ImageToVideo("a dog", image=write(tmp_path, "dog.jpg")))
    assert [] == emulator.create_bodies


async def test_batch_takes_image_items(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A batch mapping with an image is an image-to-video item; others stay text-to-video."""
    items = [{"prompt": "a", "image": str(write(tmp_path, "a.webp"))}, {"prompt": "b"}]
    results = await client.gather(items)
    assert [True, True] == [result.ok for result in results]
    assert [ImageToVideo, sora2pro.TextToVideo] == [type(result.request) for result in results]
    models = sorted(body["model"] for body in emulator.create_bodies)  # type: ignore[index]
    assert ["sora-2-pro-image-to-video", "sora-2-pro-text-to-video"] == models


async def test_emulator_refuses_an_image_that_is_not_one(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """The emulator is strict: a stored file of the wrong kind given as image gets 422."""
    clip = await client.upload(b"\0\0\0\x18ftypmp42", file_name="clip.mp4")
    with pytest.raises(sora2pro.UnprocessableError, match="video/mp4 is not of type image"):
        await client.submit(ImageToVideo("a dog", image=clip.url))


async def test_character_request_can_be_submitted_without_waiting(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A bot can submit a CharacterRequest and wait later; the task names the character."""
    task_id = await client.submit(CharacterRequest("https://example.com/clip.mp4"))
    task = await client.wait(task_id)
    assert task.character_id is not None
    assert isinstance(task.request, CharacterRequest)
