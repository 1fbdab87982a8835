"""Replace a whole directory of outputs at once: readers see the old set or the new one.

    with atomic_dir.replace("out/bills", owns=("statements.csv", "parties.csv")) as stage:
        write(stage / "statements.csv")          # every file goes into ``stage``
        write(stage / "parties.csv")
    # here ``out/bills`` holds exactly the new files; on an exception it is untouched

How: the files are written into a fresh sibling directory ``.NAME.staging-PID-TOKEN``
(same parent, so same filesystem). On success the staging directory and ``NAME`` are
swapped with one ``renameat2(RENAME_EXCHANGE)`` (Linux), an atomic exchange of two
paths, and the old set, now at the staging name, is removed. Where the exchange is not
available (another OS, a filesystem without it) two renames are used: ``NAME`` to
``.NAME.retired-PID-TOKEN``, then the staging directory to ``NAME``; a kill between
them leaves ``NAME`` missing for a moment, and the next run puts the retired set back
before anything else.

Killed runs leave only hidden siblings named as above; each run first sweeps those of
processes that are no longer alive. Inside ``NAME``, the per-file temporaries that the
older one-file-at-a-time writers left (``.tmp-*``, ``.*.tmp``) count as outputs: they
go with the old set.

The directory is replaced as a whole, so it must hold nothing but outputs: a file or
folder that is neither in ``owns`` nor a stale temporary makes ``replace`` refuse
(``OutputDirError``) before anything is written, as does the current directory or
one of its parents (swapping the shell's working directory away would strand it).

Cost: one ``mkdir``, one or two renames and the removal of the old files; no copy.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fnmatch
import os
import re
import secrets
import shutil
from pathlib import Path

STAGING = "staging"
RETIRED = "retired"
LEGACY_TEMPORARIES = (".tmp-*", ".*.tmp")  # names the older per-file writers used
_SIBLING = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|retired)-(?P<pid>[0-9]+)-[0-9a-f]+$")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class OutputDirError(OSError):
    """The output directory cannot be replaced; the message is one line naming it."""


def replace(directory, owns=()) -> _Replacement:
    """A context manager yielding the staging directory (a ``Path``) for the new set.

    ``owns``: file names (or ``fnmatch`` patterns) that earlier runs may have left in
    ``directory`` and that the new set replaces; anything else found there is refused.
    On normal exit the staging directory replaces ``directory`` atomically; on an
    exception it is removed and ``directory`` is left as it was.
    """
    return _Replacement(directory, tuple(owns))


class _Replacement:
    def __init__(self, directory, owns):
        self.target = Path(os.path.realpath(os.path.abspath(directory)))
        self.owns = owns
        self.stage: Path | None = None

    def __enter__(self) -> Path:
        target = self.target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputDirError(f"{target}: cannot create the output directory: {error.strerror}") from None
        sweep(target)
        _check_replaceable(target, self.owns)
        token = secrets.token_hex(4)
        stage = target.parent / f".{target.name}.{STAGING}-{os.getpid()}-{token}"
        try:
            stage.mkdir()
            if target.is_dir():
                os.chmod(stage, target.stat().st_mode & 0o7777)  # keep the directory's permissions
        except OSError as error:
            raise OutputDirError(f"{target}: cannot write beside it: {error.strerror}") from None
        self.stage = stage
        return stage

    def __exit__(self, kind, value, traceback) -> None:
        stage = self.stage
        if kind is not None:
            _remove(stage)
            return
        try:
            swap_in(stage, self.target)
        except OSError as error:
            _remove(stage)
            raise OutputDirError(f"{self.target}: cannot replace the output directory: "
                                 f"{error.strerror or error}") from None


def swap_in(stage: Path, target: Path) -> None:
    """Make ``stage`` the new ``target`` in one step, then remove the old ``target``."""
    if not os.path.lexists(target):
        os.rename(stage, target)  # nothing to replace
        return
    if _exchange(stage, target):
        _remove(stage)  # the old set now lives at the staging name
        return
    retired = target.parent / f".{target.name}.{RETIRED}-{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(target, retired)
    os.rename(stage, target)
    _remove(retired)


def sweep(target) -> list[Path]:
    """Remove what killed runs left beside ``target``; returns what was removed.

    A retired set is put back first when ``target`` is missing (a kill between the two
    renames of the fallback). Only leftovers of processes no longer alive are touched.
    """
    target = Path(target)
    removed = []
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return removed
    for path in sorted(siblings):
        match = _SIBLING.match(path.name)
        if not match or match["name"] != target.name or _alive(int(match["pid"])):
            continue
        if match["kind"] == RETIRED and not os.path.lexists(target):
            os.rename(path, target)
            continue
        _remove(path)
        removed.append(path)
    return removed


def _check_replaceable(target: Path, owns) -> None:
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        raise OutputDirError(f"{target}: exists and is not a directory")
    here = Path(os.path.realpath(os.getcwd()))
    if here == target or target in here.parents:
        raise OutputDirError(f"{target}: is the current directory (or holds it); write the outputs "
                             "to a directory of their own")
    owned = tuple(owns) + LEGACY_TEMPORARIES  # stale temporaries go with the old set
    foreign = sorted(entry.name for entry in target.iterdir()
                     if not any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in owned))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputDirError(f"{target}: holds files this command does not write ({shown}); the "
                             "directory is replaced as a whole, so give the outputs a directory of their own")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path) -> None:
    if path is None:
        return
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


_libc = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where unsupported."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            _libc.renameat2  # noqa: B018 - glibc >= 2.28
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    result = _libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))
