"""SQL lives in sql/*.sql; this module loads it and fills its placeholders safely.

Placeholders are psycopg `{name}` fields: identifiers are passed as `ident(...)` and values
as `literal(...)`, so neither can escape its quotes.
"""

from __future__ import annotations

from functools import cache

from psycopg import sql

from pgstead import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql"


@cache
def _template(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


def literal(value: object) -> sql.Literal:
    return sql.Literal(value)


def render(template: str, /, **parts: sql.Composable) -> str:
    """The text of sql/<name>.sql with its fields filled by quoted identifiers and literals."""
    return sql.SQL(_template(template)).format(**parts).as_string(None)
