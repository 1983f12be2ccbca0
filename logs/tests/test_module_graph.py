"""The services' imports run one way: no cycle, no import hidden in a function to dodge one."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("auditsite", "logs", "users")  # first-party code, tests and migrations aside
SERVICES = "logs.services"

# The maintenance chain (STYLE.md, "module graph"): a module may import only modules of a lower
# rank, so months ← partitions ← summaries, archive ← retention, and summaries and archive never
# import each other. The foundations (rank 0-1) import no service.
CHAIN_RANK = {
    "logs.months": 0,
    "logs.triggers": 0,
    "logs.selectors": 1,
    "logs.services.job_runs": 1,
    "logs.services.partitions": 2,
    "logs.services.seals": 2,
    "logs.services.summaries": 3,
    "logs.services.archive": 3,
    "logs.services.retention": 4,
}
FOUNDATIONS = ("logs.months", "logs.triggers", "logs.selectors")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the first-party module imported
    line: int
    in_function: bool


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if {"tests", "migrations"} & set(path.relative_to(ROOT).parts):
                continue
            modules[_module_name(path)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The first-party module ``name`` is, or lives in (``pkg.mod.func`` → ``pkg.mod``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.Import | ast.ImportFrom, here: str, modules: dict[str, Path]):
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield _resolve(alias.name, modules)
        return
    base = node.module or ""
    if node.level:  # relative: from its package (a package's __init__ is its own package)
        package = here if modules[here].name == "__init__.py" else here.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in modules else _resolve(base, modules)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(modules: dict[str, Path]) -> Iterator[Import]:
    """Every first-party import of every module, at module level or inside a function.

    Imports under ``if TYPE_CHECKING:`` never run and are left out.
    """
    functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    for module, path in modules.items():

        def walk(node: ast.AST, in_function: bool, module: str = module) -> Iterator[Import]:
            for child in ast.iter_child_nodes(node):
                if _is_type_checking(child):
                    continue
                if isinstance(child, ast.Import | ast.ImportFrom):
                    for target in _targets(child, module, modules):
                        if target is not None and target != module:
                            yield Import(module, target, child.lineno, in_function)
                yield from walk(child, in_function or isinstance(child, functions))

        yield from walk(ast.parse(path.read_text(), filename=str(path)), False)


def _cycle(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A cycle reachable from ``start``, as the modules along it, or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = "done"
        return None

    return visit(start)


def _services(modules: dict[str, Path]) -> list[str]:
    return sorted(m for m in modules if m == SERVICES or m.startswith(f"{SERVICES}."))


def test_the_module_graph_walk_finds_a_cycle():
    """The cycle search reports a cycle, naming it, and passes a one-way graph (so it can fail)."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}, "a") is None
    modules = _modules()
    assert {"logs.months", "logs.triggers", "logs.services.retention"} <= set(modules)
    found = {(i.module, i.target) for i in _imports(modules)}
    assert ("logs.services.retention", "logs.services.archive") in found
    assert ("logs.models", "logs.triggers") in found


def test_services_import_graph_has_no_cycle():
    """No import cycle runs through logs.services, function-level imports included."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for each in _imports(modules):
        graph.setdefault(each.module, set()).add(each.target)
    cycles = set()
    for module in _services(modules):
        if found := _cycle(graph, module):
            ring = found[:-1]
            first = ring.index(min(ring))  # one cycle, whichever module the walk began at
            cycles.add(" → ".join([*ring[first:], *ring[:first], ring[first]]))
    assert not cycles, f"import cycles: {sorted(cycles)}"


def test_no_service_imports_another_inside_a_function():
    """A service reaches other services by module-level imports only: none is hidden in a
    function (where it would keep a cycle from failing at import time)."""
    modules = _modules()
    hidden = sorted(
        f"{each.module}:{each.line} imports {each.target}"
        for each in _imports(modules)
        if each.in_function
        and each.module.startswith(f"{SERVICES}.")
        and each.target.startswith(f"{SERVICES}.")
    )
    assert not hidden, hidden


def test_maintenance_chain_runs_one_way():
    """months ← partitions ← summaries, archive ← retention: no module imports one of its rank
    or above."""
    upward = sorted(
        {
            f"{each.module} imports {each.target}"
            for each in _imports(_modules())
            if each.module in CHAIN_RANK
            and each.target in CHAIN_RANK
            and CHAIN_RANK[each.target] >= CHAIN_RANK[each.module]
        }
    )
    assert not upward, upward


def test_foundations_import_no_service():
    """logs.months, logs.triggers and logs.selectors sit below every service."""
    reaching = sorted(
        {
            f"{each.module} imports {each.target}"
            for each in _imports(_modules())
            if each.module in FOUNDATIONS and each.target.startswith(f"{SERVICES}.")
        }
    )
    assert not reaching, reaching


def _names_used(tree: ast.AST) -> set[str]:
    """Names the code refers to (``x`` and ``a.x`` both give ``x``; docstrings give nothing)."""
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
            if isinstance(node.value, ast.Name):
                used.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom):
            used.update(f"{node.module}.{alias.name}" for alias in node.names)
    return used


def test_log_deletion_allowed_has_the_users_its_docstring_names():
    """Only partitions' move out of DEFAULT, retention's drop and the B4 baseline lift the
    DELETE guard, and nothing outside logs.triggers calls pgtrigger.ignore."""
    users, ignoring = set(), set()
    for package in (*PACKAGES, "bench"):
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if "tests" in relative.parts:
                continue
            used = _names_used(ast.parse(path.read_text(), filename=str(path)))
            if "log_deletion_allowed" in used:
                users.add(str(relative))
            if "pgtrigger.ignore" in used:
                ignoring.add(str(relative))
    assert users == {
        "logs/services/partitions.py",
        "logs/services/retention.py",
        "bench/b4_retention.py",
    }
    assert ignoring == {"logs/triggers.py"}


def test_access_log_deletion_allowed_is_used_by_its_retention_only():
    """Only the access log's retention lifts the access log's DELETE guard."""
    users = set()
    for package in (*PACKAGES, "bench"):
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if "tests" in relative.parts or relative == Path("logs/triggers.py"):
                continue
            if "access_log_deletion_allowed" in _names_used(ast.parse(path.read_text())):
                users.add(str(relative))
    assert users == {"logs/services/access.py"}
