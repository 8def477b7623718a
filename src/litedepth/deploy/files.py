"""Atomic writes of outputs made of several files: a folder, or files written together.

>>> with atomic_folder("student_ncnn") as tmp:        # a temporary folder beside the target
...     (tmp / "model.ncnn.param").write_text(...)
>>> with atomic_files(["s.xml", "s.bin"]) as tmps:     # temporary paths, renamed when all are written
...     save(tmps[0], tmps[1])

An exception inside leaves the old output (or nothing) in place. A folder replaces an existing one
(the command's `litedepth.outputs.OutputGuard` decided that it may); files are renamed last-first, so
that the file a loader opens (``.xml``) appears only when its companions (``.bin``) are in place.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import DISK_FULL_ERRNOS, LitedepthError, is_disk_full


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it becomes ``path`` (an old one is removed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "replaced")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_files(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Yield temporary paths (same names, in a temporary folder beside the first path); on success each is renamed
    onto its path, the first last."""
    paths = [Path(p) for p in paths]
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{paths[0].name}.", suffix=".tmp", dir=paths[0].parent))
    try:
        tmps = [tmp / p.name for p in paths]
        yield tmps
        for source, target in reversed(list(zip(tmps, paths))):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _errno_cell():
    """The C library's function that returns the calling thread's ``errno`` cell, or None where there is none."""
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):  # Windows: no process-wide C library handle
        return None
    for name in ("__errno_location", "__error"):  # glibc and musl; macOS and the BSDs
        function = getattr(libc, name, None)
        if function is not None:
            function.restype = ctypes.POINTER(ctypes.c_int)
            return function
    return None


_ERRNO = _errno_cell()


def _c_errno(value: int | None = None) -> int | None:
    """The thread's C ``errno`` (None where it cannot be read); ``value`` sets it first."""
    if _ERRNO is None:
        return None
    cell = _ERRNO().contents
    if value is not None:
        cell.value = value
    return cell.value


@contextlib.contextmanager
def c_writes(path: str | os.PathLike) -> Iterator[None]:
    """Around a C++ library's write (OpenVINO's ``save_model``, coremltools' weight writer): a failure whose
    cause the C library's ``errno`` says is a full disk, a quota or a file size limit becomes that `OSError`.

    Their own errors do not say it (``basic_ios::clear: iostream error``); ``errno``, cleared here and
    set by the write that failed, does. It is read at once, before any clean-up's calls can change it.
    """
    _c_errno(0)
    try:
        yield
    except OSError:
        raise
    except Exception as exc:
        code = _c_errno()
        if code not in DISK_FULL_ERRNOS:
            raise
        raise OSError(code, os.strerror(code), os.fspath(path)) from exc


@contextlib.contextmanager
def export_written(out: str | os.PathLike) -> Iterator[None]:
    """Around an export: a write that does not fit (`litedepth.errors.is_disk_full`), wherever it happened (a
    temporary file, a converter's stream), is one `LitedepthError` line naming ``out``, the path the user gave."""
    try:
        yield
    except LitedepthError:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise LitedepthError(
            f"{out}: cannot write the export: no space left on device (or a file size limit)"
        ) from None
