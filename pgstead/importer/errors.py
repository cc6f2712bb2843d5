"""Why an import stops: one exception the CLI turns into one line (and a rolled-back target)."""

from __future__ import annotations


class ImportRefused(Exception):
    """The import cannot go ahead or its proof failed; the target is left as it was."""
