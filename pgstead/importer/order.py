"""Load order: a table after every table its foreign keys point at.

Foreign keys that cannot be satisfied by any order (a table referencing itself, or a cycle of
tables) are returned apart: the load defers them, or takes them off for the load and puts
them back, which validates every row, before the proof.
"""

from __future__ import annotations

from pgstead.importer.target import TargetConstraint, TargetTable


def load_order(tables: list[TargetTable], rows: dict[tuple[str, str], int] | None = None
               ) -> tuple[list[TargetTable], list[tuple[TargetTable, TargetConstraint]]]:
    """(tables in load order, foreign keys no order satisfies). Of the tables whose parents
    are all placed, the one with the most `rows` goes next (the first by name of equals): the
    last table's proof has nothing left to convert beside it, so it had better be small."""
    chosen = {t.qualified: t for t in tables}
    parents = {key: {fk.ref for fk in t.foreign_keys()
                     if fk.ref in chosen and fk.ref != key}
               for key, t in chosen.items()}
    size = rows or {}
    ordered: list[TargetTable] = []
    placed: set[tuple[str, str]] = set()
    pending = sorted(chosen)
    while pending:
        # None ready is a cycle: broken at its first table by name.
        ready = [key for key in pending if parents[key] <= placed] or pending[:1]
        key = max(ready, key=lambda k: size.get(k, 0))
        ordered.append(chosen[key])
        placed.add(key)
        pending.remove(key)
    position = {t.qualified: i for i, t in enumerate(ordered)}
    loose = [(t, fk) for t in ordered for fk in t.foreign_keys()
             if fk.ref in position and position[fk.ref] >= position[t.qualified]]
    return ordered, loose
