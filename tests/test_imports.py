"""The module graph: every module imports, no module imports itself round a cycle, the dataset
package imports nothing of pldt_jax, and the networks and the step need no dataset package.

Imports are read from the source with `ast`, those inside functions (imported when called)
and under `if __name__ == "__main__":` (the commands) too, except where said."""

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import pldt_jax
import pldt_jax_datasets

PACKAGES = (pldt_jax, pldt_jax_datasets)
# What the networks and the train step are built from: importable without the dataset package
# (and so without TFDS), as on the GPU machines, where only the repository is on the path.
CORE = (
    "config",
    "errors",
    "images",
    "layers",
    "models",
    "resnet",
    "losses",
    "augment",
    "metrics",
    "sharding",
    "train_step",
)


def modules() -> dict[str, Path]:
    """Every module of both packages: dotted name -> source file."""
    found = {}
    for package in PACKAGES:
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            spec = importlib.util.find_spec(info.name)
            found[info.name] = Path(spec.origin)
    return found


def is_main_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return (
        isinstance(node, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def imported(tree: ast.Module, known: set[str], module_level: bool) -> Iterator[str]:
    """The modules of `known` that `tree` imports; with `module_level`, only those imported
    when the module is (not in functions, not in the `__main__` block)."""

    def visit(node: ast.AST) -> Iterator[ast.AST]:
        for child in ast.iter_child_nodes(node):
            if module_level and (
                isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) or is_main_block(child)
            ):
                continue
            yield child
            yield from visit(child)

    for node in visit(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            # `import a.b.c` needs a, a.b and a.b.c: the deepest known module stands for them.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                yield name


def graph(module_level: bool = False) -> dict[str, set[str]]:
    sources = modules()
    known = set(sources)
    return {
        name: set(imported(ast.parse(path.read_text()), known, module_level)) - {name}
        for name, path in sources.items()
    }


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_module_imports():
    for name in modules():
        importlib.import_module(name)


def test_no_import_cycle():
    edges = graph()
    cycles = sorted(name for name in edges if name in reachable(edges, name))
    assert not cycles, {name: sorted(edges[name]) for name in cycles}


def test_the_dataset_package_imports_nothing_of_pldt_jax():
    edges = graph()
    for name, targets in edges.items():
        if name.startswith("pldt_jax_datasets."):
            assert not {t for t in targets if t.split(".")[0] == "pldt_jax"}, name
    assert any(  # The other way round it is used: prepare builds the dataset.
        t.startswith("pldt_jax_datasets.") for t in edges["pldt_jax.prepare"]
    )


@pytest.mark.parametrize("name", CORE)
def test_the_networks_and_the_step_need_no_dataset_package(name):
    edges = graph(module_level=True)
    needed = reachable(edges, f"pldt_jax.{name}")
    assert not {m for m in needed if m.startswith("pldt_jax_datasets")}, sorted(needed)
