"""Text as it is stored and shown (standard library only)."""

from __future__ import annotations


def clean_text(text: str | None) -> str | None:
    """Text for a TEXT column or a line on a terminal: characters that cannot be UTF-8 (undecodable
    bytes of a file name, carried as lone surrogates) become U+FFFD. For display only; the
    catalogue keeps paths exactly (:func:`comicdesk.library.db.path_to_db`)."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "replace")
