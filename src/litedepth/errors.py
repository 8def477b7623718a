"""The one exception type that the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class LitedepthError(Exception):
    """A user-facing problem with an input: a file, a value or an architecture.

    The message must name the file (or value) and the problem on one line, e.g.
    ``LitedepthError("photos/a.jpg: not a readable image (cannot identify image file)")``.
    """


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of ``exc``'s message (at most ``limit`` characters), or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else exc.__class__.__name__
