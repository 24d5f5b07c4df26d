"""The layer table of ARCHITECTURE.md, checked: no import points up, the sandbox stays outside, no import cycles.

An AST walk over every module under src/ (nothing is imported). Every `import` counts wherever it is written — at
module level, inside a function, under `if TYPE_CHECKING:` — because a type-only import of a higher layer is still
a dependency on it (the code is written against that layer's names). Layers, top to bottom:

    interfaces    cwsync (the package itself), cwsync.__main__, cwsync.logs, cwsync.cli, cwsync.console, cwsync.server
    runtime       cwsync.runtime
    workflows     cwsync.workflows
    integrations  cwsync.integrations, cwsync.diagnostics
    engine        cwsync.engine
    core          cwsync.core
    adapters      cwsync.connectors, cwsync.store
    config        cwsync.config

A module may import its own layer and the layers below it; one exception inside a layer: `cwsync.server` does not
import `cwsync.cli` (the CLI starts the server, not the other way round), nor `cwsync.console` (the console is
built on the server and mounted by `cwsync serve`), and the console does not import the CLI. `cwsync_sandbox` stands
for the outside world (ConnectWise, HubSpot, Hudu): it imports nothing of `cwsync`, and `cwsync` imports it only
inside the function bodies of the two commands that run it, `cwsync.cli.sandbox` and `cwsync.cli.demo` (lazily:
`cwsync --help` and the product's other commands never load the emulators).

Cycles of modules: the module-level imports (the ones that run when a module is first imported, so not those inside
functions nor those under `if TYPE_CHECKING:`) must form no cycle. Importing `a.b.c` also runs `a/__init__` and
`a/b/__init__`, so those count as edges too, except a package the importing module is itself inside (already running
by then). Cycles of packages (one per integration or client, e.g. `cwsync.integrations.hubspot`, else `cwsync.store`,
`cwsync.cli`, ...): two packages must not import each other, by any import; what both need belongs in a layer below.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PRODUCT = "cwsync"
SANDBOX = "cwsync_sandbox"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("interfaces", ("cwsync", "cwsync.__main__", "cwsync.logs", "cwsync.cli", "cwsync.console", "cwsync.server")),
    ("runtime", ("cwsync.runtime",)),
    ("workflows", ("cwsync.workflows",)),
    ("integrations", ("cwsync.integrations", "cwsync.diagnostics")),
    ("engine", ("cwsync.engine",)),
    ("core", ("cwsync.core",)),
    ("adapters", ("cwsync.connectors", "cwsync.store")),
    ("config", ("cwsync.config",)),
)
#: Same-layer imports that are nevertheless forbidden: (importer package, imported package).
SAME_LAYER_FORBIDDEN: tuple[tuple[str, str], ...] = (
    ("cwsync.server", "cwsync.cli"),
    ("cwsync.server", "cwsync.console"),
    ("cwsync.console", "cwsync.cli"),
)
#: The only modules that may import the sandbox, and only inside function bodies.
SANDBOX_USERS = ("cwsync.cli.sandbox", "cwsync.cli.demo")
#: Packages whose subpackages are separate packages for the package-cycle check (one per integration or client).
GROUPS = ("connectors", "integrations", "workflows")
#: Known violations left in place, each "importer -> imported" with the reason. Keep it empty.
ALLOWLIST: dict[str, str] = {}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # the most specific module of the source tree it names
    path: Path
    line: int
    in_function: bool
    type_checking: bool

    @property
    def runs_on_import(self) -> bool:
        return not self.in_function and not self.type_checking

    def where(self) -> str:
        kind = "in a function" if self.in_function else "under TYPE_CHECKING" if self.type_checking else "module level"
        return f"{self.path}:{self.line}: {self.importer} imports {self.target} ({kind})"


def module_names(root: Path) -> dict[str, Path]:
    """Every module under `root` (a src/ folder) by dotted name; a package is named by its __init__."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is a module of the tree (None: outside it)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def _walk(
    node: ast.AST, *, in_function: bool, type_checking: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function, type_checking
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(child, in_function=True, type_checking=type_checking)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), in_function=in_function, type_checking=True)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), in_function=in_function, type_checking=False)
        else:
            yield from _walk(child, in_function=in_function, type_checking=type_checking)


