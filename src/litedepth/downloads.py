"""Downloads into the cache folder: one file over HTTP(S), ``file://`` or Google Drive, checked and unpacked.

A download goes to a temporary folder ``.download-HOST-PID-XXXX`` inside the folder it is for
(`start`), so that a failure leaves nothing behind (`discard`); what a killed download left is
removed by the next one (`clean_stale_downloads`). Every failure is one `LitedepthError` line
that starts with the download's label and ends with the way round it (`Source.by_hand`).
Google Drive links need ``gdown`` (``pip install 'litedepth[hub]'``); other URLs are read by
the standard library.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, NamedTuple

from .errors import LitedepthError, first_line, is_disk_full, reason_of

logger = logging.getLogger(__name__)

DOWNLOAD_PREFIX = ".download-"
STALE_AFTER_S = 24 * 3600  # no download takes a day: past it a leftover is stale whatever its name says


class Source(NamedTuple):
    """One download: what its messages say."""

    label: str  # what every message starts with, e.g. ``hu2021:N_s_X``
    url: str
    folder: Path  # the cache folder it is for
    by_hand: str  # the way round a failed download, e.g. "download X yourself and put it in FOLDER"
    file: str  # the file a user may put into ``folder`` by hand


# --- leftovers of killed downloads ------------------------------------------------------------


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:64] or "host"


def download_prefix() -> str:
    """``.download-HOST-PID-``: a download's temporary folder says which process on which machine owns it."""
    return f"{DOWNLOAD_PREFIX}{_host()}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would send CTRL_C_EVENT there: fall back on the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def is_stale_download(path: Path, now: float | None = None) -> bool:
    """Whether the temporary folder ``path`` (``.download-HOST-PID-XXXX``) is what a killed download left.

    The rule: its owning process (the PID in its name, on this machine) is no longer running, or it
    is older than `STALE_AFTER_S` (one day: a PID reused by another process, a download of another
    machine sharing the cache, a folder named without its owner).
    """
    match = re.fullmatch(rf"{re.escape(DOWNLOAD_PREFIX)}([\w.]+)-(\d+)-\w+", path.name)
    if match and match[1] == _host() and not _pid_alive(int(match[2])):
        return True
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    return age > STALE_AFTER_S


