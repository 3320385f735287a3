"""No import cycles inside `auralis` (the house rules), counting imports under TYPE_CHECKING too:
hub/session and engine/stream used to import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import auralis

ROOT = Path(auralis.__file__).resolve().parent


def _graph() -> dict[str, set[str]]:
    modules: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = ("auralis", *path.relative_to(ROOT).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("auralis"):
                deps.add(node.module)  # type: ignore[arg-type]
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("auralis"))
        modules[name] = deps
    return {m: {d for d in deps if d in modules and d != m} for m, deps in modules.items()}


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph[node]:
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_import_cycles() -> None:
    graph = _graph()
    assert "auralis.server.session" in graph and "auralis.streaming.engine" in graph
    cycles = [c for m in sorted(graph) if (c := _cycle_through(graph, m))]
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles)
