"""The package's folders are layers, and imports point downward only (README: Layout).

Read from the source with ast, so a violation fails here before it tangles anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

from pgstead import PROJECT_ROOT

# Ground up. A module may import its own layer and those before it, never those after.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pgstead.postgres",),
    ("pgstead.config",),
    ("pgstead.live",),
    ("pgstead.render", "pgstead.pki"),
    ("pgstead.desired",),
    ("pgstead.server",),
    ("pgstead.facts",),
    ("pgstead.operations",),
    ("roles",),
    ("pgstead.importer",),  # SQLite import engine: sqlite3 + psycopg, for the CLI only
    ("pgstead.cli",),
)


def layer_of(module: str) -> int | None:
    for index, packages in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in packages):
            return index
    return None


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from pgstead.desired import hardening` imports pgstead.desired.hardening
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> list[Path]:
    return sorted(path for top in ("pgstead", "roles")
                  for path in (PROJECT_ROOT / top).rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    loose = [module_name(p) for p in sources()
             if layer_of(module_name(p)) is None and module_name(p) != "pgstead"]
    assert loose == []


def test_imports_point_downward_only():
    upward = []
    for path in sources():
        own = layer_of(module_name(path))
        if own is None:
            continue
        for target in imported_modules(path):
            layer = layer_of(target)
            if layer is not None and layer > own:
                upward.append(f"{module_name(path)} imports {target}")
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path):
    # The checker itself must be able to fail.
    probe = tmp_path / "probe.py"
    probe.write_text("from pgstead.facts.cluster import PgClusters\n")
    assert "pgstead.facts.cluster" in imported_modules(probe)
    assert layer_of("pgstead.facts.cluster") > layer_of("pgstead.desired.settings")


PURE = ("pgstead.postgres", "pgstead.config", "pgstead.live", "pgstead.render", "pgstead.pki",
        "pgstead.desired")


def test_the_pure_layers_do_not_import_pyinfra():
    impure = [f"{module_name(p)} imports {target}" for p in sources()
              if module_name(p).startswith(PURE)
              for target in imported_modules(p) if target.split(".")[0] in ("pyinfra", "gevent")]
    assert impure == []
