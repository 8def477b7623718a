"""`Session`: one server's models and temporary folder (its last requests' files, Gradio's cache), removed when it stops."""

from __future__ import annotations

import collections
import itertools
import re
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path

from ...errors import LitedepthError
from .extra import require_gradio
from .request import MAX_SIDE, estimate
from .uploads import read_upload, without_path

KEEP_REQUESTS = 4  # requests whose downloads a server keeps on disk (Gradio serves its own copies)
_CACHE_ENTRY = re.compile(r"[0-9a-f]{64}")  # a folder of Gradio's cache: the SHA-256 of the file it holds


class Session:
    """One server's models and its temporary folder, which holds the downloads of its last ``keep`` requests.

    Why: every request writes a PNG16, an NPY, a PLY and a GLB (tens of MB for a large photo); a
    demo left running must not fill the disk, and nothing may stay in /tmp once it stops. The
    folder (`tempfile.mkdtemp`) is removed by `close` (or ``with``), and at the latest when the
    session is garbage-collected or the interpreter exits. `answer` is what the demo's button runs.
    Gradio's cache goes in ``cache`` under `serve` (`gradio_cache_in`): Gradio keeps a copy of
    every upload and output there, so each request also prunes it to about the last ``keep``
    requests' files (`prune_cache`).
    """

    def __init__(self, models: dict, max_side: int = MAX_SIDE, keep: int = KEEP_REQUESTS):
        if not models:
            raise LitedepthError("no model to serve: give at least one --model")
        self.models, self.max_side, self.keep = dict(models), max_side, max(1, keep)
        self.folder = Path(tempfile.mkdtemp(prefix="litedepth-serve-"))
        self.cache = self.folder / "gradio"  # Gradio's cache (GRADIO_TEMP_DIR) under `serve`
        self._remove = weakref.finalize(self, shutil.rmtree, str(self.folder), True)
        self._recent: collections.deque[Path] = collections.deque()
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._cached: dict[str, int] = {}  # cache entry -> number of the request it was last seen new at
        self._swept = 0.0  # time.time() of the last `prune_cache`

    def request_folder(self) -> Path:
        """A new folder for one request's files; those of requests older than the last ``keep`` are removed."""
        with self._lock:
            number = next(self._numbers)
            folder = self.folder / "requests" / f"{number:06d}"
            folder.mkdir(parents=True)
            self._recent.append(folder)
            while len(self._recent) > self.keep:
                shutil.rmtree(self._recent.popleft(), ignore_errors=True)
            self.prune_cache(number)
        return folder

    def prune_cache(self, number: int) -> None:
        """Remove the entries of Gradio's cache that no request of the last ``keep`` (``number`` the newest) made or used.

        Gradio copies each upload and output into a folder of its own, named by the file's hash,
        and keeps it until its time-based sweep (`CACHE_AGE_S`). An entry belongs to the request
        at whose start it was first seen, or seen changed (Gradio touches a copy it hands out
        again): the previous request's outputs and this request's upload. The rest goes now.
        Only hash-named folders are touched: Gradio's other folders stay.
        """
        if not self.cache.is_dir():
            return
        now = time.time()
        for entry in self.cache.iterdir():
            if _CACHE_ENTRY.fullmatch(entry.name) and (
                entry.name not in self._cached or _last_change(entry) >= self._swept
            ):
                self._cached[entry.name] = number
        self._swept = now
        for name, seen in list(self._cached.items()):
            if seen <= number - self.keep:
                shutil.rmtree(self.cache / name, ignore_errors=True)
                del self._cached[name]

    def model(self, name: str):
        """The model of dropdown entry ``name`` (an API caller may send any name: one line then)."""
        if name not in self.models:
            raise LitedepthError(f"no model named {name!r}; choose one of: {', '.join(self.models)}")
        return self.models[name]

    def answer(self, photo, name: str, focal: float | None = 0):
        """The demo's handler: ``(view, cloud, latency line, downloads)`` for ``photo`` by model ``name``.

        Any problem is a `gradio.Error` with one readable line and no server path: a bad upload
        says what it is (`read_upload`), anything unexpected names only its type.
        """
        gr = require_gradio()
        try:
            image = read_upload(photo)
            result = estimate(
                self.model(name), image, max_side=self.max_side, focal=focal or None, out=self.request_folder()
            )
        except LitedepthError as exc:
            message = without_path(str(exc), photo) if isinstance(photo, (str, Path)) else str(exc)
            raise gr.Error(message, print_exception=False) from None  # the visitor's problem: no traceback in the log
        except Exception as exc:  # a message, not a crash; the traceback stays in the server's log
            raise gr.Error(f"could not estimate depth for this photo ({exc.__class__.__name__})") from exc
        return result["view"], result["cloud"], result["text"], result["files"]

    @property
    def closed(self) -> bool:
        return not self._remove.alive

    def close(self) -> None:
        """Remove the temporary folder and everything in it (a second call does nothing)."""
        self._remove()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _last_change(entry: Path) -> float:
    """The latest status change (ctime: written, moved in or touched) of a cache folder or a file in it; 0 if gone."""
    try:
        return max([entry.stat().st_ctime] + [p.stat().st_ctime for p in entry.iterdir()])
    except OSError:
        return 0.0
