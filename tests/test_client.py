"""The client's life and basic calls, against the emulator over loopback."""

from __future__ import annotations

import gc
import pathlib
import typing

import aiohttp
import pytest

import sora2pro
from sora2pro import Sora2ProError, TaskState, TextToVideo

from .conftest import FAST_POLL, FAST_RETRY

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator


async def test_generate_returns_the_finished_task(client: sora2pro.Client) -> None:
    """generate() submits, waits, and returns a successful task with its video URL."""
    task = await client.generate("a happy dog running in the garden", n_frames=15)
    assert TaskState.SUCCESS is task.state
    assert 1 == len(task.result_urls)
    assert TextToVideo("a happy dog running in the garden", n_frames=15) == task.request


async def test_submit_sends_the_documented_body(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """submit() sends model, input and callBackUrl as the schema wants, n_frames as a string."""
    task_id = await client.submit(
        "a cat", aspect_ratio="portrait", n_frames=15, size="standard", remove_watermark=True,
        character_ids=["c1", "c2"], callback_url="https://example.com/cb",
    )  # fmt: skip
    assert task_id in emulator.tasks
    assert [
        {
            "model": "sora-2-pro-text-to-video",
            "callBackUrl": "https://example.com/cb",
            "input": {
                "prompt": "a cat",
                "aspect_ratio": "portrait",
                "n_frames": "15",
                "size": "standard",
                "remove_watermark": True,
                "character_id_list": ["c1", "c2"],
            },
        }
    ] == emulator.create_bodies


async def test_submit_accepts_a_request_value_and_overrides(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """submit() takes a TextToVideo, and keyword options replace its fields."""
    await client.submit(TextToVideo("a cat", size="standard"), n_frames="15")
    body = typing.cast("dict[str, typing.Any]", emulator.create_bodies[0])
    assert ("a cat", "standard", "15") == (
        body["input"]["prompt"],
        body["input"]["size"],
        body["input"]["n_frames"],
    )


async def test_invalid_input_sends_nothing(client: sora2pro.Client, emulator: Emulator) -> None:
    """A request that breaks the rules raises InvalidInputError and sends no request."""
    with pytest.raises(sora2pro.InvalidInputError):
        await client.submit("a dog", n_frames=20)
    with pytest.raises(sora2pro.InvalidInputError):
        await client.generate("a dog", timeout=0)
    with pytest.raises(sora2pro.InvalidInputError):
        await client.get_task("")
    assert [] == emulator.requests


async def test_every_request_names_sora2pro_in_its_user_agent(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Every request, API call or download, sends a User-Agent with sora2pro's version."""
    task = await client.generate("a dog")
    await client.download(task, tmp_path / "dog.mp4")
    await client.credits()
    assert emulator.requests
    assert 1 == emulator.count("files")
    for request in emulator.requests:
        assert request.headers["user-agent"].startswith(f"sora2pro/{sora2pro.__version__} ")


async def test_credits_returns_the_balance(client: sora2pro.Client, emulator: Emulator) -> None:
    """credits() returns the account's balance as a float."""
    emulator.credits = 123.5
    assert 123.5 == await client.credits()


def test_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a key, Client() raises an error that names APIKLEY_API_KEY."""
    monkeypatch.delenv("APIKLEY_API_KEY", raising=False)
    with pytest.raises(Sora2ProError, match="APIKLEY_API_KEY"):
        sora2pro.Client()


async def test_key_and_base_url_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator
) -> None:
    """APIKLEY_API_KEY and APIKLEY_BASE_URL are used when no argument is given."""
    monkeypatch.setenv("APIKLEY_API_KEY", emulator.api_key)
    monkeypatch.setenv("APIKLEY_BASE_URL", emulator.url)
    async with sora2pro.Client() as client:
        assert emulator.url == client.base_url
        assert 1000.0 == await client.credits()


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without argument or environment, the client talks to https://api.apikley.ru."""
    monkeypatch.delenv("APIKLEY_BASE_URL", raising=False)
    assert "https://api.apikley.ru" == sora2pro.Client("key").base_url


def test_bad_base_url_is_refused() -> None:
    """A base_url that is not http(s) is refused when the client is built."""
    with pytest.raises(sora2pro.InvalidInputError):
        sora2pro.Client("key", base_url="api.apikley.ru")


async def test_closed_client_refuses_work(emulator: Emulator) -> None:
    """After close(), every call raises Sora2ProError and sends nothing."""
    client = sora2pro.Client(emulator.api_key, base_url=emulator.url)
    await client.credits()
    await client.close()
    with pytest.raises(Sora2ProError, match="closed"):
        await client.credits()
    with pytest.raises(Sora2ProError, match="closed"):
        await client.submit("a dog")
    assert "closed" in repr(client)


async def test_unclosed_client_warns(emulator: Emulator) -> None:
    """A client that opened a session and was never closed warns with ResourceWarning."""
    client = sora2pro.Client(emulator.api_key, base_url=emulator.url)
    await client.credits()
    with pytest.warns(ResourceWarning, match="unclosed <sora2pro.Client"):
        client.__del__()
    await client.close()


async def test_unused_client_needs_no_close() -> None:
    """A client that never sent a request holds nothing and does not warn."""
    client = sora2pro.Client("key")
    del client
    gc.collect()


async def test_session_passed_in_is_used_and_left_open(emulator: Emulator) -> None:
    """A caller's aiohttp session carries the requests and stays open after close()."""
    async with aiohttp.ClientSession() as session:
        async with sora2pro.Client(emulator.api_key, base_url=emulator.url, session=session) as c:
            await c.credits()
        assert not session.closed
        assert 1 == emulator.count("credit")


async def test_repr_never_shows_the_key(emulator: Emulator) -> None:
    """The client's repr shows the address and state, never the key."""
    client = sora2pro.Client("sk-secret-1234", base_url=emulator.url)
    assert "sk-secret" not in repr(client)
    assert emulator.url in repr(client)


async def test_pending_lists_unfinished_tasks(client: sora2pro.Client, emulator: Emulator) -> None:
    """Submitted tasks stay in client.pending until the client sees them finish."""
    emulator.duration = None
    task_id = await client.submit(TextToVideo("a dog"))
    assert {task_id: TextToVideo("a dog")} == dict(client.pending)
    emulator.finish(task_id)
    await client.wait(task_id)
    assert {} == dict(client.pending)


async def test_wrong_key_is_an_authentication_error(emulator: Emulator) -> None:
    """A key the server refuses raises AuthenticationError at once, without retries."""
    async with sora2pro.Client("sk-wrong", base_url=emulator.url, retry=FAST_RETRY) as client:
        with pytest.raises(sora2pro.AuthenticationError) as caught:
            await client.credits()
    assert 401 == caught.value.code
    assert 1 == emulator.count("credit")


async def test_policies_are_used(emulator: Emulator) -> None:
    """Client(poll=..., retry=..., timeout=...) takes the caller's settings."""
    timeouts = sora2pro.Timeouts(connect=1.0, read=1.0, request=2.0)
    async with sora2pro.Client(
        emulator.api_key, base_url=emulator.url, poll=FAST_POLL, retry=FAST_RETRY, timeout=timeouts
    ) as client:
        assert TaskState.SUCCESS is (await client.generate("a dog", timeout=10)).state


async def test_key_with_surrounding_blanks_is_trimmed(emulator: Emulator) -> None:
    """A key read from a file with a trailing newline works as the key itself."""
    async with sora2pro.Client(f" {emulator.api_key}\n", base_url=emulator.url) as client:
        assert 1000.0 == await client.credits()


@pytest.mark.parametrize("key", ["sk-one two", "sk-new\nline"])
def test_key_with_inner_blanks_is_refused(key: str) -> None:
    """A key with spaces or control characters inside is refused without echoing it."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        sora2pro.Client(key)
    assert key not in str(caught.value)


@pytest.mark.parametrize("url", ["http://localhost:99999", "http://[::1:80", "ftp://host"])
def test_base_url_must_be_usable(url: str) -> None:
    """A base_url with a bad port or host, or not http(s), is refused when built."""
    with pytest.raises(sora2pro.InvalidInputError):
        sora2pro.Client("key", base_url=url)


async def test_closed_session_passed_in_is_a_typed_error(emulator: Emulator) -> None:
    """A caller's session that is already closed gives Sora2ProError, not aiohttp's error."""
    session = aiohttp.ClientSession()
    await session.close()
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url, session=session) as c:
        with pytest.raises(Sora2ProError, match="session"):
            await c.credits()
