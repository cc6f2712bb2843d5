"""The seam of modes: how pgstead runs and reaches a server (native, compose, Patroni)."""
