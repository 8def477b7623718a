"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class LitedepthError(Exception):
    """A user-facing problem with an input: a file, a value or an architecture.

    The message must name the file (or value) and the problem on one line, e.g.
    ``LitedepthError("photos/a.jpg: not a readable image (cannot identify image file)")``.
    """
