"""The common shape holds: no import goes back up a layer, and no import circle (a module that
needs one that needs it back is two modules' worth of knowledge in a tangle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules() -> dict[str, set[str]]:
    """Every module of shared/ and services/ and the modules of ours it imports (anywhere in it)."""
    found: dict[str, set[str]] = {}
    for path in [*ROOT.joinpath("shared").rglob("*.py"), *ROOT.joinpath("services").rglob("*.py")]:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        imports: set[str] = set()
        tree = ast.parse(path.read_text())
        for guarded in [n for n in ast.walk(tree) if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]:
            guarded.body = []  # imports for annotations only: nothing is imported when it runs
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imports.add(node.module)
                imports.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                imports.update(alias.name for alias in node.names)
        found[name] = imports
    return found


MODULES = _modules()


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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

    for v in graph:
        if v not in index:
            visit(v)
    return circles


def test_no_import_circles():
    graph = {m: {d for d in deps if d in MODULES and d != m} for m, deps in MODULES.items()}
    assert _circles(graph) == []


def test_the_circle_finder_finds_one():
    assert _circles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


KAFKA = ("aiokafka", "faststream", "shared.kafka")
DATABASE = ("pymongo", "shared.db", "shared.outbox")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.endswith((".domain", ".replies"))
                                          or m == "shared.messages"))
def test_decisions_and_messages_know_no_broker_and_no_database(module):
    """A decision is tested without I/O: it may not reach for a Kafka client or a collection."""
    bad = sorted(i for i in MODULES[module] if i.startswith(KAFKA + DATABASE))
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.endswith(".http")
                                          and m.startswith("services.")))
def test_routes_call_use_cases_not_collections(module):
    """A route calls a use case in handlers.py; only a store touches collections."""
    bad = sorted(i for i in MODULES[module] if i.startswith(DATABASE + KAFKA) or i.endswith(".store"))
    assert bad == [], f"{module} imports {bad}"