def collect_imports(root: Path) -> list[Import]:
    """Every import of a module of the tree under `root`, relative ones resolved."""
    known = module_names(root)
    found: list[Import] = []
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function, type_checking in _walk(tree, in_function=False, type_checking=False):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".") if package else []
                    parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                    base = ".".join([*parts, *([base] if base else [])])
                # `from pkg import sub` imports the submodule when there is one, else a name of pkg.
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for name in dict.fromkeys(names):
                target = _resolve(name, known)
                if target is not None:
                    rel = path.relative_to(root.parent) if root.parent in path.parents else path
                    found.append(Import(module, target, rel, node.lineno, in_function, type_checking))
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_of(module: str) -> int | None:
    """The index of the module's layer in LAYERS (0 is the top), by the longest matching package."""
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, (_, packages) in enumerate(LAYERS):
        for package in packages:
            inside = module == package if package == PRODUCT else _within(module, package)  # `cwsync`: only itself
            if inside and (best is None or len(package) > best[0]):
                best = (len(package), index)
    return None if best is None else best[1]


def layer_violations(imports: list[Import]) -> list[str]:
    """Imports pointing up the layer table, breaking the sandbox's fence, or of a module no layer holds."""
    problems: list[str] = []
    for imp in imports:
        if _within(imp.importer, SANDBOX):
            if _within(imp.target, PRODUCT):
                problems.append(f"{imp.where()}: the sandbox imports nothing of cwsync")
            continue
        if _within(imp.target, SANDBOX):
            if imp.importer not in SANDBOX_USERS:
                problems.append(f"{imp.where()}: only {' and '.join(SANDBOX_USERS)} may import the sandbox")
            elif not imp.in_function:
                problems.append(f"{imp.where()}: import the sandbox inside the command's function (lazily)")
            continue
        if not _within(imp.importer, PRODUCT):
            continue
        here, there = layer_of(imp.importer), layer_of(imp.target)
        if here is None or there is None:
            unplaced = imp.importer if here is None else imp.target
            problems.append(f"{imp.where()}: {unplaced} is in no layer (add it to LAYERS)")
        elif there < here:
            problems.append(f"{imp.where()}: {LAYERS[here][0]} imports {LAYERS[there][0]}, a layer above it")
        else:
            for above, below in SAME_LAYER_FORBIDDEN:
                if _within(imp.importer, above) and _within(imp.target, below):
                    problems.append(f"{imp.where()}: {above} does not import {below}")
    return problems


def import_graph(imports: list[Import]) -> dict[str, dict[str, Import]]:
    """The edges that run on import: module -> imported module -> the import statement (the first one)."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if not imp.runs_on_import:
            continue
        edges = graph.setdefault(imp.importer, {})
        parts = imp.target.split(".")
        # The target, and the packages above it that importing it runs (those around the importer already run).
        for depth in range(len(parts), 0, -1):
            package = ".".join(parts[:depth])
            if depth < len(parts) and _within(imp.importer, package):
                break
            if package != imp.importer:
                edges.setdefault(package, imp)
    return graph


@dataclass(frozen=True)
class Edge:
    source: str
    target: str  # the module the import runs: its target, or a package above it
    via: Import


def package_of(module: str) -> str:
    """The package a module belongs to for the package-cycle check: `cwsync.integrations.hubspot`,
    `cwsync.connectors.hudu` (one per integration or client), else `cwsync.store`, `cwsync.cli`, ...
    (`cwsync_sandbox` is one)."""
    parts = module.split(".")
    if parts[0] != PRODUCT:
        return parts[0]
    return ".".join(parts[:3] if len(parts) > 2 and parts[1] in GROUPS else parts[:2])


def package_graph(imports: list[Import]) -> dict[str, dict[str, Import]]:
    """Package -> package it imports -> the import statement (the first one), every import counted."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports:
        here, there = package_of(imp.importer), package_of(imp.target)
        if here != there:
            graph.setdefault(here, {}).setdefault(there, imp)
    return graph


