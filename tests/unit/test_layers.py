"""The house's layers, computed from the source: no import cycle between packages, and no arrow
from a lower layer to a higher one (the products never import the lab, the tests or the benches).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Lowest first; a package may import its own layer's packages and any below.
LAYERS = (
    ("knobs",),  # how a knob is read: everything stands on it
    ("shop", "exporters"),  # the products
    ("targets",),  # what the lab loads and observes, described once per service
    ("signals", "dashboards"),  # observability as code
    ("stack", "deploy"),  # the environment
    ("lab",),  # the lab: load runs, audit, report, capacity, chaos, gate, live checks
    ("bench", "tests"),  # benches and tests use everything; nothing uses them
)
LAYER = {top: rank for rank, tops in enumerate(LAYERS) for top in tops}


def package_of(module: str) -> str | None:
    """`lab.load.run` -> `lab.load` (the lab's jobs are packages of their own); `shop.db` ->
    `shop`; None for anything not ours."""
    parts = module.split(".")
    if parts[0] not in LAYER:
        return None
    return ".".join(parts[:2]) if parts[0] == "lab" and len(parts) > 1 else parts[0]


def imports() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the files that import it (every import, at any depth)."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for top in LAYER:
        for path in (REPO / top).rglob("*.py"):
            relative = path.relative_to(REPO)
            module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            source = package_of(module)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                for name in names:
                    target = package_of(name)
                    if target and target != source and not source.startswith(f"{target}."):
                        graph[source][target].add(str(relative))
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Every elementary cycle's package list, found by a depth-first search from each node."""
    found, seen = [], set()

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, {})):
            if nxt == path[0]:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    found.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_no_import_cycle_between_packages():
    graph = imports()
    assert cycles(graph) == [], "\n".join(
        " -> ".join(cycle) + f"  ({sorted(graph[cycle[0]][cycle[1]])[0]})"
        for cycle in cycles(graph)
    )


def test_no_arrow_points_up_the_layers():
    up = [
        f"{source} -> {target} ({', '.join(sorted(files))})"
        for source, targets in imports().items()
        for target, files in targets.items()
        if LAYER[target.split(".")[0]] > LAYER[source.split(".")[0]]
    ]
    assert up == [], "\n".join(up)


def test_the_checker_sees_a_cycle_and_an_upward_arrow():
    assert cycles({"a": {"b": {"x"}}, "b": {"a": {"y"}}}) == [["a", "b", "a"]]
    assert package_of("lab.load.run") == "lab.load" and package_of("shop.db") == "shop"
    assert package_of("requests") is None
