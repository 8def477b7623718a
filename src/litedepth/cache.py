"""litedepth's cache folder: downloaded networks (`litedepth.pretrained`) and sample stores live under it."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_dir() -> Path:
    """litedepth's cache folder: ``$LITEDEPTH_CACHE``, else the platform's user cache folder + ``litedepth``.

    Linux and other Unixes: ``$XDG_CACHE_HOME/litedepth`` (an absolute ``XDG_CACHE_HOME`` only, as the
    XDG specification says), else ``~/.cache/litedepth``; macOS: ``~/Library/Caches/litedepth``;
    Windows: ``%LOCALAPPDATA%\\litedepth\\Cache``. Nothing is created here.
    """
    own = os.environ.get("LITEDEPTH_CACHE")
    if own:
        return Path(own).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "litedepth" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "litedepth"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "litedepth"
