"""The command line is a user of the public API: it imports no private sora2pro module."""

from __future__ import annotations

import ast
import pathlib

import sora2pro
import sora2pro.testing

_PACKAGE = "sora2pro._cli"
_FOLDER = pathlib.Path(sora2pro.__file__).parent / "_cli"
_PUBLIC = {"sora2pro": set(sora2pro.__all__), "sora2pro.testing": set(sora2pro.testing.__all__)}


def _imports(path: pathlib.Path) -> list[tuple[str, str | None]]:
    """Every import in a module, anywhere in it: (absolute module, name or None)."""
    package = _PACKAGE.split(".")
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(module, alias.name) for alias in node.names]
    return found


def _is_private(dotted: str) -> bool:
    """A name under sora2pro with a part that starts with one underscore, outside _cli."""
    parts = dotted.split(".")
    if parts[0] != "sora2pro" or parts[:2] == _PACKAGE.split("."):
        return False
    return any(part.startswith("_") and not part.endswith("__") for part in parts)


def _offenders(path: pathlib.Path) -> list[str]:
    offenders = []
    for module, name in _imports(path):
        full = module if name is None else f"{module}.{name}"
        if _is_private(module) or _is_private(full):
            offenders.append(f"{path.name}: {full}")
        elif name is not None and module in _PUBLIC and name not in _PUBLIC[module]:
            offenders.append(f"{path.name}: {full} is not in {module}.__all__")
    return offenders


def test_cli_modules_import_only_public_sora2pro_names() -> None:
    """No import in sora2pro/_cli/, even lazy or for typing, names a private sora2pro module."""
    modules = sorted(_FOLDER.glob("*.py"))
    assert [] == [offender for path in modules for offender in _offenders(path)]
    assert "__init__.py" in {path.name for path in modules}


def test_the_check_catches_each_form_of_private_import(tmp_path: pathlib.Path) -> None:
    """A private module named by import, from-import, relative import or in a function is found."""
    module = tmp_path / "bad.py"
    module.write_text(
        "import typing\n"
        "import sora2pro._client\n"
        "from sora2pro import _errors, Client\n"
        "from .. import _models\n"
        "if typing.TYPE_CHECKING:\n"
        "    from sora2pro._requests import Request\n"
        "def later():\n"
        "    from sora2pro.testing._faults import Fault\n"
        "    from sora2pro import Nothing\n",
        "utf-8",
    )
    expected = [
        "bad.py: sora2pro._client",
        "bad.py: sora2pro._errors",
        "bad.py: sora2pro._models",
        "bad.py: sora2pro._requests.Request",
        "bad.py: sora2pro.testing._faults.Fault",
        "bad.py: sora2pro.Nothing is not in sora2pro.__all__",
    ]
    assert sorted(expected) == sorted(_offenders(module))
