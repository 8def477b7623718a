"""The package's shape: imports run one way, without circles or sideways steps, and functions stay short."""

from __future__ import annotations

import ast
from pathlib import Path

import litedepth

SRC = Path(litedepth.__file__).parent
# From the lowest: a module may import its own room, and the layers below its own. Top-level
# modules not named are the core helpers (errors, fileio, outputs, camera, preprocess, ...), below
# everything. The layers are CONTRIBUTING's: commands -> study, training, apps, deploy,
# evaluation, synth -> the core (with runtimes) -> models, data.
LAYERS = {
    "models": 1,
    "data": 1,
    "config": 2,
    "config_checks": 2,  # what a Config must hold (known architectures among it)
    "checkpoint": 2,
    "runtimes": 2,
    "hub": 2,
    "pretrained": 2,  # the published networks: downloaded, then opened by checkpoint
    "synth": 3,
    "evaluation": 3,
    "deploy": 3,
    "training": 3,
    "apps": 3,
    "study": 3,
    "commands": 4,
    "cli": 4,
    "__main__": 4,
}
CORE_HELPERS = 0
PACKAGE = 2  # litedepth/__init__.py: the public API (load, save_model, create_model)
# The rooms of one layer do not import each other (a shared helper belongs in a lower layer),
# except these steps, (importer, imported): each one a dependency of the work itself.
SIDEWAYS_ALLOWED = {
    ("training", "evaluation"): "a training run validates its student with the evaluation loop",
    ("study", "training"): "reproducing the paper trains its students",
    ("study", "evaluation"): "and evaluates them under the paper's protocol",
    ("study", "deploy"): "and reports their parameters, GFLOPs and speed (deploy.flops, deploy.bench)",
    ("study", "synth"): "its synthetic presets render their training and test rooms",
}
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], CORE_HELPERS) if len(parts) > 1 else PACKAGE


def room(module: str) -> str:
    """The package a module lives in: a subpackage's name; "core" for the top-level modules and
    runtimes (the core holds them); "commands" for cli and __main__."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "core"
    if name in ("cli", "__main__"):
        return "commands"
    return name if name != "runtimes" and (SRC / name / "__init__.py").is_file() else "core"


def sideways(edges: dict[str, set[str]]) -> dict[tuple[str, str], list[str]]:
    """Imports between different rooms of one layer: ``(importer room, imported room) -> edges``."""
    found: dict[tuple[str, str], list[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            if layer(source) == layer(target) and room(source) != room(target):
                found.setdefault((room(source), room(target)), []).append(f"{source} imports {target}")
    return found


def imports(path: Path) -> list[tuple[str, bool]]:
    """``(litedepth module imported, at module level?)`` for every import of the file that runs."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for_type_checkers = {  # `if TYPE_CHECKING:` imports are never run
        id(inner)
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in for_type_checkers:
            continue
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


def test_no_sideways_import_outside_the_allow_list():
    found = sideways(graph(module_level_only=False))
    outside = sorted(edge for pair, edges in found.items() if pair not in SIDEWAYS_ALLOWED for edge in edges)
    assert outside == [], "\n".join(outside)
    unused = sorted(f"{a} -> {b}" for a, b in SIDEWAYS_ALLOWED if (a, b) not in found)
    assert unused == [], "allowed but no longer imported (drop them): " + ", ".join(unused)


def test_the_checker_sees_circles_and_upward_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    edges = {
        "litedepth.synth.dataset": {"litedepth.deploy.flops", "litedepth.preprocess"},
        "litedepth.hub": {"litedepth.runtimes.onnx", "litedepth.checkpoint", "litedepth.models"},
        "litedepth.cli": {"litedepth.commands.train"},
    }
    assert sideways(edges) == {("synth", "deploy"): ["litedepth.synth.dataset imports litedepth.deploy.flops"]}
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
