"""mpmon's import graph has no cycle (imports inside functions included), read from the source with ast."""

from __future__ import annotations

import ast

from helpers import ROOT, mpmon_modules


def imports_of(name: str) -> set[str]:
    """The mpmon modules `name` imports anywhere in its code, but under `if TYPE_CHECKING:`."""
    path = ROOT.joinpath(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = set(mpmon_modules())
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            found |= submodules or {base}
    return {m for m in found if m in known and m != name}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    nodes: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def test_the_import_graph_has_no_cycle() -> None:
    """Walking every import between mpmon's modules (package parents aside) finds no cycle."""
    graph = {name: imports_of(name) for name in mpmon_modules()}
    cycles = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                cycles.append([*path[path.index(other) :], other])
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_collector_process_imports_nothing_of_the_user_side() -> None:
    """No module of mpmon.collector imports mpmon.run (start, stop, the stop's outcome run in the user's
    program): what both sides say alike sits on the ground floor (mpmon.losses, mpmon.schema)."""
    collector = [name for name in mpmon_modules() if name.split(".")[:2] == ["mpmon", "collector"]]
    found = {
        f"{name} -> {other}"
        for name in collector
        for other in imports_of(name)
        if other.split(".")[:2] == ["mpmon", "run"]
    }
    assert len(collector) > 10 and found == set()


def test_every_module_imports_under_an_alias_by_its_dotted_name() -> None:
    """`import mpmon.a.b as x` gives the module, for every module pkgutil finds: no name in a package
    (a function, a re-export) hides a submodule of the same name. The public context manager
    `mpmon.collector` hid the collector's package; the package now answers its calls, as before."""
    import inspect
    import pickle
    import pkgutil
    import sys

    import mpmon
    from mpmon.run import control

    names = [
        m.name for m in pkgutil.walk_packages(mpmon.__path__, "mpmon.") if not m.name.endswith("__main__")
    ]
    hidden = []
    for name in names:
        namespace: dict[str, object] = {}
        try:
            exec(f"import {name} as imported", namespace)
        except ModuleNotFoundError as missing:  # an extra not installed is no hiding
            if not (missing.name or "mpmon").startswith("mpmon"):
                continue
            hidden.append(f"{name}: {missing}")
            continue
        except ImportError as failure:
            hidden.append(f"{name}: {failure}")
            continue
        if namespace["imported"] is not sys.modules[name]:
            hidden.append(f"{name}: {namespace['imported']!r}")
    assert len(names) > 100 and hidden == []
    assert callable(mpmon.collector) and inspect.signature(mpmon.collector) == inspect.signature(
        control.collector
    )
    assert pickle.loads(pickle.dumps(mpmon.collector)) is mpmon.collector  # by reference (dill sends globals)
