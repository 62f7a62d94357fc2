"""The shape of the code base: imports point down, files and functions stay readable.

These limits are the project's (docs/architecture.md): no import cycle of any kind — a
function-level import or one under ``TYPE_CHECKING`` counts — no source file over 700 lines
and no function over 120 lines (numba kernels aside: they are written flat on purpose).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "pipeline")
MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 120
#: Lower layers never import higher ones.
LAYER = {"features": 0, "models": 1, "pipeline": 2}


def _sources() -> list[Path]:
    files: list[Path] = []
    for package in PACKAGES:
        files.extend(sorted((ROOT / package).rglob("*.py")))
    files.extend(sorted((ROOT / "notebooks").glob("*.py")))
    return files


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _project_imports(path: Path, known: set[str]) -> set[str]:
    """Every project module ``path`` imports, wherever the import stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()

    def add(name: str) -> None:
        # "from models import churn" names the module models.churn.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != this:
            found.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in known else base)
    return found


def _graph() -> dict[str, set[str]]:
    files = _sources()
    known = {_module_name(p) for p in files}
    return {_module_name(p): _project_imports(p, known) for p in files}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_imports_point_down() -> None:
    wrong = []
    for module, imports in _graph().items():
        top = module.split(".")[0]
        if top not in LAYER:
            continue
        for target in imports:
            if LAYER[target.split(".")[0]] > LAYER[top]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_no_long_files() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert long == {}


def _is_numba_kernel(node: ast.AST) -> bool:
    for decorator in getattr(node, "decorator_list", []):
        text = ast.unparse(decorator)
        if "njit" in text or "numba" in text or text.startswith("jit"):
            return True
    return False


def test_no_long_functions() -> None:
    long = {}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _is_numba_kernel(
                node
            ):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = n
    assert long == {}


@pytest.mark.parametrize("name", ["value_tier"])
def test_value_tier_defined_once(name: str) -> None:
    """One value-tier rule: a single definition every layer imports."""
    defined = [
        str(p.relative_to(ROOT))
        for p in _sources()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    assert defined == ["features/vocabulary.py"]


def _closure(module: str, graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        # importing a.b.c runs a/__init__.py and a/b/__init__.py too
        parts = name.split(".")
        todo.extend(
            ".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in graph
        )
        todo.extend(graph.get(name, ()))
    return seen


def _module_file(module: str) -> str:
    path = ROOT / Path(*module.split("."))
    return str(
        (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(ROOT)
    )


def _code_deps(entries: list[str]) -> set[str]:
    """The Python files a stage's ``deps`` name (a folder stands for every file in it)."""
    files: set[str] = set()
    for entry in entries:
        if entry.split("/")[0] not in PACKAGES:
            continue
        path = ROOT / entry
        if path.is_dir():
            files.update(str(p.relative_to(ROOT)) for p in path.rglob("*.py"))
        else:
            files.add(entry)
    return files


def test_dvc_stages_depend_on_exactly_the_code_they_import() -> None:
    """Editing a module reruns the stages that import it, and no other stage."""
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    graph = _graph()
    wrong = {}
    for name, stage in stages.items():
        words = stage["cmd"].split()
        module = words[words.index("-m") + 1]
        wanted = {_module_file(m) for m in _closure(module, graph)}
        listed = _code_deps(stage.get("deps", []))
        if wanted != listed:
            wrong[name] = {
                "missing": sorted(wanted - listed),
                "not imported": sorted(listed - wanted),
            }
    assert wrong == {}
