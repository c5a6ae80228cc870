"""Every public entry point refuses a wrong type or value, naming it, before any request."""

from __future__ import annotations

import typing

import pytest

import sora2pro

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import Awaitable, Callable

    from sora2pro.testing import Emulator


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("poll", 5),
        ("timeout", 30),
        ("rate_limits", 10),
        ("retry", 3),
        ("api_key", 123),
        ("base_url", 5),
        ("session", "a session"),
        ("callbacks", True),
    ],
)
async def test_a_client_setting_of_the_wrong_type_is_refused(
    emulator: Emulator, setting: str, value: object
) -> None:
    """Client(poll=5) and the like raise InvalidInputError naming the setting."""
    settings: dict[str, typing.Any] = {"api_key": emulator.api_key, "base_url": emulator.url}
    settings[setting] = value
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        sora2pro.Client(**settings)
    assert setting == caught.value.field
    assert [] == emulator.requests


CALLS: list[tuple[str, Callable[[sora2pro.Client], Awaitable[object]]]] = [
    ("options", lambda c: c.submit("a dog", bogus=1)),  # type: ignore[call-arg]
    ("options", lambda c: c.generate("a dog", bogus=1)),  # type: ignore[call-arg]
    ("poll", lambda c: c.wait("t", poll=5)),  # type: ignore[arg-type]
    ("on_update", lambda c: c.wait("t", on_update=5)),  # type: ignore[arg-type]
    ("on_update", lambda c: c.generate("a dog", on_update=5)),  # type: ignore[arg-type]
    ("items", lambda c: c.gather(None)),  # type: ignore[arg-type]
    ("items", lambda c: c.gather(123)),  # type: ignore[arg-type]
    ("items", lambda c: c.gather("a dog")),
    ("items", lambda c: c.gather(b"a dog")),  # type: ignore[arg-type]
    ("items", lambda c: c.gather({"prompt": "a dog"})),
    ("items", lambda c: c.gather(sora2pro.TextToVideo("a dog"))),  # type: ignore[arg-type]
    ("on_event", lambda c: c.gather(["a dog"], on_event=5)),  # type: ignore[arg-type]
    ("journal", lambda c: c.gather(["a dog"], journal=123)),  # type: ignore[arg-type]
    ("timeout", lambda c: c.gather(["a dog"], timeout="5")),  # type: ignore[arg-type]
    ("index", lambda c: c.download("t", "v.mp4", index="0")),  # type: ignore[arg-type]
    ("index", lambda c: c.download("t", "v.mp4", index=-1)),
    ("dest", lambda c: c.download("t", None)),  # type: ignore[arg-type]
    ("overwrite", lambda c: c.download("t", "v.mp4", overwrite="yes")),  # type: ignore[arg-type]
    ("as_base64", lambda c: c.upload(b"x", as_base64=1)),  # type: ignore[arg-type]
    ("prompt", lambda c: c.submit("\ud800")),
    ("options", lambda c: c.submit("a dog", prompt="a cat")),  # type: ignore[call-arg]
    ("task", lambda c: c.download(42, "v.mp4")),  # type: ignore[arg-type]
    ("task", lambda c: c.download(None, "v.mp4")),  # type: ignore[arg-type]
    ("task_id", lambda c: c.get_task(7)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("field", "call"), CALLS)
async def test_a_wrong_argument_is_refused_before_anything_is_sent(
    client: sora2pro.Client,
    emulator: Emulator,
    field: str,
    call: Callable[[sora2pro.Client], Awaitable[object]],
) -> None:
    """A wrong type or value raises InvalidInputError naming it; the server sees nothing."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        await call(client)
    assert field == caught.value.field
    assert [] == emulator.requests


async def test_one_bad_item_ends_as_its_own_result_and_the_batch_goes_on(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A lone surrogate or a non-string key fails that item alone, journal or not."""
    emulator.not_visible_for = 0.0
    items: list[typing.Any] = ["a dog", "\ud800", {1: "x"}, {"prompt": "\udfff"}, "a cat"]
    results = await client.gather(items, journal=tmp_path / "j.sqlite")
    assert [True, False, False, False, True] == [r.ok for r in results]
    for result in results[1:4]:
        assert isinstance(result.error, sora2pro.InvalidInputError)
    assert 2 == len(emulator.tasks)
