"""Imports point down: an AST walk of ml/kabucast against the layers of docs/ARCHITECTURE.md.

Every ``import`` / ``from ... import`` of a kabucast module is read, module-level and lazy (inside a
function) alike. A module may import its own package and any package of a lower layer, never one of
a higher layer, and never one of its own layer but another package (two model families do not know
each other). Imports, lazy ones included, may not form a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ml" / "kabucast"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("universe", "universe_listing", "settings_files", "compute", "progress"),
    ("config",),
    ("storage", "batch"),  # adapters: S3 / a folder, AWS Batch requests
    ("data",),
    ("features",),
    ("evaluation",),  # pure metrics, backtest, reports
    ("fitting",),  # Lightning helpers both model families share
    ("forecast", "ranker"),  # the model families
    ("sweeps",),
    ("experiments",),  # walk-forward, two-stage, model-scored histories
    ("jobs",),  # the scheduled jobs: their steps, and their wiring from settings
    ("serverless",),
    ("cli",),
)
"""Lowest first (docs/ARCHITECTURE.md draws the same picture)."""
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}


def package_of(module: str) -> str:
    """``kabucast.data.ingest`` -> ``data``; ``kabucast.config`` -> ``config``; ``kabucast`` -> ``kabucast``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported kabucast module, line, lazy) of every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kabucast":
            for alias in node.names:  # `from kabucast.cli import data` imports the module kabucast.cli.data
                sub = f"{node.module}.{alias.name}"
                target = sub if _is_module(sub) else node.module
                if (target, node.lineno, id(node) not in top) not in found:
                    found.append((target, node.lineno, id(node) not in top))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) not in top) for a in node.names if a.name.startswith("kabucast")]
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def all_imports() -> dict[str, list[tuple[str, int, bool]]]:
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_package_has_a_layer() -> None:
    packages = {package_of(m) for m in all_imports()} - {"kabucast"}
    assert packages <= set(LEVEL), (
        f"packages without a layer in this test and docs/ARCHITECTURE.md: {packages - set(LEVEL)}"
    )


def upward(modules: dict[str, list[tuple[str, int, bool]]]) -> list[str]:
    """Every import that points up a layer or sideways to another package of the same layer."""
    wrong = []
    for module, found in modules.items():
        src = package_of(module)
        for target, line, lazy in found:
            dst = package_of(target)
            if dst in (src, "kabucast") or src == "kabucast":
                continue
            if LEVEL[dst] >= LEVEL[src]:
                kind = "lazy " if lazy else ""
                wrong.append(f"{module}:{line} {kind}imports {target} ({src} is below or beside {dst})")
    return wrong


def test_no_import_points_up_or_sideways() -> None:
    wrong = upward(all_imports())
    assert not wrong, "imports that point up:\n" + "\n".join(wrong)


def test_imports_form_no_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    modules = all_imports()
    for module, found in modules.items():
        graph[module] |= {t for t, _, _lazy in found if t in modules and t != module}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*path, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if state.get(start) is None and visit(start, [start]):
            break
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_walk_sees_lazy_imports_and_flags_up_and_sideways(tmp_path: Path) -> None:
    module = tmp_path / "ingest.py"
    module.write_text(
        "from kabucast.data.prices import merge_prices\n"
        "def f():\n"
        "    from kabucast.forecast.registry import load_model\n"
        "    import kabucast.ranker.panel\n"
    )
    found = imports(module)
    assert found == [
        ("kabucast.data.prices", 1, False),
        ("kabucast.forecast.registry", 3, True),
        ("kabucast.ranker.panel", 4, True),
    ]
    wrong = upward({"kabucast.data.ingest": found, "kabucast.forecast.gate": [("kabucast.ranker.model", 9, False)]})
    assert [w.split(" (")[0] for w in wrong] == [
        "kabucast.data.ingest:3 lazy imports kabucast.forecast.registry",
        "kabucast.data.ingest:4 lazy imports kabucast.ranker.panel",
        "kabucast.forecast.gate:9 imports kabucast.ranker.model",
    ]


def test_the_architecture_doc_draws_every_layer() -> None:
    doc = (PACKAGE.parents[1] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    picture = doc.split("```")[1]  # the first code block: the layers, highest first
    first_column = [line[:31] for line in picture.splitlines()]  # the names; descriptions start at column 32
    names = [name.strip() for cell in first_column for part in cell.split("|") for name in part.split("+")]
    drawn = {name.strip("/").removesuffix(".py") for name in names if name}
    missing = {name for names in LAYERS for name in names} - drawn
    assert not missing, f"docs/ARCHITECTURE.md does not draw the layers {sorted(missing)}"
