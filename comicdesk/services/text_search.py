"""One text search for every front end (``comicdesk similar --text`` and the app's search box):
the panels and pages whose recognised text holds the query's words first (exact: whole words,
case- and accent-insensitive; ``match="words"``), then the panels closest in meaning (the
profile's text vectors; ``match="meaning"``), a result never twice. Filters (other books only,
classes, series) apply to both parts alike.

The two parts are separate calls so that a front end can show the words at once and the meaning
results when the text encoder has answered (:func:`words_first`, :func:`meaning_after`);
:func:`text_search` is both in one call.
"""

from __future__ import annotations

from comicdesk.search.service import Filters, Hit, SearchService

WORDS = "words"
MEANING = "meaning"


def _key(h: Hit) -> tuple[int, int, int | None]:
    return (h.book_id, h.page, h.panel)


def words_first(svc: SearchService, query: str, k: int, filters: Filters = Filters(), *,
                query_book: int | None = None) -> list[Hit]:
    """At most ``k`` word matches of ``query`` in ``svc``'s library, best first."""
    return svc.words(query, k, filters, query_book=query_book)


def meaning_after(svc: SearchService, query: str, k: int, filters: Filters = Filters(), *,
                  words: list[Hit] = (), query_book: int | None = None) -> list[Hit]:
    """The meaning matches that complete ``words`` to ``k`` results (none of them a word match
    already shown); [] when the library has no text vectors."""
    room = k - len(words)
    if room <= 0 or svc.available("text") is None:
        return []
    seen = {_key(h) for h in words}
    hits = svc.similar_to_text(query, room + len(seen), filters, query_book=query_book)
    return [h for h in hits if _key(h) not in seen][:room]


def text_search(svc: SearchService, query: str, k: int, filters: Filters = Filters(), *,
                query_book: int | None = None) -> list[Hit]:
    """Words first, then meaning, ``k`` results at most."""
    words = words_first(svc, query, k, filters, query_book=query_book)
    return words + meaning_after(svc, query, k, filters, words=words, query_book=query_book)


def merge(per_library: list[list[Hit]], k: int) -> list[Hit]:
    """Results of several libraries as one list: every word match (best first) before every
    meaning match (best first), ``k`` at most."""
    hits = [h for part in per_library for h in part]
    words = sorted((h for h in hits if h.match == WORDS), key=lambda h: -h.score)
    meaning = sorted((h for h in hits if h.match != WORDS), key=lambda h: -h.score)
    return (words + meaning)[:k]


__all__ = ["MEANING", "WORDS", "merge", "meaning_after", "text_search", "words_first"]
