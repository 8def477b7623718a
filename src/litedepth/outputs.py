"""The output guard: what a command may write, decided before it does any work.

A command never writes over or into what it did not create in this invocation:

* an **input** of this run (a photo, a dataset folder, a model, a teacher, a calibration set),
  not even with ``--overwrite``;
* a **file that exists**, unless ``--overwrite`` is given, and then only one that litedepth
  wrote (in a folder a command made, or of its own output kinds: `litedepth.output_kinds`);
* a **folder that holds data or another run**: an output folder that exists and is not empty
  must carry the marker (`MARKER`) of an earlier output of the same kind, and is replaced only
  with ``--overwrite`` (or continued, where the command continues: ``train --resume``,
  ``reproduce``).

The files that an input CSV or image list names are inputs too (`OutputGuard.add_listed`).

One command at a time per output folder: a claimed folder is locked (`lock_folder`, an OS file
lock on `LOCK` inside it, freed by the kernel when the process dies) until the innermost
`held_locks` scope ends (the command, a training run); a second command on it is refused,
naming the process that holds it.

Every refusal is a `LitedepthError`: one line naming the path and what to do, exit code 2.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import LitedepthError
from .fileio import atomic_path, check_output_folder
from .output_kinds import signed_by_litedepth

try:
    import fcntl
except ImportError:  # Windows: folders are not locked
    fcntl = None

MARKER = ".litedepth.json"  # {"kind": ..., "state": ...} in every folder a command makes
LOCK = ".litedepth.lock"  # {"pid": ..., "command": ...} of the process using a folder, held with flock
HIDDEN = (MARKER, LOCK)  # litedepth's own files: they do not make a folder "not empty"
OVERWRITE_HINT = "give --overwrite to replace it, or choose another path"


def read_marker(folder: str | os.PathLike) -> dict | None:
    """The marker of an output folder, or None when it has none (or an unreadable one)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(folder: str | os.PathLike, kind: str, **fields) -> None:
    """Mark ``folder`` as an output of ``kind`` (``fields``: e.g. ``state="finished"``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / MARKER) as tmp:
        tmp.write_text(json.dumps({"kind": kind, **fields}, indent=1) + "\n")


def _unmarked_kind(folder: Path) -> dict | None:
    """Run and study folders written before folders had markers, recognised by their files."""
    if (folder / "config.yaml").is_file() and any(
        (folder / name).is_file() for name in ("last.pt", "model.safetensors")
    ):
        return {"kind": "run", "state": "finished" if (folder / "model.safetensors").is_file() else "unfinished"}
    if (folder / "runs").is_dir() and ((folder / "results.json").is_file() or (folder / "data").is_dir()):
        return {"kind": "reproduce"}
    return None


def folder_kind(folder: str | os.PathLike) -> dict | None:
    """What a command wrote in ``folder``: its marker, or what its files say for older folders; None if neither."""
    return read_marker(folder) or _unmarked_kind(Path(folder))


def _visible_entries(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.name not in HIDDEN]
    except OSError:
        return []


@dataclass
class _Lock:
    fd: int  # the open lock file, flock-ed
    path: Path  # the lock file
    made: list[Path]  # folders made to hold it, innermost first (removed on release when empty)
    pid: int  # the process that took it (a forked child does not own its parent's locks)


_HELD: dict[Path, _Lock] = {}  # resolved folder -> the lock this process holds on it
_SCOPES: list[list[Path]] = []  # the folders locked in each open `held_locks` scope


@contextlib.contextmanager
def held_locks():
    """The folder locks taken inside are released on leaving (a ``with`` block or a function decorator)."""
    _SCOPES.append([])
    try:
        yield
    finally:
        for key in reversed(_SCOPES.pop()):
            release_folder(key)


def lock_folder(folder: str | os.PathLike, option: str = "--out") -> bool:
    """Lock ``folder`` for this process (made if new), or refuse in one line naming the process using it.

    Held until the innermost `held_locks` scope ends (or the process does: the kernel frees the
    lock of a killed process, whose lock file is then taken over). True when taken now, False
    when this process already holds it (or folders cannot be locked here).
    """
    folder = Path(folder)
    key = folder.resolve()
    held = _HELD.get(key)
    if fcntl is None or (held is not None and held.pid == os.getpid()):
        return False
    made = []
    existing = folder
    while not existing.exists() and existing != existing.parent:
        made.append(existing)
        existing = existing.parent
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LitedepthError(
                f"{option} {folder}: cannot make {exc.filename or folder} ({exc.strerror or exc})"
            ) from None
        fd = _take(key / LOCK, option, folder)
    except BaseException:
        _remove_empty(made)
        raise
    if fd is None:
        _remove_empty(made)
        return False
    _HELD[key] = _Lock(fd, key / LOCK, made, os.getpid())
    if _SCOPES:
        _SCOPES[-1].append(key)
    return True


def _take(lock_path: Path, option: str, folder: Path) -> int | None:
    """The flock-ed descriptor of ``lock_path`` holding who took it; None where the file system has no locks."""
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LitedepthError(f"{option} {folder}: cannot lock it ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LitedepthError(
                f"{option} {folder}: in use by {holder}; wait for it to end or choose another folder"
            ) from None
        except OSError:  # no locks on this file system: go on unlocked
            os.close(fd)
            with contextlib.suppress(OSError):
                lock_path.unlink()
            return None
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            break
        os.close(fd)  # its holder removed the file as we waited for it: lock the new one
    command = " ".join(" ".join([Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]).split())
    command = command if len(command) <= 160 else command[:157] + "..."
    with contextlib.suppress(OSError):  # a full disk: still locked, the holder unnamed
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": command}).encode())
    return fd


def _holder(fd: int) -> str:
    """``process PID (COMMAND)`` from a lock file, as its holder wrote it."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return "another process"
    command = data.get("command")
    return f"process {data['pid']}" + (f" ({command})" if isinstance(command, str) and command else "")


