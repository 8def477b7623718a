"""The package's shape: imports run one way, without circles, and functions stay short."""

from __future__ import annotations

import ast
from pathlib import Path

import litedepth

SRC = Path(litedepth.__file__).parent
# From the lowest: a module may import its own layer and those below it. Top-level modules not
# named are the core helpers (errors, fileio, outputs, camera, preprocess, ...), below everything.
LAYERS = {
    "models": 1,
    "data": 1,
    "config": 2,
    "checkpoint": 2,
    "runtimes": 2,
    "hub": 2,
    "synth": 3,
    "evaluation": 3,
    "deploy": 3,
    "training": 4,
    "apps": 4,
    "study": 5,
    "commands": 6,
    "cli": 6,
    "__main__": 6,
}
CORE_HELPERS = 0
PACKAGE = 2  # litedepth/__init__.py: the public API (load, save_model, create_model)
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], CORE_HELPERS) if len(parts) > 1 else PACKAGE


def imports(path: Path) -> list[tuple[str, bool]]:
    """``(litedepth module imported, at module level?)`` for every import of the file."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("litedepth") and known(name):
                found.append((known(name), id(node) in top_level))
    return found


def known(name: str) -> str | None:
    """The module ``name`` is, or None (an attribute, not a module)."""
    relative = name.split(".")[1:]
    path = SRC.joinpath(*relative)
    if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
        return name
    return None


def graph(module_level_only: bool) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        name = module_name(path)
        edges[name] = {
            target
            for target, top in imports(path)
            if (top or not module_level_only) and target != name and not name.startswith(target + ".")
        }
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circle():
    """Module-level imports and the imports inside functions alike."""
    assert find_cycle(graph(module_level_only=True)) is None
    assert find_cycle(graph(module_level_only=False)) is None


def test_imports_run_one_way():
    upward = sorted(
        f"{source} imports {target}"
        for source, targets in graph(module_level_only=False).items()
        for target in targets
        if layer(target) > layer(source) and not target.endswith(".__init__")
    )
    assert upward == [], "\n".join(upward)


def test_the_checker_sees_circles_and_upward_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer("litedepth.apps.serve") > layer("litedepth.inference")
    edges = graph(module_level_only=False)
    assert "litedepth.training.loop" in edges["litedepth.commands.train"] or any(
        t.startswith("litedepth.training") for t in edges["litedepth.commands.train"]
    )


def test_every_function_is_short():
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == [], "\n".join(long)
