"""The import graph of src/pmserve: no cycles, no import hidden in a function to dodge one, no
private name taken from a module of another package."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

#: Imports inside functions that are there for a reason other than a cycle: (importer, imported) -> why.
DEFERRED_IMPORTS = {
    ("pmserve.cli", "pmserve.api"): "`pmserve serve` only: other commands start without the web stack",
    ("pmserve.cli", "pmserve.api._server"): "`pmserve serve` only: other commands start without the web stack",
    ("pmserve.store", "pmserve.store._postgres"): "psycopg is needed only when a PostgreSQL store is configured",
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    in_function: bool
    names: tuple[str, ...]  # the names taken by ``from imported import ...``


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    """Every run-time import of a module (``if TYPE_CHECKING:`` blocks are not run)."""

    def __init__(self, module: str, is_package: bool, modules: set[str]) -> None:
        self.module, self.is_package, self.modules = module, is_package, modules
        self.depth = 0
        self.found: list[Import] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._nested(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._nested(node)

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno, ())

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in self.modules:
                self._add(sub, node.lineno, ())
            else:
                self._add(base, node.lineno, (alias.name,))

    def _add(self, name: str, line: int, names: tuple[str, ...]) -> None:
        while name and name not in self.modules:
            name = name.rpartition(".")[0]
        if name:
            self.found.append(Import(self.module, name, line, self.depth > 0, names))


def collect(root: Path, top: str = "pmserve") -> dict[str, list[Import]]:
    """Module name -> its run-time imports of modules below ``root/top``."""
    paths = {_module_name(p, root): p for p in sorted((root / top).rglob("*.py"))}
    modules = set(paths)
    graph: dict[str, list[Import]] = {}
    for name, path in paths.items():
        collector = _Collector(name, path.name == "__init__.py", modules)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        graph[name] = collector.found
    return graph


def cycles(graph: dict[str, list[Import]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted.

    A module importing its own package's ``__init__`` (or a package importing its modules) is
    not an edge here: Python runs a package before its modules, whatever the imports say.
    """
    edges = {m: sorted({i.imported for i in imps if not _related(m, i.imported)}) for m, imps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _package(module: str, graph: dict[str, list[Import]]) -> str:
    is_package = any(m.startswith(module + ".") for m in graph)
    return module if is_package else module.rpartition(".")[0]


def private_names_across_packages(graph: dict[str, list[Import]]) -> Iterator[str]:
    """``from m import _x`` where the importer is not in m's package (nor below it)."""
    for imps in graph.values():
        for i in imps:
            home = _package(i.imported, graph)
            inside = i.importer == home or i.importer.startswith(home + ".")
            for name in i.names:
                if name.startswith("_") and not name.startswith("__") and not inside:
                    yield f"{i.importer} (line {i.line}) takes {name} from {i.imported}"


def test_src_has_no_import_cycle() -> None:
    """No group of pmserve modules imports each other round in a circle, at module or function level."""
    assert cycles(collect(SRC)) == []


def test_no_function_level_import_outside_the_allow_list() -> None:
    """Imports of pmserve modules sit at the top of the module, but for the listed deferred ones."""
    graph = collect(SRC)
    hidden = [f"{i.importer} (line {i.line}) imports {i.imported} inside a function"
              for imps in graph.values() for i in imps
              if i.in_function and (i.importer, i.imported) not in DEFERRED_IMPORTS]
    assert hidden == []


def test_allow_list_names_only_imports_that_exist() -> None:
    """Every allowed deferred import is still there (the list cannot outlive the code)."""
    graph = collect(SRC)
    present = {(i.importer, i.imported) for imps in graph.values() for i in imps if i.in_function}
    assert set(DEFERRED_IMPORTS) <= present


def test_no_private_name_is_taken_from_another_package() -> None:
    """A ``_private`` name is imported only by modules of the package that defines it."""
    assert list(private_names_across_packages(collect(SRC))) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(("files", "expected"), [
    ({"pkg/__init__.py": "", "pkg/a.py": "from pkg.b import x\n", "pkg/b.py": "import pkg.a\nx = 1\n"},
     [["pkg.a", "pkg.b"]]),
    ({"pkg/__init__.py": "", "pkg/a.py": "def f():\n    from pkg import b\n", "pkg/b.py": "from pkg.a import f\n"},
     [["pkg.a", "pkg.b"]]),
    ({"pkg/__init__.py": "from typing import TYPE_CHECKING\n", "pkg/a.py": "from pkg.b import x\n",
      "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import y\nx = 1\n"},
     []),
    ({"pkg/__init__.py": "from pkg.sub import a\n", "pkg/sub/__init__.py": "", "pkg/sub/a.py": "import pkg\n"},
     []),
], ids=["module level", "hidden in a function", "type checking only", "package and its modules"])
def test_cycle_finder_on_sample_trees(tmp_path: Path, files: dict[str, str], expected: list[list[str]]) -> None:
    """The checker finds a cycle whether or not an import hides in a function, and only real ones."""
    _write(tmp_path, files)
    assert cycles(collect(tmp_path, "pkg")) == expected


def test_private_name_finder_on_a_sample_tree(tmp_path: Path) -> None:
    """Taking ``_x`` from a sibling module is fine; from another package it is reported."""
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/one/__init__.py": "", "pkg/one/a.py": "_x = 1\n",
                      "pkg/one/b.py": "from pkg.one.a import _x\n", "pkg/two.py": "from pkg.one.a import _x\n"})
    assert list(private_names_across_packages(collect(tmp_path, "pkg"))) == [
        "pkg.two (line 1) takes _x from pkg.one.a"]