def release_folder(folder: str | os.PathLike) -> None:
    """Free this process's lock on ``folder``: its lock file removed, then a folder made for it if still empty."""
    key = Path(folder).resolve()
    held = _HELD.get(key)
    if held is None or held.pid != os.getpid():
        return
    del _HELD[key]
    with contextlib.suppress(OSError):
        held.path.unlink()  # while still locked: a process waiting on this file sees it gone and retries
    os.close(held.fd)
    _remove_empty(held.made)


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # innermost first
        try:
            folder.rmdir()
        except OSError:
            return


@atexit.register
def _release_all() -> None:
    for key in list(_HELD):
        release_folder(key)


def _relative(path: str, folder: str) -> str:
    """``path`` relative to ``folder``; ``path`` itself where it has no such spelling (another drive)."""
    try:
        return os.path.relpath(path, folder)
    except ValueError:
        return path


def _lies_in(name: str, folder: str) -> bool:
    """Whether the normalised path ``name`` lies in ``folder`` (both absolute, or both relative to one folder)."""
    if folder == ".":
        return not (os.path.isabs(name) or name == os.pardir or name.startswith(os.pardir + os.sep))
    return name.startswith(folder + os.sep)


class OutputGuard:
    """The inputs and outputs of one command; refuses an output that would lose something.

    >>> guard = OutputGuard(overwrite=False)
    >>> guard.add_input("data/nyu", "--data")
    >>> guard.add_listed(listed_files("data/nyu"), "--data")  # litedepth.data.listed: what its CSVs name
    >>> guard.folder("runs/a", "--out", kind="run")          # refused if runs/a holds files of another kind
    >>> guard.file("metrics.json", "--json")                  # refused if metrics.json exists
    """

    def __init__(self, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self.inputs: dict[Path, tuple[str, Path]] = {}  # resolved -> (what, as given)
        self.inodes: dict[tuple[int, int], tuple[str, Path]] = {}  # the same file under another spelling
        self.owners: dict[Path, str] = {}  # resolved output -> who claimed it
        self.listed: list[tuple[str, frozenset[str], tuple[str, ...]]] = []  # (what, names, folders) per list
        self.claimed: list[Path] = []  # resolved output folders claimed (new, empty or a command's own)

    def add_input(self, path: str | os.PathLike | None, what: str = "input") -> None:
        """Register a file or folder this command reads; nothing is ever written over or into it."""
        if path is None:
            return
        path = Path(path)
        if not path.exists():
            return  # not a path (an architecture name, a hub name) or reported by whoever reads it
        self.inputs[path.resolve()] = (what, path)
        st = path.stat()
        self.inodes[(st.st_dev, st.st_ino)] = (what, path)

    def add_listed(self, lists: Mapping[Path, tuple[Iterable[str], Iterable[Path]]], what: str = "input") -> None:
        """Register the files that CSVs or image lists name: inputs like the lists themselves, wherever they lie.

        ``lists``: ``{list file: (names as written, folders that relative names are read against)}``
        (`litedepth.data.listed.listed_files`). Kept as a set of names: an output is matched by its
        path relative to each folder, so that a list of many thousand rows costs no file system call.
        """
        for source, (names, bases) in lists.items():
            folders = tuple(dict.fromkeys(f for base in bases for f in (os.path.abspath(base), os.path.realpath(base))))
            self.listed.append((f"named by {source}, {what}", frozenset(map(os.path.normpath, names)), folders))

    def _input_holding(self, target: Path) -> tuple[str, Path] | None:
        """The input that ``target`` is, or lies inside (a folder input), if any."""
        resolved = target.resolve()
        for folder, owner in self.inputs.items():
            if resolved == folder or (owner[1].is_dir() and folder in resolved.parents):
                return owner
        if target.exists():
            st = target.stat()
            if (st.st_dev, st.st_ino) in self.inodes:
                return self.inodes[(st.st_dev, st.st_ino)]
        for spelling in dict.fromkeys((os.path.abspath(target), str(resolved))):
            for what, names, folders in self.listed:
                for rel in (spelling, *(_relative(spelling, folder) for folder in folders)):
                    if rel in names:
                        return what, Path(spelling)
        return None

    def _inputs_inside(self, folder: Path) -> list[tuple[str, Path]]:
        """The inputs (registered or listed) that lie inside the existing ``folder``."""
        if not folder.exists():
            return []
        resolved = folder.resolve()
        held = [owner for path, owner in self.inputs.items() if resolved in path.parents]
        for spelling in dict.fromkeys((os.path.abspath(folder), str(resolved))):
            for what, names, folders in self.listed:
                for base in ("", *folders):
                    rel = _relative(spelling, base) if base else spelling
                    inside = next((name for name in names if _lies_in(name, rel)), None)
                    if inside is not None:
                        held.append((what, Path(base, inside)))
        return held

    def _refuse_inputs(self, target: Path, option: str, source: str | None = None) -> None:
        owner = self._input_holding(target)
        if owner is not None:
            what, path = owner
            output = f"the output {target}" + (f" of {source}" if source else "")
            how = (
                "would overwrite the input"
                if target.resolve() == path.resolve()
                else "would be written inside the input"
            )
            raise LitedepthError(
                f"{option}: {output} {how} {path} ({what}); choose another {option} "
                "(inputs are never written, not even with --overwrite)"
            )

    def file(self, path: str | os.PathLike, option: str, source: str | None = None) -> Path:
        """Claim the output file ``path`` (given by ``option``); returns it as a `Path`.

        Refused: an input of this command or a file inside an input folder, a path claimed twice
        (``source`` names who claims it), an existing file without ``--overwrite`` (with it: one
        that litedepth did not write, `litedepth.output_kinds`), a folder, and a location that
        cannot be written.
        """
        path = Path(path)
        self._refuse_inputs(path, option, source)
        key = path.resolve()
        if key in self.owners:
            first = self.owners[key]
            raise LitedepthError(
                f"{first} and {source or option}: both would be written to {path}; rename one or run them separately"
            )
        if path.is_dir():
            raise LitedepthError(f"{option} {path}: is a folder; give a file name")
        if path.exists() and not self.overwrite:
            raise LitedepthError(f"{option} {path}: exists; {OVERWRITE_HINT}")
        in_claimed = any(folder in key.parents for folder in self.claimed)  # a folder a command made
        if path.exists() and not (in_claimed or folder_kind(path.parent) or signed_by_litedepth(path)):
            raise LitedepthError(
                f"{option} {path}: exists and litedepth did not write it; it is not replaced, not even with "
                "--overwrite: move it away or choose another path"
            )
        check_output_folder(path.parent if str(path.parent) else Path("."), option)
        self.owners[key] = source or option
        return path

    def folder(
        self, path: str | os.PathLike, option: str, kind: str, *, continues: bool = False, lock: bool = True
    ) -> Path:
        """Claim the output folder ``path`` for outputs of ``kind``; returns it.

        A new or empty folder is taken. A folder of another kind, or holding files that no command
        marked, is refused even with ``--overwrite``. One of the same ``kind`` is taken when the
        command ``continues`` earlier outputs (e.g. `reproduce`) or with ``--overwrite``, refused
        otherwise. A folder that is, lies inside or holds an input is refused. With ``lock``, the
        folder is made and locked for this process (`lock_folder`): a folder in use by another
        process is refused first, naming it; a refusal leaves no lock and no folder made.
        """
        path = check_output_folder(path, option)
        self._refuse_inputs(path, option)
        held = self._inputs_inside(path)
        if held:
            what, inside = held[0]
            raise LitedepthError(
                f"{option} {path}: holds {inside}, an input of this command ({what}); choose another folder"
            )
        took = lock_folder(path, option) if lock else False
        try:
            self._check_folder_kind(path, option, kind, continues)
        except LitedepthError:
            if took:
                release_folder(path)
            raise
        self.claimed.append(path.resolve())
        return path

    def _check_folder_kind(self, path: Path, option: str, kind: str, continues: bool) -> None:
        if path.is_dir() and _visible_entries(path):
            marker = folder_kind(path)
            if marker is None or marker.get("kind") != kind:
                found = (
                    f"a litedepth {marker.get('kind')} folder" if marker else "files that litedepth did not write here"
                )
                raise LitedepthError(
                    f"{option} {path}: holds {found}; choose a new or empty folder for the {kind} output"
                )
            if not (continues or self.overwrite):
                raise LitedepthError(f"{option} {path}: holds an earlier {kind} output; {OVERWRITE_HINT}")