def clean_stale_downloads(folder: Path) -> list[Path]:
    """Remove the leftovers of killed downloads (`is_stale_download`) from ``folder``; return them."""
    stale = [p for p in folder.glob(f"{DOWNLOAD_PREFIX}*") if p.is_dir() and is_stale_download(p)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
        logger.debug("removed %s, left by a download that did not finish", path)
    return stale


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first: the folders a call will make."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty: one that holds something stays, with its parents."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def start(source: Source) -> tuple[Path, list[Path]]:
    """Make ``source.folder`` and a temporary folder in it (stale leftovers removed first).

    Returns ``(temporary folder, the folders made)``: give both to `discard` when done or failed.
    """
    made = _missing_folders(source.folder)
    try:
        source.folder.mkdir(parents=True, exist_ok=True)
        clean_stale_downloads(source.folder)
        work = Path(tempfile.mkdtemp(prefix=download_prefix(), dir=source.folder))
    except OSError as exc:
        remove_empty(made)
        raise LitedepthError(
            f"{source.label}: cannot write the cache folder {source.folder} ({exc.strerror or exc}); "
            "set LITEDEPTH_CACHE"
        ) from None
    return work, made


def discard(work: Path, made: list[Path]) -> None:
    """Remove a failed download's temporary folder and the cache folders `start` made (when empty)."""
    shutil.rmtree(work, ignore_errors=True)
    remove_empty(made)


# --- one download -----------------------------------------------------------------------------


def _failed(source: Source, why: str) -> LitedepthError:
    return LitedepthError(f"{source.label}: the download from {source.url} failed ({why}); {source.by_hand}")


def _disk_full(source: Source) -> LitedepthError:
    return LitedepthError(
        f"{source.label}: cannot write the download into {source.folder}: no space left on device; {source.by_hand}"
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: its cause and context, a ``reason`` (urllib, urllib3), its exception arguments (requests)."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [getattr(item, "reason", None), item.__cause__, item.__context__, *item.args]
    return seen


def network_reason(exc: BaseException, host: str) -> str:
    """Why a download failed, in a few words: ``could not connect to HOST: connection refused``, ``timed out``, ...

    Looks through what ``exc`` wraps (urllib's ``URLError``, requests' and urllib3's chains) for the
    system's error, so that no library's long text (cut inside a parenthesis) reaches the user.
    """
    chain = _causes(exc)
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolutionError" in names:
        return f"could not connect to {host}: name resolution failed; offline?"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return f"could not connect to {host}: connection refused"
    if any(isinstance(e, TimeoutError) for e in chain) or names & {"ConnectTimeoutError", "ReadTimeoutError"}:
        return f"no answer from {host}: timed out"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return f"could not connect to {host}: TLS/SSL error"
    if any(isinstance(e, (ConnectionError, http.client.HTTPException)) for e in chain):
        return f"the connection to {host} broke off"
    system = next((e for e in chain if isinstance(e, OSError) and e.strerror), None)
    if system is not None:
        return f"could not connect to {host}: {system.strerror[:1].lower()}{system.strerror[1:]}"
    return reason_of(exc, 100)


def download(source: Source, target: Path) -> Path:
    """``source.url`` -> ``target``: Google Drive through gdown, anything else (http, https, file) through urllib."""
    url = source.url
    host = urllib.parse.urlparse(url).hostname or ""
    if host in ("drive.google.com", "docs.google.com"):
        return _download_drive(source, target)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            written = _copy(response, out, total, source.label.split(":")[0])
        if total is not None and written < total:  # urllib reads a connection closed early as the end
            raise _failed(source, f"the connection to {host} broke off after {written:,} of {total:,} bytes")
    except urllib.error.HTTPError as exc:
        raise _failed(source, f"HTTP {exc.code} {exc.reason}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # no network, refused, timed out, a bad URL
        if is_disk_full(exc):
            raise _disk_full(source) from None
        if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, str):  # e.g. unknown url type
            raise _failed(source, exc.reason) from None
        raise _failed(source, network_reason(exc, host or url)) from None
    return target


def _download_drive(source: Source, target: Path) -> Path:
    match = re.search(r"/file/d/([-\w]+)|[?&]id=([-\w]+)", source.url)
    if match is None:
        raise LitedepthError(f"{source.label}: {source.url} names no Google Drive file (expected .../file/d/ID/...)")
    try:
        import gdown
    except ImportError:
        raise LitedepthError(
            f"{source.label}: not in {source.folder}; downloading it from Google Drive needs gdown: "
            f"pip install 'litedepth[hub]' (or put the authors' {source.file} there by hand)"
        ) from None
    try:
        result = gdown.download(id=match.group(1) or match.group(2), output=str(target), quiet=not sys.stderr.isatty())
    except Exception as exc:  # gdown's own errors (quota, permissions), requests' network errors
        if is_disk_full(exc):
            raise _disk_full(source) from None
        raise _failed(source, network_reason(exc, "drive.google.com")) from None
    if result is None or not target.is_file():  # older gdown versions return None instead of raising
        raise _failed(source, "Google Drive gave no file")
    return target


def _copy(source: IO[bytes], out: IO[bytes], total: int | None, desc: str) -> int:
    """Copy ``source`` to ``out`` with a progress bar on a terminal; the number of bytes copied."""
    from tqdm import tqdm

    written = 0
    with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not sys.stderr.isatty()) as bar:
        while chunk := source.read(1 << 20):
            out.write(chunk)
            bar.update(len(chunk))
            written += len(chunk)
    return written


# --- what came down ---------------------------------------------------------------------------


def check_sha256(data: bytes | Path, expected: str | None, what: str) -> str:
    """The sha256 of ``data`` (bytes, or a file's); one line naming ``what`` when ``expected`` is given and differs."""
    if isinstance(data, Path):
        sha = hashlib.sha256()
        with open(data, "rb") as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
        digest = sha.hexdigest()
    else:
        digest = hashlib.sha256(data).hexdigest()
    if expected is not None and digest != expected:
        raise LitedepthError(f"{what} has sha256 {digest}, not the published file's {expected}")
    return digest


def _members(archive: Path, source: Source) -> Iterator[tuple[str, IO[bytes]]]:
    """``(path inside, open file)`` for every file of a zip archive."""
    if not zipfile.is_zipfile(archive):
        raise LitedepthError(f"{source.label}: the download from {source.url} is not a zip archive")
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                with zf.open(info) as f:
                    yield info.filename, f


def unpack(archive: Path, folder: Path, names: Collection[str], suffix: str, source: Source) -> dict[str, Path]:
    """Name -> extracted file for every ``NAME<suffix>`` of ``names`` in the zip ``archive``, in whatever folder.

    The first of each name wins; macOS ``__MACOSX`` copies are skipped. ``folder`` is made here.
    """
    folder.mkdir()
    found: dict[str, Path] = {}
    try:
        for inside, f in _members(archive, source):
            path = PurePosixPath(inside.replace("\\", "/"))
            name = path.stem
            if path.suffix != suffix or name not in names or name in found or "__MACOSX" in path.parts:
                continue
            found[name] = folder / f"{name}{suffix}"
            with open(found[name], "wb") as out:
                shutil.copyfileobj(f, out, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise LitedepthError(
            f"{source.label}: the download from {source.url} is a damaged archive ({first_line(exc, 200)})"
        ) from None
    return found
