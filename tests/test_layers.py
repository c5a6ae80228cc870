"""The architecture holds: one-way imports between layers, small modules (tools/check_layers.py)."""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]


def checker() -> types.ModuleType:
    """tools/check_layers.py, loaded as a module."""
    spec = importlib.util.spec_from_file_location(
        "check_layers", ROOT / "tools" / "check_layers.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_keeps_its_layers() -> None:
    """No import goes up a layer or round in a circle; no module or function is too long."""
    assert [] == checker().check()


def test_the_check_catches_each_kind_of_breach(tmp_path: pathlib.Path) -> None:
    """An upward import (even under TYPE_CHECKING), a cycle and a session made elsewhere fail."""
    shutil.copytree(ROOT / "sora2pro", tmp_path / "sora2pro")
    errors = tmp_path / "sora2pro" / "_errors.py"
    errors.write_text(
        errors.read_text() + "\nimport typing\nif typing.TYPE_CHECKING:\n"
        "    from sora2pro._client import Client\n"
    )
    config = tmp_path / "sora2pro" / "_config.py"
    config.write_text(config.read_text() + "\nimport aiohttp\n_S = aiohttp.ClientSession()\n")
    found = "\n".join(checker().check(tmp_path))
    assert "sora2pro/_errors.py" in found
    assert "a higher layer" in found
    assert "import cycle" in found
    assert "makes an aiohttp.ClientSession" in found
