"""An order-independent checksum of a table's rows, the same on both sides of the import.

Each row, its values normalised to the target type (convert.py), is hashed on its own
(BLAKE2b, 64 bits, of the tuple's repr, which tells 1 from True and '1' from 1); the table's
checksum is the sum of those hashes modulo 2**64, with the row count beside it. The source
side is summed while its rows are written; the target side from a binary COPY of the table
read back through the same normalisers, so memory stays flat and order never matters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from hashlib import blake2b

_MASK = (1 << 64) - 1
Normaliser = Callable[[object], object]


def row_digest(row: tuple) -> int:
    return int.from_bytes(blake2b(repr(row).encode(), digest_size=8).digest(), "little")


@dataclass
class Checksum:
    rows: int = 0
    total: int = 0

    def add(self, row: tuple) -> None:
        self.rows += 1
        self.total = (self.total + row_digest(row)) & _MASK

    @property
    def hex(self) -> str:
        return f"{self.total:016x}"


def normaliser(norms: Iterable[Normaliser | None]) -> Callable[[tuple], tuple]:
    """A function from a row to its comparable form; the identity when no column needs one."""
    pairs = [(i, n) for i, n in enumerate(norms) if n is not None]
    if not pairs:
        return lambda row: row

    def normalise(row: tuple) -> tuple:
        out = list(row)
        for i, norm in pairs:
            out[i] = norm(out[i])
        return tuple(out)
    return normalise
