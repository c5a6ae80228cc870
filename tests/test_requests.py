"""Request types: each model's rules, local files checked before anything is sent."""

from __future__ import annotations

import pathlib
import typing

import pytest

import sora2pro
from sora2pro import CharacterRequest, ImageToVideo, InvalidInputError, TextToVideo

from .files import write

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "A.JPEG", "a.webp"])
def test_local_images_of_each_kind_are_taken(tmp_path: pathlib.Path, name: str) -> None:
    """A JPEG, PNG or WebP file (any case of suffix) is a valid image-to-video image."""
    path = write(tmp_path, name)
    assert str(path) == ImageToVideo("a dog", image=path).image


@pytest.mark.parametrize("name", ["c.mp4", "c.webm", "c.avi"])
def test_local_clips_of_each_kind_are_taken(tmp_path: pathlib.Path, name: str) -> None:
    """An MP4, WebM or AVI file is a valid characters clip."""
    path = write(tmp_path, name)
    assert str(path) == CharacterRequest(path).video


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.gif", b"GIF89a" + bytes(10), "must be one of .jpg, .jpeg, .png, .webp"),
        ("a.png", b"not a png at all", "is not a .png file"),
        ("a.png", b"\x89PNG\r\n\x1a\n" + bytes(10 * 1000 * 1000), "at most 10,000,000"),
        ("ftp.png", None, "cannot read"),
        ("nul\0.png", None, "cannot read"),
    ],
)
def test_bad_local_images_are_refused(
    tmp_path: pathlib.Path, name: str, data: bytes | None, reason: str
) -> None:
    """A wrong kind, wrong content, too large or missing image is an InvalidInputError."""
    path = tmp_path / name if data is None else write(tmp_path, name, data)
    with pytest.raises(InvalidInputError, match=reason) as caught:
        ImageToVideo("a dog", image=path)
    assert "image" == caught.value.field


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("c.mov", b"\x00\x00\x00\x14ftypqt  ", "must be one of .mp4, .webm, .avi"),
        ("c.mp4", b"<html>not a video</html>", "is not a .mp4 file"),
        ("c.avi", b"RIFF\x00\x00\x00\x00WAVE", "is not a .avi file"),
        ("c.webm", b"\x1a\x45\xdf\xa3" + bytes(10 * 1000 * 1000), "at most 10,000,000"),
    ],
)
def test_bad_local_clips_are_refused(
    tmp_path: pathlib.Path, name: str, data: bytes, reason: str
) -> None:
    """A characters clip of the wrong kind, content or size is refused, naming the field."""
    with pytest.raises(InvalidInputError, match=reason) as caught:
        CharacterRequest(write(tmp_path, name, data))
    assert "video" == caught.value.field


@pytest.mark.parametrize("image", ["", "  ", "ftp://example.com/a.png", 42, None])
def test_image_must_be_a_url_or_a_path(image: object) -> None:
    """An empty, non-http URL or non-string image is refused."""
    with pytest.raises(InvalidInputError, match="image: must be an http"):
        ImageToVideo("a dog", image=image)  # type: ignore[arg-type]


def test_character_texts_are_limited_to_5000_characters() -> None:
    """Character prompts and safety instructions are at most 5000 characters, not blank."""
    url = "https://example.com/c.mp4"
    assert "x" * 5000 == CharacterRequest(url, prompt="x" * 5000).prompt
    with pytest.raises(InvalidInputError, match="prompt: has 5,001 characters"):
        CharacterRequest(url, prompt="x" * 5001)
    with pytest.raises(InvalidInputError, match="safety_instruction: must not be empty"):
        CharacterRequest(url, safety_instruction=" ")


def test_each_model_has_its_own_default_size() -> None:
    """Text-to-video defaults to high, image-to-video to standard (API.md and the issue)."""
    assert "high" == TextToVideo("a").size
    assert "standard" == ImageToVideo("a", image="https://example.com/a.png").size


def test_image_to_video_shares_the_video_rules() -> None:
    """Image-to-video checks prompt, frames and characters as text-to-video does."""
    image = "https://example.com/a.png"
    with pytest.raises(InvalidInputError, match="n_frames"):
        ImageToVideo("a", image=image, n_frames=12)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="character_ids"):
        ImageToVideo("a", image=image, character_ids=["c"] * 6)
    with pytest.raises(InvalidInputError, match="prompt"):
        ImageToVideo("", image=image)


async def test_options_a_request_type_lacks_are_refused(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Submit refuses video options on a characters request, before sending anything."""
    with pytest.raises(InvalidInputError, match="CharacterRequest has no aspect_ratio"):
        await client.submit(CharacterRequest("https://example.com/c.mp4"), aspect_ratio="portrait")
    assert [] == emulator.requests
