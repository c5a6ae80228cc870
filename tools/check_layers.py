"""The architecture, checked: one-way imports between layers, small modules and functions.

Run as ``python tools/check_layers.py`` (``make lint`` does). It reads the source with
``ast`` and imports nothing, so ``TYPE_CHECKING`` imports and imports inside functions
count like any other.
"""

from __future__ import annotations

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Each layer may import only the layers before it (and itself). Data flows one way.
LAYERS = [
    ["sora2pro._version", "sora2pro._errors"],
    ["sora2pro._config"],
    ["sora2pro._model"],
    ["sora2pro._wire"],
    ["sora2pro._coordination"],
    ["sora2pro._transport"],
    ["sora2pro._api"],
    ["sora2pro._callbacks"],
    ["sora2pro._flows"],
    ["sora2pro._wiring"],
    [
        "sora2pro._client_files",
        "sora2pro._client_batch",
        "sora2pro._client_callbacks",
        "sora2pro._client_watch",
    ],
    ["sora2pro._client"],
    ["sora2pro"],
    ["sora2pro.testing"],
    ["sora2pro._cli"],
    ["sora2pro.__main__"],
]
#: Packages that may use the library only through its public door.
PUBLIC_ONLY = {"sora2pro._cli", "sora2pro.testing"}
#: What each may use besides the public door: the emulator, for the command line; the
#: pure signing function, for the emulator.
PUBLIC_ONLY_EXCEPTIONS = {
    "sora2pro._cli": {"sora2pro.testing"},
    "sora2pro.testing": {"sora2pro._callbacks._signing"},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
#: Where an aiohttp.ClientSession may be made: the transport, and the emulator (a
#: server of its own, which sends callbacks).
SESSION_MAKERS = ("sora2pro._transport", "sora2pro.testing")


def module_name(path: pathlib.Path, root: pathlib.Path = ROOT) -> str:
    """The dotted name of the module at ``path``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The index of the layer ``module`` belongs to (its longest matching prefix), or -1.

    The package itself (``sora2pro``) is a layer of one module: a module nobody listed
    belongs to no layer, and fails the check rather than slipping into the top one.
    """
    best, found = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            inside = prefix != "sora2pro" and module.startswith(prefix + ".")
            if (module == prefix or inside) and len(prefix) > best:
                best, found = len(prefix), index
    return found


def imports(
    tree: ast.Module, module: str, is_package: bool, modules: set[str]
) -> list[tuple[int, str]]:
    """Every sora2pro module ``tree`` imports, with its line.

    ``from package import submodule`` counts as an import of the submodule (one of
    ``modules``), and ``importlib.import_module("sora2pro...")`` as an import too.
    """
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("sora2pro")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[: len(here) - node.level + 1]
                base = ".".join([*here, base] if base else here)
            if base.startswith("sora2pro"):
                named = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                found += [(node.lineno, target) for target in named or [base]]
        elif isinstance(node, ast.Call) and _named(node.func, "import_module") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith("sora2pro"):
                found.append((node.lineno, str(first.value)))
    return found


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, source: list[str]) -> int:
    """Lines of a function that hold code: not blank, not comments, not its docstring."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    lines = source[body[0].lineno - 1 : (node.end_lineno or node.lineno)]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def check(root: pathlib.Path = ROOT) -> list[str]:
    """Every breach of the rules above in ``root``'s package, one line each."""
    problems = []
    graph: dict[str, set[str]] = {}
    paths = sorted((root / "sora2pro").rglob("*.py"))
    modules = {module_name(path, root) for path in paths}
    for path in paths:
        module = module_name(path, root)
        text = path.read_text("utf-8")
        tree = ast.parse(text)
        where = path.relative_to(root)
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            problems.append(f"{where}: {lines} lines; at most {MAX_MODULE_LINES}")
        if not module.startswith(SESSION_MAKERS):
            problems += [
                f"{where}:{node.lineno}: makes an aiohttp.ClientSession; only _transport may"
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and _named(node.func, "ClientSession")
            ]
        source = text.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = code_lines(node, source)
                if size > MAX_FUNCTION_LINES:
                    problems.append(
                        f"{where}:{node.lineno}: {node.name}() has {size} lines of code; "
                        f"at most {MAX_FUNCTION_LINES}"
                    )
        mine = layer_of(module)
        if mine < 0:
            problems.append(f"{where}: in no layer of tools/check_layers.py")
            continue
        public_only = next((p for p in PUBLIC_ONLY if layer_of(p) == mine), None)
        for line, target in imports(tree, module, path.name == "__init__.py", modules):
            graph.setdefault(module, set()).add(target)
            theirs = layer_of(target)
            if public_only is not None and theirs != mine:
                allowed = {"sora2pro"} | PUBLIC_ONLY_EXCEPTIONS.get(public_only, set())
                if target not in allowed:
                    problems.append(f"{where}:{line}: imports {target}; only public names here")
            elif theirs > mine:
                problems.append(f"{where}:{line}: imports {target}, a higher layer")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def _named(func: ast.expr, name: str) -> bool:
    """Whether a call's function is ``name`` or ``<something>.name``."""
    return (isinstance(func, ast.Name) and func.id == name) or (
        isinstance(func, ast.Attribute) and func.attr == name
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), if any."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


if __name__ == "__main__":
    found = check()
    for problem in found:
        print(problem)
    sys.exit(1 if found else 0)
