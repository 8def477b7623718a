"""Gradio, the ``[demo]`` extra: checked for without importing it, imported only where it is used."""

from __future__ import annotations

import importlib.util

from ...errors import LitedepthError

NEEDS_GRADIO = "the web demo needs Gradio: pip install 'litedepth[demo]'"


def gradio_installed() -> None:
    """Refuse with one line a Python without Gradio, without importing it.

    Why: Gradio fixes some of its folders (GRADIO_TEMP_DIR) when it is imported; `serve`
    imports it only once its own temporary folder is set (`gradio_cache_in`).
    """
    try:
        found = importlib.util.find_spec("gradio") is not None
    except (ImportError, ValueError):  # ValueError: a module entry without a spec (None: blocked)
        found = False
    if not found:
        raise LitedepthError(NEEDS_GRADIO)


def require_gradio():
    """Gradio, imported, or a one-line `LitedepthError` saying how to install it."""
    try:
        import gradio
    except ImportError:
        raise LitedepthError(NEEDS_GRADIO) from None
    return gradio
