"""The package's architecture, checked: wings import only down (import-linter contracts in
pyproject.toml), no import circles, Ray and MLflow each in one wing, no torch at import time on
the driver side, small modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "sweeper"
#: Wings whose modules the driver and Ray trial actors import: torch must not load with them.
DRIVER_SIDE = ("commands", "ray_adapter", "tracking", "results", "cache", "sweep", "progress")
MAX_MODULE_LINES = 450


def test_import_linter_contracts_hold():
    """Layers (commands > ray_adapter > tracking > training > results > cache > sweep > core >
    progress), Ray only in ray_adapter, MLflow only in tracking: ``lint-imports`` on pyproject.toml."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--config", str(REPO / "pyproject.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_in_a_circle():
    """Every import counts, lazy ones inside functions too."""
    assert _import_cycles(grimp.build_graph("sweeper")) == []


def test_the_cycle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    assert _import_cycles(graph) == []
    graph.add_import(importer="c", imported="a")
    assert _import_cycles(graph) == [["a", "b", "c"]]


def test_driver_side_wings_do_not_import_torch_at_import_time():
    modules = sorted(
        "sweeper." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        for wing in DRIVER_SIDE
        for path in (PACKAGE / wing).rglob("*.py")
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]", f"imported at import time by {DRIVER_SIDE}: {result.stdout}"


def test_trial_actors_import_no_mlflow_torch_or_transformers():
    """A Tune trial actor imports the trainables' module (and the sweep context it unpickles); it
    opens and logs its run through the tracking service, so MLflow (over a second of CPU per
    process) stays out, as do torch and transformers (its Train workers import them)."""
    code = (
        "import sys\n"
        "import sweeper.ray_adapter.trials, sweeper.ray_adapter.context\n"
        "print(sorted(m for m in ('mlflow', 'torch', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]", f"a trial actor imports {result.stdout}"


def test_modules_stay_small():
    sizes = {str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
