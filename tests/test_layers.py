"""The house: imports point down (entry points -> pipeline -> domain libraries -> base), with no circles.

Walks every module's imports with ``ast`` (nothing is imported or run), so a new upward import,
a circle, or an import hidden inside a function fails here with the file and line that made it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("robustness", "attacks", "noise")

# Higher layers may import lower ones, never the reverse. A new module must be placed here.
LAYERS = {
    "entry": ["run_all", "robustness", "robustness.cli", "robustness.api", "robustness.__main__", "noise.__main__"],
    "pipeline": ["robustness.suite", "robustness.units", "robustness.executors", "robustness.validation", "robustness.stages.*"],
    "domain": ["robustness.data", "robustness.augment", "robustness.models", "robustness.methods.*", "robustness.train",
               "robustness.checkpoints", "robustness.probe", "robustness.report.*", "robustness.figures", "robustness.comparison",
               "robustness.leaderboard", "robustness.benchmark_record", "robustness.benchmark_board",
               "attacks.*", "noise.*"],
    "base": ["robustness.config", "robustness.errors", "robustness.registry", "robustness.results", "robustness.results_check",
             "robustness.records", "robustness.paper", "robustness.formatting", "robustness.threads", "robustness.statistics",
             "robustness.archives", "robustness.presets",
             "robustness.plugins", "robustness.sampling", "robustness.seeding"],
}
RANK = {name: rank for rank, name in enumerate(reversed(list(LAYERS)))}  # base 0 ... entry 3

# Imports allowed inside a function, each for a stated reason: optional dependencies only.
DEFERRED = {"ray": "optional dependency: only --executor ray needs it"}


def module_files() -> dict[str, Path]:
    files = {"run_all": ROOT / "run_all.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


MODULES = module_files()


def layer_of(module: str) -> str:
    """The module's layer: named exactly, else through its package ("attacks.*" holds attacks and attacks.fgsm)."""
    for layer, names in LAYERS.items():
        if module in names:
            return layer
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):  # the deepest package named: "robustness.methods.*" before "attacks.*"
        for layer, names in LAYERS.items():
            if ".".join(parts[:depth]) + ".*" in names:
                return layer
    raise AssertionError(f"{module} has no layer: place it in tests/test_layers.py LAYERS")


def imported(node: ast.AST, module: str) -> list[str]:
    """The project modules one import statement names (``from robustness import data`` -> robustness.data)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative import
            base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    return [name for name in names if name in MODULES or name.split(".")[0] in PACKAGES]


def where(module: str) -> str:
    path = MODULES[module]
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import statement of ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((name, child.lineno, in_function) for name in imported(child, module))
                if in_function:
                    external = [a.name for a in child.names] if isinstance(child, ast.Import) else [child.module or ""]
                    found.extend((f"external:{name}", child.lineno, True) for name in external
                                 if name.split(".")[0] not in PACKAGES)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def graph() -> dict[str, set[str]]:
    return {m: {name for name, _, _ in imports_of(m) if name in MODULES and name != m} for m in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_or_sideways_within_the_domain(module):
    for name, line, _ in imports_of(module):
        if name not in MODULES:
            continue
        assert RANK[layer_of(name)] <= RANK[layer_of(module)], (
            f"{where(module)}:{line} imports {name} ({layer_of(name)}) from the {layer_of(module)} layer")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_inside_a_function_but_optional_dependencies(module):
    for name, line, in_function in imports_of(module):
        if in_function and name.removeprefix("external:").split(".")[0] not in DEFERRED:
            pytest.fail(f"{where(module)}:{line} imports {name.removeprefix('external:')} inside "
                        "a function; import it at the top (or add it to DEFERRED with the reason)")


def test_attacks_and_noise_never_import_each_other_nor_the_pipeline():
    pipeline = set(LAYERS["pipeline"]) | set(LAYERS["entry"])
    for module, targets in graph().items():
        package = module.split(".")[0]
        if package not in ("attacks", "noise") or layer_of(module) == "entry":
            continue
        other = "noise" if package == "attacks" else "attacks"
        bad = sorted(t for t in targets if t.split(".")[0] == other or t in pipeline)
        assert not bad, f"{module} imports {bad}"


def test_attacks_and_training_methods_never_import_each_other():
    """What both need (``seeded``, ``stratified_subset``) lives in the base layer: robustness/seeding.py, robustness/sampling.py."""
    apart = ("attacks.", "robustness.methods.")  # two packages, as prefixes of their modules' names
    for module in MODULES:
        sides = [k for k, prefix in enumerate(apart) if f"{module}.".startswith(prefix)]
        if not sides:
            continue
        other = apart[1 - sides[0]]
        for name, line, _ in imports_of(module):
            assert not f"{name}.".startswith(other), (
                f"{where(module)}:{line} imports {name}: attacks/ and robustness/methods/ never import each other; "
                "move what both need to the base layer")


def test_the_walk_sees_a_training_method_importing_an_attack(tmp_path, monkeypatch):
    """The check above itself: pgd_at.py importing from attacks/ again is caught, with its file and line."""
    fake = tmp_path / "pgd_at.py"
    fake.write_text("import torch\nfrom attacks.seeding import craft_seed\n")
    monkeypatch.setitem(MODULES, "robustness.methods.pgd_at", fake)
    with pytest.raises(AssertionError, match=r"pgd_at.py:2 imports attacks.seeding: attacks/ and robustness/methods/"):
        test_attacks_and_training_methods_never_import_each_other()


def test_report_imports_no_pipeline_code():
    pipeline = set(LAYERS["pipeline"]) | set(LAYERS["entry"])
    reach, todo = set(), ["robustness.report"]
    edges = graph()
    while todo:
        for target in edges[todo.pop()] - reach:
            reach.add(target)
            todo.append(target)
    assert not reach & pipeline, f"the report reaches {sorted(reach & pipeline)}"


def test_no_circles():
    edges = graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in edges:
        if v not in index:
            strongconnect(v)
    assert not circles, f"import circles: {circles}"


def test_the_walk_sees_a_known_upward_import(tmp_path, monkeypatch):
    """The checker itself: a base module importing the pipeline is caught."""
    fake = tmp_path / "config.py"
    fake.write_text("from robustness.suite import run_suite\n")
    monkeypatch.setitem(MODULES, "robustness.config", fake)
    with pytest.raises(AssertionError, match="imports robustness.suite"):
        test_imports_point_down_or_sideways_within_the_domain("robustness.config")
