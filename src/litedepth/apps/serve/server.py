"""Serving the demo: the upload limit, the port, Gradio's cache folder, SIGTERM, and `serve` itself."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from ...errors import LitedepthError, first_line
from .app import build_demo
from .extra import gradio_installed
from .names import load_models
from .request import MAX_SIDE
from .session import KEEP_REQUESTS, Session

logger = logging.getLogger(__name__)
MAX_FILE_SIZE = "20mb"  # Gradio's upload limit
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}  # Gradio's (`FileSize`)


def check_port(host: str, port: int) -> None:
    """Refuse with one line a ``host:port`` that cannot be listened on, before anything is loaded or printed.

    Why: Gradio finds out only in ``launch``, after the URL line, and in several lines of its
    own. The probe sets SO_REUSEADDR as uvicorn does, so a port a stopped server left in
    TIME_WAIT is not called busy; it is closed at once (another program may take the port in
    between: `serve` then still says so in one line).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise LitedepthError(f"--host {host}: not an address to listen on ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LitedepthError(f"--port {port}: {host}:{port} is already in use; choose another --port") from None
            raise LitedepthError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None


@contextlib.contextmanager
def gradio_cache_in(folder: Path):
    """Point Gradio's cache (uploads, the outputs it serves) at ``folder`` for the ``with`` block.

    Why: by default it is a /tmp/gradio shared by every app and never emptied; inside the
    session's folder it goes when the session does. Gradio reads GRADIO_TEMP_DIR when it is
    imported (a few folders), when a component or the server is made and on each request, so
    the block must span importing (where this process has not yet), building and launching.
    """
    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = previous


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Make SIGTERM (``kill``, a service manager) stop the server as Ctrl-C does.

    Why: Python's default for SIGTERM ends the process without running ``finally`` blocks, and
    one of them removes the server's temporary folder. Only the main thread can set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_file_size(size: str | int) -> int:
    """An upload limit (``"20mb"``, ``"1.5 GB"``, ``"500kb"``, or bytes as an int) in bytes; one line if it is none.

    Why: Gradio parses it only in ``launch``, after the models are loaded, with a traceback.
    """
    if isinstance(size, int) and not isinstance(size, bool):
        number, unit = size, "b"
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?b)\s*", str(size), re.IGNORECASE)
        if match is None:
            raise LitedepthError(f"--max-file-size {size}: give a number and a unit, such as 20mb, 500kb or 1gb")
        number, unit = float(match.group(1)), match.group(2).lower()
    limit = int(number * _SIZE_UNITS[unit])
    if limit < 1:
        raise LitedepthError(f"--max-file-size {size}: must be at least 1 byte")
    return limit


def serve(
    specs: list[str],
    host: str = "127.0.0.1",
    port: int = 7860,
    max_side: int = MAX_SIDE,
    max_file_size: str = MAX_FILE_SIZE,
    keep: int = KEEP_REQUESTS,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Load every spec (``NAME=PATH`` or a plain `litedepth.load` spec) and serve the demo until interrupted.

    A bad upload limit, a busy port, a repeated name or a bad model is one `LitedepthError` before
    anything is announced. ``announce`` gets the line with the demo's address and model names once
    the app is built, just before it listens (the command prints it; None: logged at INFO).
    Ctrl-C or SIGTERM stops the server, and its temporary folder is removed.
    """
    upload_limit = parse_file_size(max_file_size)
    gradio_installed()
    check_port(host, port)
    models = load_models(specs)
    with (
        sigterm_as_interrupt(),
        Session(models, max_side=max_side, keep=keep) as session,
        gradio_cache_in(session.cache),
    ):
        demo = build_demo(session)
        (announce or logger.info)(f"litedepth serve: http://{host}:{port} ({', '.join(models)})")
        try:
            demo.launch(server_name=host, server_port=port, max_file_size=upload_limit, show_error=True, quiet=True)
        except OSError as exc:  # the port was taken after check_port, say
            raise LitedepthError(f"--port {port}: cannot serve on {host}:{port} ({first_line(exc)})") from None
