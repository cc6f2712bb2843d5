"""What a host offers the server, as the Resources fact reads it. Plain data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostResources:
    memory_bytes: int
    cpus: int
