"""What an import did, per table: rows, conversions, proof and time; as text or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class TableReport:
    source: str
    target: str
    rows: int = 0
    conversions: dict[str, str] = field(default_factory=dict)  # target column -> what was done
    left_to_defaults: list[str] = field(default_factory=list)
    checksum: str = ""
    sequences: dict[str, int] = field(default_factory=dict)  # column -> next value it gives
    foreign_keys: dict[str, str] = field(default_factory=dict)  # constraint -> how checked
    load_seconds: float = 0.0
    verify_seconds: float = 0.0


@dataclass
class ValueFailure:
    table: str
    key: str
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.table} {self.key}: column {self.column!r}: {self.reason}"


@dataclass
class ImportReport:
    source: str
    database: str
    dry_run: bool
    tables: list[TableReport] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # tables --create-schema made
    truncated: list[str] = field(default_factory=list)
    failures: list[ValueFailure] = field(default_factory=list)  # values that cannot convert
    failure_count: int = 0
    source_changed: bool = False  # written to after the snapshot was taken
    committed: bool = False
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def as_json(self) -> str:
        return json.dumps({**asdict(self), "rows": self.rows}, indent=2)

    def as_text(self) -> str:
        outcome = ("dry run: nothing written (rolled back)" if self.dry_run
                   else "committed" if self.committed else "rolled back: nothing written")
        lines = [f"import {self.source} -> database {self.database}: {outcome}"]
        if self.created:
            lines.append(f"created: {', '.join(self.created)}")
        if self.truncated:
            lines.append(f"truncated first: {', '.join(self.truncated)}")
        if self.excluded:
            lines.append(f"left out: {', '.join(self.excluded)}")
        width = max([len(t.target) for t in self.tables] + [5])
        lines.append(f"{'table':<{width}}  {'rows':>10}  {'load s':>7}  {'verify s':>8}  "
                     "checksum")
        for t in self.tables:
            lines.append(f"{t.target:<{width}}  {t.rows:>10}  {t.load_seconds:>7.2f}  "
                         f"{t.verify_seconds:>8.2f}  {t.checksum}")
        for t in self.tables:
            details = [f"  {column}: {what}" for column, what in t.conversions.items()]
            details += [f"  {column}: sequence set, next value {value}"
                        for column, value in t.sequences.items()]
            details += [f"  {name}: {how}" for name, how in t.foreign_keys.items()]
            if t.left_to_defaults:
                details.append(f"  not in the SQLite table, left to defaults: "
                               f"{', '.join(t.left_to_defaults)}")
            if details:
                lines += [f"{t.target}:", *details]
        for failure in self.failures:
            lines.append(f"cannot convert: {failure}")
        if self.failure_count > len(self.failures):
            lines.append(f"... {self.failure_count - len(self.failures)} more values "
                         "cannot convert")
        lines.append(f"{self.rows} rows in {len(self.tables)} tables, {self.seconds:.2f} s")
        return "\n".join(lines)
