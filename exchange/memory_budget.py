"""How much memory a command may plan to use, and a clear refusal beyond it.

    budget = memory_budget.default_budget()              # half of what the machine has free
    memory_budget.check(need, budget, "settlement of 1,000,000 contracts x 30 periods",
                        option="--memory-limit")          # MemoryBudgetError (a ValueError) beyond it
    parser.add_argument("--memory-limit", type=memory_budget.parse_size)   # "8G", "512M", "2000000000"

A command estimates what its big arrays will take before it allocates them and
refuses with one line naming the cause, the size and the way to raise the limit,
instead of being killed by the operating system half-way. The default is half of
the memory available now: ``MemAvailable`` of ``/proc/meminfo`` (else total physical
memory from ``os.sysconf``), and never more than a cgroup (container) memory limit.
Cost: a few small file reads.
"""
from __future__ import annotations

import os
import re

SHARE = 0.5
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


class MemoryBudgetError(ValueError):
    """A planned allocation is beyond the budget; the message says what, how much and how to raise it."""


def available_bytes() -> int:
    """Memory available to this process now, in bytes (0 when nothing can be read)."""
    available = _meminfo("MemAvailable") or _physical()
    limit = _cgroup_limit()
    if limit is not None:
        available = min(available, limit) if available else limit
    return int(available)


def default_budget() -> int:
    """The default budget: half of ``available_bytes()`` (at least 256 MiB)."""
    return max(int(available_bytes() * SHARE), 256 << 20)


def parse_size(text: str) -> int:
    """Bytes from ``"8G"``, ``"512M"``, ``"1.5GiB"`` or a plain number of bytes (binary units).

    Raises ValueError naming the text (argparse shows it as a usage error)."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 8G, 512M, or bytes)")
    value = float(match[1]) * _UNITS[match[2].upper()]
    if value < 1:
        raise ValueError(f"{text!r} must be at least one byte")
    return int(value)


parse_size.__name__ = "size"  # argparse: "invalid size value: 'x'"


def format_bytes(n: int) -> str:
    """``1.5 GiB``, ``512.0 MiB``: a size for people."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def check(need: int, budget: int, what: str, option: str = "--memory-limit") -> None:
    """Refuse (MemoryBudgetError) when ``need`` bytes exceed ``budget``."""
    if need > budget:
        raise MemoryBudgetError(
            f"{what} needs about {format_bytes(need)} of memory, more than the budget of "
            f"{format_bytes(budget)} (half of the memory available); raise it with {option} SIZE "
            "if the machine has room")


def _meminfo(key: str) -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                if name == key:
                    return int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _physical() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _cgroup_limit() -> int | None:
    """A cgroup v2 (or v1) memory limit in bytes, or None without one.

    The limit itself, not limit minus usage: usage counts page cache the kernel can
    drop (the input file just read), which would make the budget needlessly small."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as handle:
                limit = handle.read().strip()
        except OSError:
            continue
        if not limit.isdigit() or int(limit) >= 1 << 60:
            return None
        return int(limit)
    return None