def cycles(imports: list[Import], *, packages: bool = False) -> list[list[Edge]]:
    """One cycle (as the edges along it) per strongly connected group of modules, or of packages (Tarjan)."""
    graph = package_graph(imports) if packages else import_graph(imports)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the module count (~200)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_a_cycle(graph, group) for group in sorted(groups, key=min)]


def _a_cycle(graph: dict[str, dict[str, Import]], group: set[str]) -> list[Edge]:
    """The shortest cycle through the group's first module (breadth first)."""
    start = min(group)
    came: dict[str, Edge] = {}
    queue = [start]
    for node in queue:
        for nxt, imp in sorted(graph.get(node, {}).items()):
            if nxt not in group:
                continue
            if nxt == start:
                path = [Edge(node, nxt, imp)]
                while path[-1].source != start:
                    path.append(came[path[-1].source])
                return path[::-1]
            if nxt not in came:
                came[nxt] = Edge(node, nxt, imp)
                queue.append(nxt)
    raise AssertionError(f"no cycle in {group}")


def cycle_violations(imports: list[Import], *, packages: bool = False) -> list[str]:
    def step(e: Edge) -> str:
        runs = "" if packages or e.via.target == e.target else f" (which runs {e.target})"
        return e.via.where() + runs

    kind = "package cycle " if packages else "import cycle "
    return [
        kind + " -> ".join([c[0].source, *(e.target for e in c)]) + "".join(f"\n    {step(e)}" for e in c)
        for c in cycles(imports, packages=packages)
    ]


def _allowed(problems: list[str]) -> list[str]:
    """Problems not on the allowlist ("importer -> imported" keys)."""
    return [p for p in problems if not any(_mentions(p, key) for key in ALLOWLIST)]


def _mentions(problem: str, key: str) -> bool:
    importer, _, target = key.partition(" -> ")
    return f" {importer} imports {target} " in problem


def _report(title: str, problems: list[str]) -> str:
    return f"{len(problems)} {title} (see tests/test_layering.py and ARCHITECTURE.md, Layers):\n" + "\n".join(
        f"  {p}" for p in problems
    )


def test_no_import_points_up_the_layers() -> None:
    problems = _allowed(layer_violations(collect_imports(SRC)))
    assert not problems, _report("layering violations", problems)


def test_no_module_level_import_cycle() -> None:
    problems = cycle_violations(collect_imports(SRC))
    assert not problems, _report("import cycles", problems)


def test_no_package_imports_another_that_imports_it_back() -> None:
    problems = cycle_violations(collect_imports(SRC), packages=True)
    assert not problems, _report("package cycles", problems)


def test_every_product_package_is_in_a_layer() -> None:
    unplaced = sorted({m for m in module_names(SRC) if _within(m, PRODUCT) and layer_of(m) is None})
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}"


def test_the_allowlist_names_only_live_violations() -> None:
    problems = layer_violations(collect_imports(SRC))
    stale = [key for key in ALLOWLIST if not any(_mentions(p, key) for p in problems)]
    assert not stale, f"allowlist entries that no longer match a violation (remove them): {stale}"


