"""An order-independent checksum of a table's rows, the same on both sides of the import.

Each row, its values normalised to the target type (convert.py), is hashed on its own; the
table's checksum is the sum of those hashes modulo 2**64, with the row count beside it. The
source side is summed while its rows are written; the target side from the table read back
in batches through the same normalisers, so memory stays flat and order never matters.

The row hash is Python's own tuple hash, computed for both sides in the one process: it is
consistent with == (what "the same value" means once both sides are normalised to the same
type per column), keyed per process for text and bytes (SipHash with a random seed, so no
data can be crafted to collide), and about ten times cheaper than a cryptographic digest of
the row's repr, which mattered more than anything else in the import's own time. Float NaN,
the one value not equal to itself, is normalised to a marker first (convert.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

_MASK = (1 << 64) - 1
Normaliser = Callable[[object], object]


def row_digest(row: tuple) -> int:
    return hash(row) & _MASK


@dataclass
class Checksum:
    rows: int = 0
    total: int = 0

    def add(self, row: tuple) -> None:
        self.rows += 1
        self.total = (self.total + hash(row)) & _MASK

    @classmethod
    def of(cls, rows: int, total: int) -> Checksum:
        """From a count and a plain sum of row hashes (a loop that sums them itself)."""
        return cls(rows, total & _MASK)

    @property
    def hex(self) -> str:
        return f"{self.total:016x}"


def normaliser(norms: Iterable[Normaliser | None]) -> Callable[[tuple], tuple]:
    """A function from a row to its comparable form; the identity when no column needs one."""
    pairs = [(i, getattr(n, "__wrapped__", n)) for i, n in enumerate(norms) if n is not None]
    if not pairs:
        return lambda row: row

    def normalise(row: tuple) -> tuple:
        out = list(row)
        for i, norm in pairs:
            value = out[i]
            if value is not None:
                out[i] = norm(value)
        return tuple(out)
    return normalise
