"""Every ```python block of README.md runs as pasted against the emulator.

A program block runs as ``python block.py`` would run it: as ``__main__``, in a
thread of its own (so ``asyncio.run()`` gets a fresh event loop), in an empty working
folder that holds the files the README names (``hero.mp4``, ``dog.png``), with
``APIKLEY_BASE_URL`` and ``APIKLEY_API_KEY`` pointing at an emulator whose tasks end
at once, and (for a block that reads it) ``REDIS_URL`` at a redis-server of its own.
A block that defines tests runs under pytest, configured as the README advises and
without the plugins of this project's own tools, as in a project that installs
``sora2pro[testing]``. A block that looks a task up with ``get_task()``
meets new tasks that answer "recordInfo is null" for their first second, as the real
service's do right after a create; the others see new tasks at once, so that their
waits end at the first poll.

A block that cannot run offline is preceded by ``<!-- not run: the reason -->``; the
test checks that such blocks stay rare and that each gives a reason.
"""

from __future__ import annotations

import asyncio
import pathlib
import re
import shutil
import typing

import pytest

import sora2pro._client
from sora2pro.testing import Emulator

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLE_VIDEO = ROOT / "sora2pro" / "testing" / "sample.mp4"
# A 1x1 PNG: the README's dog.png.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)
pytest_plugins = ["pytester"]
BLOCK = re.compile(r"(?:<!-- not run: (?P<reason>[^>]*?) -->\n)?```python\n(?P<code>.*?)```", re.S)


def blocks() -> list[tuple[int, str, str | None]]:
    """Each Python block of the README: its line, its code, and why it is not run (or None)."""
    text = README.read_text("utf-8")
    return [
        (text.count("\n", 0, m.start("code")), m["code"], m["reason"]) for m in BLOCK.finditer(text)
    ]


def test_the_readme_has_python_blocks_and_few_exceptions() -> None:
    """The README shows Python; at most one block is not run, and it says why."""
    found = blocks()
    assert len(found) >= 4
    assert 1 == sum(1 for _, code, _ in found if is_test_module(code))
    reasons = [reason for _, _, reason in found if reason is not None]
    assert len(reasons) <= 1
    assert all(reason.strip() for reason in reasons)


def is_test_module(code: str) -> bool:
    """Whether a block defines pytest tests rather than being a program."""
    return re.search(r"^(async )?def test_", code, re.M) is not None


def cases(tests: bool) -> list[typing.Any]:
    """The blocks that run, programs or test modules, named by their line in the README."""
    return [
        pytest.param(line, code, id=f"line-{line}")
        for line, code, why in blocks()
        if why is None and is_test_module(code) is tests
    ]


@pytest.fixture
def folder(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """An empty working folder holding the files the README's examples name."""
    shutil.copy(SAMPLE_VIDEO, tmp_path / "hero.mp4")
    (tmp_path / "dog.png").write_bytes(PNG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("line", "code"), cases(tests=False))
async def test_readme_program_runs(
    line: int,
    code: str,
    folder: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """The program at this line of README.md runs to its end against the emulator."""
    if "REDIS_URL" in code:
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_server").url)
    program = compile(code, f"README.md, the block at line {line}", "exec")
    not_visible_for = 1.0 if "get_task(" in code else 0.0
    async with Emulator(duration=0.0, not_visible_for=not_visible_for) as emulator:
        monkeypatch.setenv("APIKLEY_BASE_URL", emulator.url)
        monkeypatch.setenv("APIKLEY_API_KEY", emulator.api_key)
        # The default policy waits about 20 s for a Sora task: these end at once.
        monkeypatch.setattr(sora2pro._client, "DEFAULT_POLL", emulator.poll)
        # As `python file.py` would: its own thread, so that asyncio.run() gets a fresh loop.
        await asyncio.to_thread(exec, program, {"__name__": "__main__"})


@pytest.mark.parametrize(("line", "code"), cases(tests=True))
def test_readme_test_module_passes(line: int, code: str, pytester: pytest.Pytester) -> None:
    """The test module at this line passes under pytest, without this project's own plugins."""
    pytester.makepyfile(test_block=code)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")  # as advised
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:xdist"
    )
    result.assert_outcomes(passed=1)
