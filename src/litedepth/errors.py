"""The one exception type that the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

import difflib
import errno
import re


class LitedepthError(Exception):
    """A user-facing problem with an input: a file, a value or an architecture.

    The message must name the file (or value) and the problem on one line, e.g.
    ``LitedepthError("photos/a.jpg: not a readable image (cannot identify image file)")``.
    """


def did_you_mean(name: str, known, cutoff: float = 0.5) -> str:
    """`` (did you mean 'x'?)`` for the name in ``known`` closest to ``name``, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of ``exc``'s message (at most ``limit`` characters), or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else exc.__class__.__name__


_WHERE_IN_SOURCE = re.compile(r"^(?:Exception from|Check '.*' failed at) \S+:\d+:?$")  # OpenVINO's C++ locations


def reason_of(exc: BaseException, limit: int = 160) -> str:
    """What ``exc``'s message says went wrong, in whole words: C++ source locations left out (OpenVINO's
    ``Exception from src/...cpp:84:`` heads its real message), lines joined, and a long text cut at the
    end of a sentence or a word, never inside a parenthesis; the type's name when nothing is left."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(line for line in lines if not _WHERE_IN_SOURCE.match(line)) or " ".join(lines)
    if len(text) > limit:
        head = text[:limit]
        sentence = max(head.rfind(". "), head.rfind("! "), head.rfind("; "))
        text = head[: sentence + 1] if sentence > limit // 3 else head.rsplit(" ", 1)[0] + " ..."
        while text.count("(") > text.count(")"):
            text = text[: text.rfind("(")].rstrip(" ,;:") + " ..."
    return text.rstrip(" :") or exc.__class__.__name__


# ENOSPC (the disk is full), EFBIG (a file size limit: RLIMIT_FSIZE, the filesystem's own), EDQUOT (a quota):
# to the user, all three say that the output does not fit where it was to be written
DISK_FULL_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", None)) if code is not None
)
DISK_FULL_WORDS = ("no space left on device", "file too large", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says that a write did not fit: an `OSError` with one of
    `DISK_FULL_ERRNOS`, or a converter's error whose text quotes the system's words for them."""
    seen: list[BaseException] = []
    while isinstance(exc, BaseException) and not any(exc is s for s in seen):
        seen.append(exc)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if any(words in str(exc).lower() for words in DISK_FULL_WORDS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
