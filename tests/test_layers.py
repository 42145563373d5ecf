"""The package's import graph, read from the source: acyclic (function-level imports
included, so no lazy import hides a cycle) and layered (physics below everything, the
stages and entry points on top, no Snakemake in the science)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spade"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The spade modules ``path`` imports anywhere in it (``from spade.x import y`` counts
    as ``spade.x.y`` where that is a module, else as ``spade.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    return {m for m in found if m in modules and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, name, set(files)) for name, path in files.items()}


def _importers(graph, target: str) -> set[str]:
    inside = lambda m: m == target or m.startswith(target + ".")  # noqa: E731
    return {m for m, deps in graph.items() if not inside(m) and any(inside(d) for d in deps)}


def test_the_graph_is_read_from_the_source(graph):
    assert len(graph) > 40 and "spade.study.stages.finetune" in graph
    assert {"spade.train", "spade.checkpoint"} <= graph["spade.study.stages.finetune"]


def test_the_import_graph_is_acyclic(graph):
    state: dict[str, int] = {}

    def visit(module, path):
        state[module] = 1
        for dep in sorted(graph[module]):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(path[path.index(dep):] + [dep])
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_physics_stands_alone(graph):
    """The operators import no model, loss, training or stage: physics separate from models."""
    for module, deps in graph.items():
        if module.startswith("spade.physics"):
            assert all(d.startswith("spade.physics") for d in deps), (module, deps)


def test_stages_and_entry_points_are_the_top_layer(graph):
    assert _importers(graph, "spade.study.stages") <= {"spade.cli", "spade.study.jacobian_sweep"}
    assert _importers(graph, "spade.cli") == set()
    assert _importers(graph, "spade.api") <= {"spade", "spade.cli"}
    # the networks, losses and statistics sit below training, the report and the stages
    for module, deps in graph.items():
        if module.split(".")[:2] in (["spade", "models"], ["spade", "losses"], ["spade", "stats"]):
            above = {d for d in deps if d.split(".")[:2] in (["spade", "train"], ["spade", "report"], ["spade", "stages"])}
            assert not above, (module, above)


def test_the_science_imports_no_snakemake():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "snakemake" for n in names), path


# The library a user installs to prune a network of their own (spade.api and what it stands
# on, issue 39); everything else in the package is the study (its design, stages, data,
# reports, config checks). The wheel test (tests/test_wheel.py) runs the library without the
# study's packages; this keeps the line in the source.
LIBRARY = {"spade", "spade.api", "spade.prune", "spade.priors", "spade.plan", "spade.widths", "spade.train",
           "spade.losses", "spade.strategies", "spade.deploy", "spade.runtimes", "spade.benchmark", "spade.metrics",
           "spade.checkpoint", "spade.defaults", "spade.options", "spade.resume", "spade.digests", "spade.log",
           "spade.hooks"}


def _library(module: str) -> bool:
    return module in LIBRARY or module.split(".")[:2] in (["spade", "physics"], ["spade", "models"])


def test_no_library_module_imports_the_study(graph):
    assert all(m in graph for m in LIBRARY), sorted(LIBRARY - set(graph))
    crossings = {m: sorted(d for d in deps if not _library(d)) for m, deps in graph.items() if _library(m)}
    assert not {m: d for m, d in crossings.items() if d}, crossings
