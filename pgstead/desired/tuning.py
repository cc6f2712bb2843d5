"""Starting values for the main server parameters from host memory, CPUs, profile and storage.

The rules follow the widely used pgtune approach: shared_buffers a quarter of memory, the
planner told that most of the rest is cache, work_mem sized so every connection can run a few
sorts at once, WAL sized for the write load, parallelism from the CPU count. They are starting
points: anything under `settings:` in the environment file wins over them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pgstead.postgres import catalog, units

PROFILES: tuple[str, ...] = ("web", "oltp", "dw", "mixed", "desktop", "none")
STORAGES: tuple[str, ...] = ("ssd", "hdd", "san")

_KB_PER_MB = 1024
_KB_PER_GB = 1024 * 1024
# maintenance_work_mem beyond this rarely helps and is taken by every autovacuum worker.
_MAINTENANCE_WORK_MEM_CAP_KB = 2 * _KB_PER_GB
# wal_buffers: PostgreSQL's own auto-tuning caps at one 16MB WAL segment.
_WAL_BUFFERS_CAP_KB = 16 * _KB_PER_MB
_WAL_BUFFERS_MIN_KB = 32
_WAL_BUFFERS_ROUND_UP_KB = 14 * _KB_PER_MB
_WORK_MEM_MIN_KB = 64  # PostgreSQL's minimum for work_mem
# A database server that is not a desktop keeps a quarter of memory as shared_buffers.
_SHARED_BUFFERS_DIVISOR = {"web": 4, "oltp": 4, "dw": 4, "mixed": 4, "desktop": 16}
_CACHE_FRACTION = {"web": 0.75, "oltp": 0.75, "dw": 0.75, "mixed": 0.75, "desktop": 0.25}
_MAINTENANCE_DIVISOR = {"web": 16, "oltp": 16, "dw": 8, "mixed": 16, "desktop": 16}
# Fewer, bigger queries (dw, mixed) get less work_mem per connection slot; desktop least.
_WORK_MEM_DIVISOR = {"web": 1, "oltp": 1, "dw": 2, "mixed": 2, "desktop": 6}
_WAL_SIZE_KB = {
    "web": (1 * _KB_PER_GB, 4 * _KB_PER_GB),
    "oltp": (2 * _KB_PER_GB, 8 * _KB_PER_GB),
    "dw": (4 * _KB_PER_GB, 16 * _KB_PER_GB),
    "mixed": (1 * _KB_PER_GB, 4 * _KB_PER_GB),
    "desktop": (100 * _KB_PER_MB, 2 * _KB_PER_GB),
}
_STATISTICS_TARGET = {"dw": 500}  # others: PostgreSQL's default, 100
_RANDOM_PAGE_COST = {"ssd": "1.1", "hdd": "4", "san": "1.1"}
_IO_CONCURRENCY = {"ssd": 200, "hdd": 2, "san": 300}
# PostgreSQL's default pool of background workers; extensions and logical replication draw on
# it too, so tuning never shrinks it below that even on small hosts.
_DEFAULT_WORKER_PROCESSES = 8
_MAX_WORKERS_PER_GATHER = 4  # beyond this only analytic (dw) queries tend to gain


@dataclass(frozen=True)
class TuningInput:
    profile: str  # web | oltp | dw | mixed | desktop | none
    memory_bytes: int
    cpus: int
    storage: str  # ssd | hdd | san
    max_connections: int
    major: int


def _check(t: TuningInput) -> None:
    if t.profile not in PROFILES:
        raise ValueError(f"tuning profile must be one of {', '.join(PROFILES)}, got {t.profile!r}")
    if t.storage not in STORAGES:
        raise ValueError(f"tuning storage must be one of {', '.join(STORAGES)}, got {t.storage!r}")
    if t.memory_bytes < 64 * 1024 * 1024:
        raise ValueError(f"tuning memory must be at least 64MB, got {t.memory_bytes} bytes")
    if t.cpus < 1:
        raise ValueError(f"tuning cpus must be at least 1, got {t.cpus}")
    if t.max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {t.max_connections}")
    if t.major not in catalog.SUPPORTED_MAJORS:
        raise ValueError(f"PostgreSQL {t.major} is not supported")


def _size(kb: int) -> str:
    """A size in kB as PostgreSQL text, whole MB once it is large enough not to matter."""
    if kb >= 64 * _KB_PER_MB:
        kb = kb // _KB_PER_MB * _KB_PER_MB
    return units.humanise(str(kb), "kB")


def _workers_per_gather(t: TuningInput) -> int:
    per_gather = math.ceil(t.cpus / 2)
    return per_gather if t.profile == "dw" else min(per_gather, _MAX_WORKERS_PER_GATHER)


def _parallelism(t: TuningInput) -> dict[str, str]:
    if t.cpus < 2:
        return {}
    return {
        "max_worker_processes": str(max(t.cpus, _DEFAULT_WORKER_PROCESSES)),
        "max_parallel_workers_per_gather": str(_workers_per_gather(t)),
        "max_parallel_workers": str(t.cpus),
        "max_parallel_maintenance_workers": str(
            min(math.ceil(t.cpus / 2), _MAX_WORKERS_PER_GATHER)
        ),
    }


def recommend(t: TuningInput) -> dict[str, str]:
    """Parameter -> value as PostgreSQL text ("2GB", "1.1", "200"), in a stable order.

    Profile 'none' recommends nothing. Raises ValueError for an unknown profile or storage.
    """
    _check(t)
    if t.profile == "none":
        return {}
    memory_kb = t.memory_bytes // 1024
    shared_buffers_kb = memory_kb // _SHARED_BUFFERS_DIVISOR[t.profile]
    shared_buffers_kb -= shared_buffers_kb % 8  # whole 8kB buffers
    cache_kb = int(memory_kb * _CACHE_FRACTION[t.profile])
    maintenance_kb = min(memory_kb // _MAINTENANCE_DIVISOR[t.profile],
                         _MAINTENANCE_WORK_MEM_CAP_KB)
    wal_buffers_kb = (shared_buffers_kb * 3) // 100
    if wal_buffers_kb > _WAL_BUFFERS_ROUND_UP_KB:
        wal_buffers_kb = _WAL_BUFFERS_CAP_KB  # nearly a segment: take the whole segment
    wal_buffers_kb = max(min(wal_buffers_kb, _WAL_BUFFERS_CAP_KB), _WAL_BUFFERS_MIN_KB)
    wal_buffers_kb -= wal_buffers_kb % 8  # whole 8kB WAL pages
    # Each connection may run about three sorts or hashes at once, each possibly in parallel.
    work_mem_kb = (memory_kb - shared_buffers_kb) // (t.max_connections * 3)
    work_mem_kb //= _workers_per_gather(t) if t.cpus >= 2 else 1
    work_mem_kb //= _WORK_MEM_DIVISOR[t.profile]
    work_mem_kb = max(work_mem_kb, _WORK_MEM_MIN_KB)
    min_wal_kb, max_wal_kb = _WAL_SIZE_KB[t.profile]

    values = {
        "shared_buffers": _size(shared_buffers_kb),
        "effective_cache_size": _size(cache_kb),
        "maintenance_work_mem": _size(maintenance_kb),
        "work_mem": _size(work_mem_kb),
        "wal_buffers": _size(wal_buffers_kb),
        "min_wal_size": _size(min_wal_kb),
        "max_wal_size": _size(max_wal_kb),
        "checkpoint_completion_target": "0.9",
        "default_statistics_target": str(_STATISTICS_TARGET.get(t.profile, 100)),
        "random_page_cost": _RANDOM_PAGE_COST[t.storage],
        "effective_io_concurrency": str(_IO_CONCURRENCY[t.storage]),
    }
    values.update(_parallelism(t))
    return values
