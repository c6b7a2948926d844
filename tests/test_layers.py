"""The package's layers: what each may import, and what importing costs."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "mmensemble"
# Lower layers first; a module may import from its own layer and those before it.
LAYERS = ["base", "encoders", "roles", "fusion", "inspection", "cli"]
HEAVY = ("torch", "librosa", "sentence_transformers", "ctranslate2", "av")


def layer_of(module):
    """The layer of a dotted module name inside the package (None for datasets)."""
    parts = module.split(".")[1:]
    if not parts or parts[0].startswith("_"):
        return "base"
    return parts[0] if parts[0] in LAYERS else None


def package_imports(path):
    """The package modules a source file imports, as absolute dotted names."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [f"{target}.{alias.name}" for alias in node.names]
            imported.update([target] if node.module else names)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = ([node.module] if isinstance(node, ast.ImportFrom) else None) or [
                alias.name for alias in node.names
            ]
            imported.update(name for name in names if name.startswith("mmensemble"))
    return module, imported


def import_graph():
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module, imported = package_imports(path)
        graph[module] = imported
    return graph


def test_no_module_imports_from_a_layer_above_its_own():
    offences = []
    for module, imported in import_graph().items():
        if module == "mmensemble" or layer_of(module) is None:
            continue  # the top-level package re-exports everything lazily
        own = LAYERS.index(layer_of(module))
        for target in imported:
            layer = layer_of(target)
            if layer is not None and target != "mmensemble":
                if LAYERS.index(layer) > own:
                    offences.append(f"{module} imports {target}")
    assert offences == []


def test_datasets_stand_apart():
    for module, imported in import_graph().items():
        if module.startswith("mmensemble.datasets"):
            assert all(
                name.startswith("mmensemble.datasets") or layer_of(name) == "base"
                for name in imported
            ), (module, imported)


def test_there_are_no_import_circles():
    graph = import_graph()
    modules = set(graph)

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges = {
        module: {resolve(target) for target in targets} - {None, module, "mmensemble"}
        for module, targets in graph.items()
        if module != "mmensemble"
    }
    # a package __init__ imports its children; a child importing a sibling goes
    # through the package, which is not a circle of modules
    edges = {
        module: {t for t in targets if not module.startswith(t + ".")}
        for module, targets in edges.items()
    }
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "active", " -> ".join([*path, module])
        state[module] = "active"
        for target in edges.get(module, ()):
            visit(target, [*path, module])
        state[module] = "done"

    for module in edges:
        visit(module, [])


@pytest.mark.parametrize(
    "code",
    [
        "import mmensemble",
        "import mmensemble; mmensemble.ImageEncoder; mmensemble.FeatureFusion",
        # decoding and preprocessing an image is PIL and NumPy only
        "from PIL import Image; "
        "from mmensemble.encoders._preprocessing import preprocess_pil; "
        "preprocess_pil(Image.new('RGB', (40, 30)), 32)",
    ],
)
def test_light_imports_load_no_heavy_library(code):
    check = f"import sys; {code}; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
