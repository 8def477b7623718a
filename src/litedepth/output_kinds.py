"""Which existing files litedepth wrote: what ``--overwrite`` may replace.

``--overwrite`` replaces a file only where litedepth wrote it:

* any file in a folder a litedepth command made (it carries the folder marker: the guard,
  `litedepth.outputs.OutputGuard.file`, checks that), such as predict's depth maps;
* elsewhere, a file of one of litedepth's own output kinds that says so (`signed_by_litedepth`): a JSON report with
  ``"written_by": "litedepth"`` (`WRITTEN_BY`: eval and bench ``--json``), the per-image CSV
  of ``eval --per-image`` (by its header), and a network file that carries ``litedepth`` metadata
  (our ``.safetensors``; ONNX, OpenVINO, LiteRT exports; the ``.bin`` beside such an ``.xml``).

Anything else (a user's photo, ground truth, notes, a model from elsewhere) is never replaced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

WRITTEN_BY = "litedepth"  # the "written_by" field of every JSON report
PER_IMAGE_COLUMNS = ("name", "source", "n_valid", "nonpositive")  # the per-image CSV's first columns
SIGNED_SUFFIXES = (".safetensors", ".onnx", ".xml", ".tflite")  # network files that carry litedepth metadata
_SIGNATURE = b"litedepth"
_CHUNK = 1 << 20


def signed_by_litedepth(path: str | os.PathLike) -> bool:
    """Whether the existing file ``path`` is of an output kind of litedepth's and says so (module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text())
            return isinstance(data, dict) and data.get("written_by") == WRITTEN_BY
        if suffix == ".csv":
            with open(path, newline="") as f:
                return tuple(f.readline().strip().split(",")[: len(PER_IMAGE_COLUMNS)]) == PER_IMAGE_COLUMNS
        if suffix == ".bin" and path.with_suffix(".xml").is_file():  # an OpenVINO IR's weights
            return _carries_signature(path.with_suffix(".xml"))
        return suffix in SIGNED_SUFFIXES and _carries_signature(path)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def _carries_signature(path: Path) -> bool:
    """Whether the file's bytes hold litedepth's metadata (read in chunks: network files can be large)."""
    tail = b""
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            if _SIGNATURE in tail + chunk:
                return True
            tail = chunk[-len(_SIGNATURE) :]
    return False
