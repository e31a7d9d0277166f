"""Errors that carry one clear, human-readable reason.

Every error a person may see derives from :class:`ComicdeskError`; its ``str()`` is a single line
meant for them (no traceback, no Python jargon). ``kind`` is a short stable code for programs and
tests.
"""

from __future__ import annotations


def flat(text: object) -> str:
    """Any text on one line: runs of whitespace (newlines included) become one space."""
    return " ".join(str(text).split())


class ComicdeskError(Exception):
    kind = "error"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = flat(reason)  # always one line


class BookError(ComicdeskError):
    """A book (container) cannot be read at all."""

    kind = "unreadable"


class UnsupportedFormat(BookError):
    kind = "unsupported"


class CorruptArchive(BookError):
    kind = "corrupt"


class PasswordProtected(BookError):
    kind = "password-protected"


class NoImages(BookError):
    kind = "no-images"


class TooLarge(BookError):
    """An entry or page is larger than the safety limits allow (zip bomb and friends)."""

    kind = "too-large"


class PageError(ComicdeskError):
    """One page cannot be decoded; the book stays readable and the page keeps its slot."""

    kind = "bad-page"


def file_error(exc: OSError) -> BookError:
    """The one-line :class:`BookError` for an operating-system error opening or reading a book."""
    if isinstance(exc, FileNotFoundError):
        return BookError("file not found")
    if isinstance(exc, PermissionError):
        return BookError("permission denied")
    return BookError(f"cannot read file: {exc.strerror or exc}")


def one_line(exc: BaseException, unexpected: str = "", *, os_error: str = "book") -> str:
    """The one-line reason to show for any exception: our own reason, an OS error, else
    ``unexpected`` + the exception's type and text (a bug of ours, kept short).

    ``os_error`` says how an OS error reads: ``"book"`` — a book being opened or read, in plain
    words (:func:`file_error`: "file not found"); ``"path"`` — the system's words and the file's
    name ("No such file or directory: /x/a.cbz"), for the app's messages, where the file may be
    any (a folder, a settings file, an export target)."""
    reason = getattr(exc, "reason", None)
    if reason:
        return flat(reason)
    if isinstance(exc, OSError):
        if os_error != "path":
            return file_error(exc).reason
        if exc.strerror:
            return flat(f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror)
    text = str(exc)
    return flat(f"{unexpected}{type(exc).__name__}{': ' + text if text else ''}")