# The checker itself, on a small made-up tree.


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_checker_reports_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "src",
        {
            "cwsync/__init__.py": "",
            "cwsync/config/__init__.py": "from cwsync.integrations.hudu import config  # up: config -> integrations\n",
            "cwsync/integrations/__init__.py": "",
            "cwsync/integrations/hudu/__init__.py": "",
            "cwsync/integrations/hudu/config.py": "import json\n",
            "cwsync/store/__init__.py": "",
            "cwsync/store/a.py": "from . import b\n",
            "cwsync/store/b.py": "from cwsync.store.a import X\n",
            "cwsync/store/c.py": "def f():\n    from cwsync.store import d\n",
            "cwsync/store/d.py": "from cwsync.store import c\n",
            "cwsync/extra.py": "import cwsync.store.a\n",
        },
    )
    imports = collect_imports(root)
    layers = sorted(layer_violations(imports))
    assert len(layers) == 2, layers
    assert "src/cwsync/config/__init__.py:1: cwsync.config imports cwsync.integrations.hudu.config" in layers[0]
    assert "config imports integrations, a layer above it" in layers[0]
    assert "cwsync.extra imports cwsync.store.a (module level): cwsync.extra is in no layer" in layers[1]
    found = cycles(imports)
    assert [[e.source for e in c] for c in found] == [["cwsync.store.a", "cwsync.store.b"]]  # c <-> d is lazy
    assert "import cycle cwsync.store.a -> cwsync.store.b -> cwsync.store.a" in cycle_violations(imports)[0]


def test_the_checker_reports_a_cycle_through_a_package_init(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "src",
        {
            "cwsync/__init__.py": "",
            "cwsync/integrations/__init__.py": "",
            "cwsync/integrations/hubspot/__init__.py": "from cwsync.integrations.catalog.engine import E\n",
            "cwsync/integrations/hubspot/shapes.py": "import json\n",
            "cwsync/integrations/catalog/__init__.py": "",
            "cwsync/integrations/catalog/engine.py": "from cwsync.integrations.hubspot.shapes import flat\n",
        },
    )
    found = cycles(collect_imports(root))
    assert [[e.source for e in c] for c in found] == [
        ["cwsync.integrations.catalog.engine", "cwsync.integrations.hubspot"]
    ]


def test_the_checker_reports_a_package_cycle_of_lazy_imports(tmp_path: Path) -> None:
    """Two integrations importing each other, in functions only: no module cycle, but a package cycle."""
    root = _tree(
        tmp_path / "src",
        {
            "cwsync/__init__.py": "",
            "cwsync/integrations/__init__.py": "",
            "cwsync/integrations/hubspot/__init__.py": "",
            "cwsync/integrations/hubspot/shapes.py": (
                "def f():\n    from cwsync.integrations.catalog.priority import order\n"
            ),
            "cwsync/integrations/catalog/__init__.py": "",
            "cwsync/integrations/catalog/priority.py": "def order():\n    pass\n",
            "cwsync/integrations/catalog/engine.py": "from cwsync.integrations.hubspot import shapes\n",
        },
    )
    imports = collect_imports(root)
    assert cycles(imports) == []
    problems = cycle_violations(imports, packages=True)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        "package cycle cwsync.integrations.catalog -> cwsync.integrations.hubspot -> cwsync.integrations.catalog"
    )


def test_the_checker_fences_the_sandbox(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "src",
        {
            "cwsync/__init__.py": "",
            "cwsync/cli/__init__.py": "",
            "cwsync/cli/sandbox.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import cwsync_sandbox\n"
            "def serve():\n    from cwsync_sandbox.server import bind\n",
            "cwsync/cli/demo.py": "def demo():\n    import cwsync_sandbox.server\n",
            "cwsync/cli/sync.py": "def init():\n    from cwsync_sandbox import server\n",
            "cwsync/server/__init__.py": "from cwsync.cli import sync\n",
            "cwsync_sandbox/__init__.py": "",
            "cwsync_sandbox/server.py": "from cwsync.cli.sync import init\n",
        },
    )
    problems = layer_violations(collect_imports(root))
    assert len(problems) == 4, problems
    expected = [
        "cwsync.cli.sandbox imports cwsync_sandbox (under TYPE_CHECKING): import the sandbox inside the command's",
        "cwsync.cli.sync imports cwsync_sandbox.server (in a function): only cwsync.cli.sandbox and cwsync.cli.demo",
        "cwsync.server imports cwsync.cli.sync (module level): cwsync.server does not import cwsync.cli",
        "cwsync_sandbox.server imports cwsync.cli.sync (module level): the sandbox imports nothing of cwsync",
    ]
    for problem, text in zip(sorted(problems), expected, strict=True):
        assert text in problem
