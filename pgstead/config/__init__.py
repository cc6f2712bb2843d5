"""The environment file: load, JSON Schema, semantic checks, secrets, the typed Environment,
and finding the file a deploy runs with.

Imports: pgstead.postgres (settings are checked against PostgreSQL's catalog and units).
Checks against what upper layers derive from the file come in through `derived_checks`.
"""
