"""Numba's on-disk cache, made stale by a change to any kernel source of this project.

Numba stamps a cached kernel with its own source file only. Our kernels inline helpers
from other files (``matching_nb`` into the njit API's compiled halves, the writers'
digit routines into the settlement reports), so after an edit or a partial update the
cache could serve a kernel built from the old helpers, with the new array layout: wrong
answers or a crash (seen: a segfault in tests/test_embed.py after the order slots
changed layout). Every kernel defined in this project's folders is stamped here with
its own file *and* a hash of every ``.py`` under ``exchange/`` and ``contracts/``, the
folders kernels are written in: any change there recompiles every kernel once (about
20 s of CPU), never a stale one. An installed release is one unchanging set of files,
so it compiles once per machine as before.

Cost: reading and hashing those files once per process (about 1 MB: a few ms).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from numba.core import caching

ROOT = Path(__file__).resolve().parents[2]  # the folder holding exchange/ and contracts/
KERNEL_FOLDERS = ("exchange", "contracts")
# Folders whose @njit(cache=True) functions may call ours (the bench and the examples call
# exchange.embed): their caches take the stamp too.
PROJECT_FOLDERS = KERNEL_FOLDERS + ("simulation", "bench", "examples", "tests", "compute_exchange")

_stamp: str | None = None


def kernel_sources_stamp() -> str:
    """sha256 over the path and bytes of every .py file under ``KERNEL_FOLDERS``; computed
    once per process."""
    global _stamp
    if _stamp is None:
        digest = hashlib.sha256()
        for folder in KERNEL_FOLDERS:
            for path in sorted((ROOT / folder).rglob("*.py")):
                digest.update(path.relative_to(ROOT).as_posix().encode())
                digest.update(path.read_bytes())
        _stamp = digest.hexdigest()
    return _stamp


def in_project(py_file: str) -> bool:
    """Is ``py_file`` in one of ``PROJECT_FOLDERS``?"""
    try:
        relative = Path(py_file).resolve().relative_to(ROOT)
    except (ValueError, OSError):
        return False
    return bool(relative.parts) and relative.parts[0] in PROJECT_FOLDERS


class _ProjectStamped:
    """A Numba cache locator for this project's files whose stamp adds the kernel sources'."""

    def get_source_stamp(self):
        return (super().get_source_stamp(), kernel_sources_stamp())

    @classmethod
    def from_function(cls, py_func, py_file):
        return super().from_function(py_func, py_file) if in_project(py_file) else None


class ProjectUserProvidedLocator(_ProjectStamped, caching.UserProvidedCacheLocator):
    """NUMBA_CACHE_DIR set: the cache is there."""


class ProjectInTreeLocator(_ProjectStamped, caching.InTreeCacheLocator):
    """The cache in each source folder's __pycache__."""


class ProjectUserWideLocator(_ProjectStamped, caching.UserWideCacheLocator):
    """A read-only install: the cache in the user's cache folder."""


def install() -> None:
    """Put the project's locators first in Numba's list (once); functions defined after
    this use them. Other packages' functions fall through to Numba's own locators."""
    classes = caching.CacheImpl._locator_classes
    if ProjectInTreeLocator not in classes:
        classes[:0] = [ProjectUserProvidedLocator, ProjectInTreeLocator, ProjectUserWideLocator]
