"""The output guard: what a command may write, decided before it does any work.

A command never writes over or into what it did not create in this invocation:

* an **input** of this run (a photo, a dataset folder, a model, a teacher, a calibration set),
  not even with ``--overwrite``;
* a **file that exists**, unless ``--overwrite`` is given;
* a **folder that holds data or another run**: an output folder that exists and is not empty
  must carry the marker (`MARKER`) of an earlier output of the same kind, and is replaced only
  with ``--overwrite`` (or continued, where the command continues: ``train --resume``,
  ``reproduce``).

Every refusal is a `LitedepthError`: one line naming the path and what to do, exit code 2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import LitedepthError
from .fileio import atomic_path, check_output_folder

MARKER = ".litedepth.json"  # {"kind": ..., "state": ...} in every folder a command makes
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
        return [p for p in folder.iterdir() if p.name != MARKER]
    except OSError:
        return []


class OutputGuard:
    """The inputs and outputs of one command; refuses an output that would lose something.

    >>> guard = OutputGuard(overwrite=False)
    >>> guard.add_input("data/nyu", "--data")
    >>> guard.folder("runs/a", "--out", kind="run")          # refused if runs/a holds files of another kind
    >>> guard.file("metrics.json", "--json")                  # refused if metrics.json exists
    """

    def __init__(self, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self.inputs: dict[Path, tuple[str, Path]] = {}  # resolved -> (what, as given)
        self.inodes: dict[tuple[int, int], tuple[str, Path]] = {}  # the same file under another spelling
        self.owners: dict[Path, str] = {}  # resolved output -> who claimed it

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

    def _input_holding(self, target: Path) -> tuple[str, Path] | None:
        """The input that ``target`` is, or lies inside (a folder input), if any."""
        resolved = target.resolve()
        for folder, owner in self.inputs.items():
            if resolved == folder or (owner[1].is_dir() and folder in resolved.parents):
                return owner
        if target.exists():
            st = target.stat()
            return self.inodes.get((st.st_dev, st.st_ino))
        return None

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
        (``source`` names who claims it), an existing file without ``--overwrite``, a folder, and a
        location that cannot be written.
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
        check_output_folder(path.parent if str(path.parent) else Path("."), option)
        self.owners[key] = source or option
        return path

    def folder(self, path: str | os.PathLike, option: str, kind: str, *, continues: bool = False) -> Path:
        """Claim the output folder ``path`` for outputs of ``kind``; returns it (nothing is created).

        A new or empty folder is taken. A folder of another kind, or holding files that no command
        marked, is refused even with ``--overwrite``. One of the same ``kind`` is taken when the
        command ``continues`` earlier outputs (e.g. `reproduce`) or with ``--overwrite``, refused
        otherwise. A folder that is, lies inside or holds an input is refused.
        """
        path = check_output_folder(path, option)
        self._refuse_inputs(path, option)
        held = [owner for folder, owner in self.inputs.items() if path.exists() and path.resolve() in folder.parents]
        if held:
            what, inside = held[0]
            raise LitedepthError(
                f"{option} {path}: holds {inside}, an input of this command ({what}); choose another folder"
            )
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
        return path
