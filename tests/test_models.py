"""Requests are checked when built: bad input is refused before anything is sent."""

from __future__ import annotations

import attrs
import pytest

import sora2pro
from sora2pro import InvalidInputError, TextToVideo


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   \n"}, "prompt"),
        ({"prompt": "x" * 10_001}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"aspect_ratio": "square"}, "aspect_ratio"),
        ({"n_frames": 12}, "n_frames"),
        ({"n_frames": "10s"}, "n_frames"),
        ({"n_frames": 10.5}, "n_frames"),
        ({"size": "ultra"}, "size"),
        ({"remove_watermark": "yes"}, "remove_watermark"),
        ({"character_ids": ["a", "b", "c", "d", "e", "f"]}, "character_ids"),
        ({"character_ids": "abc"}, "character_ids"),
        ({"character_ids": ["ok", ""]}, "character_ids"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"callback_url": "ftp://example.com/cb"}, "callback_url"),
        ({"callback_url": "http://[::1"}, "callback_url"),
        ({"callback_url": "http://example.com:99999/cb"}, "callback_url"),
    ],
)
def test_invalid_requests_are_refused(kwargs: dict[str, object], field: str) -> None:
    """Each rule of the provider's schema is enforced locally, naming the field."""
    kwargs = {"prompt": "a dog"} | kwargs
    with pytest.raises(InvalidInputError) as caught:
        TextToVideo(**kwargs)  # type: ignore[arg-type]
    assert field == caught.value.field
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("frames", [10, 15, "10", "15"])
def test_frames_accept_ints_and_strings(frames: int | str) -> None:
    """n_frames takes 10, 15, "10" and "15" and keeps a number."""
    assert int(frames) == TextToVideo("a dog", n_frames=frames).n_frames


def test_defaults_follow_the_schema() -> None:
    """The defaults are the provider's: landscape, 10 seconds, high."""
    request = TextToVideo("a dog")
    assert ("landscape", 10, "high", None, ()) == (
        request.aspect_ratio,
        request.n_frames,
        request.size,
        request.remove_watermark,
        request.character_ids,
    )


def test_longest_prompt_is_accepted() -> None:
    """A prompt of exactly 10,000 characters is allowed."""
    assert 10_000 == len(TextToVideo("x" * 10_000).prompt)


def test_requests_are_frozen_and_evolve_with_checks() -> None:
    """A request cannot be changed in place, and evolving it checks again."""
    request = TextToVideo("a dog", character_ids=["c1"])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.prompt = "a cat"  # type: ignore[misc]
    with pytest.raises(InvalidInputError):
        attrs.evolve(request, size="huge")
    assert ("c1",) == request.character_ids


def test_task_done_only_in_final_states() -> None:
    """Task.done is true for success and fail, false for every other state."""
    final = {sora2pro.TaskState.SUCCESS, sora2pro.TaskState.FAIL}
    for state in sora2pro.TaskState:
        task = sora2pro.Task(id="t", model="m", state=state, raw_state=state.value)
        assert (state in final) == task.done
