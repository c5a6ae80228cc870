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
    """Upward, circular, unlisted, private and dynamic imports fail, and a stray session."""
    shutil.copytree(ROOT / "sora2pro", tmp_path / "sora2pro")
    errors = tmp_path / "sora2pro" / "_errors.py"
    errors.write_text(
        errors.read_text() + "\nimport typing\nif typing.TYPE_CHECKING:\n"
        "    from sora2pro._client import Client\n"
    )
    config = tmp_path / "sora2pro" / "_config.py"
    config.write_text(config.read_text() + "\nimport aiohttp\n_S = aiohttp.ClientSession()\n")
    (tmp_path / "sora2pro" / "_helpers.py").write_text("import sora2pro._client\n")
    emulator = tmp_path / "sora2pro" / "testing" / "_routes.py"
    emulator.write_text(emulator.read_text() + "\nfrom sora2pro import _client\n")
    wire = tmp_path / "sora2pro" / "_wire" / "_decode.py"
    wire.write_text(
        wire.read_text() + '\nimport importlib\nimportlib.import_module("sora2pro._flows")\n'
    )
    found = checker().check(tmp_path)
    text = "\n".join(found)
    assert "sora2pro/_errors.py" in text
    assert "a higher layer" in text
    assert "import cycle" in text
    assert "makes an aiohttp.ClientSession" in text
    assert "sora2pro/_helpers.py: in no layer" in text
    assert any(
        line.startswith("sora2pro/testing/_routes.py") and "public" in line for line in found
    )
    assert any(line.startswith("sora2pro/_wire/_decode.py") for line in found)
