"""The import rules of docs/architecture.md, read from the code: every arrow points down.

Each module's imports are read with `ast` (imports inside functions included: a late import is still
an arrow). The rules are data at the top, so that the doc and the test say the same thing.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The project's own top-level packages: the composition shell and its apps.
PACKAGES = ("dashboard", "ui", "live", "audit", "accounts", "jobs", "vms", "portal", "sandbox")
# Who may import whom among the apps (the shell `dashboard` composes them and imports anything).
MAY_IMPORT = {
    "ui": set(),
    "live": set(),
    "audit": set(),
    "accounts": {"ui", "live", "audit"},
    "jobs": {"ui", "live", "accounts"},
    "vms": {"ui", "jobs", "live", "audit", "accounts"},
    "portal": {"ui", "vms", "jobs", "live", "audit", "accounts"},
    "sandbox": {"ui", "vms", "jobs", "live", "audit", "accounts"},
}
# Layers with no Django and no app: only the standard library, libvirt, lxml, and each other.
PURE_LAYERS = ("vms.hypervisor", "vms.domainxml")
PURE_MAY_IMPORT = ("vms.hypervisor", "vms.domainxml")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Absolute names imported by the module, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            # `from pkg import sub` may name a submodule: count it as one, so rules see the real target.
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


MODULES = _modules()
IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _top(name: str) -> str:
    return name.split(".")[0]


def _violations(rule) -> list[str]:  # noqa: ANN001
    return sorted(
        f"{mod} imports {target}" for mod, targets in IMPORTS.items() for target in targets if rule(mod, target)
    )


def test_the_rules_see_the_code():
    # A rule over nothing passes by construction: make sure the reader finds what is there.
    assert {"dashboard.settings", "vms.models", "jobs.models", "portal.models", "sandbox.fleet"} <= set(MODULES)
    assert "vms.models" in IMPORTS["portal.models"] or any(t.startswith("vms") for t in IMPORTS["portal.models"])


@pytest.mark.parametrize("app", sorted(MAY_IMPORT))
def test_an_app_imports_only_the_apps_below_it(app):
    def wrong(mod: str, target: str) -> bool:
        top = _top(target)
        return _top(mod) == app and top in PACKAGES and top != app and top not in MAY_IMPORT[app]

    assert _violations(wrong) == []


def test_nothing_but_the_shell_imports_dashboard():
    assert _violations(lambda mod, target: _top(target) == "dashboard" and _top(mod) != "dashboard") == []


def test_production_code_never_imports_the_sandbox():
    assert _violations(lambda mod, target: _top(target) == "sandbox" and _top(mod) not in ("sandbox",)) == []


def test_hypervisor_and_domainxml_import_no_django_and_no_app():
    def wrong(mod: str, target: str) -> bool:
        if not mod.startswith(PURE_LAYERS):
            return False
        if target.split(".")[0] == "django":
            return True
        return _top(target) in PACKAGES and not target.startswith(PURE_MAY_IMPORT)

    assert _violations(wrong) == []


def test_no_cycle_between_packages():
    """Outside a single package, no two modules import each other through a circle."""
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, targets in IMPORTS.items():
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != mod:
                graph[mod].add(target)

    def package(mod: str) -> str:
        return mod if MODULES[mod].name == "__init__.py" else mod.rpartition(".")[0]

    cycles = []
    # Strongly connected components (Tarjan); a component spanning more than one package is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len({package(m) for m in component}) > 1:
                cycles.append(sorted(component))

    for mod in sorted(MODULES):
        if mod not in index:
            visit(mod)
    assert cycles == []
