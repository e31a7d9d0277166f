"""One one-line error helper (comicdesk.core.errors): the CLI's and the app's wordings of an OS
error, our own reasons, anything else; and the one whitespace squash the archive readers use."""

from __future__ import annotations

import errno

import pytest

from comicdesk.archive.sevenzip import describe_7z_error
from comicdesk.core.errors import BookError, CorruptArchive, flat, one_line


def test_flat_puts_any_text_on_one_line():
    assert flat("a\n  b\t c\r\n") == "a b c"
    assert flat(ValueError("x\ny")) == "x y"


@pytest.mark.parametrize("exc, book, path", [
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/a.cbz"),
     "file not found", "No such file or directory: /x/a.cbz"),
    (PermissionError(errno.EACCES, "Permission denied"), "permission denied", "Permission denied"),
    (OSError(errno.EIO, "Input/output\nerror", "/x/b.cbz"),
     "cannot read file: Input/output error", "Input/output error: /x/b.cbz"),
])
def test_an_os_error_reads_as_a_books_or_with_its_file(exc, book, path):
    assert one_line(exc) == book
    assert one_line(exc, os_error="path") == path


def test_our_reason_else_the_type_and_text():
    assert one_line(BookError("bad\n book")) == "bad book"
    assert one_line(ValueError("no\n good"), "internal: ") == "internal: ValueError: no good"
    assert one_line(KeyError()) == "KeyError"
    assert one_line(OSError("no strerror"), os_error="path") == "OSError: no strerror"


def test_the_7z_reader_squashes_a_codec_message_with_the_same_helper():
    pytest.importorskip("py7zr")
    err = describe_7z_error(EOFError())
    assert isinstance(err, CorruptArchive)
    import lzma

    err = describe_7z_error(lzma.LZMAError("Corrupt\n   input data"))
    assert err.reason == "damaged 7z archive: Corrupt input data"
