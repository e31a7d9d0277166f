"""The pages worth comparing for repeats: the perceptual hashes of the live books' pages, flat
pages left out. ``comicdesk duplicates`` (``comicdesk.search.duplicates``) groups them; the page
classifier counts a page's repeats from them (``comicdesk.pipeline.signals.repeats_for_book``)."""

from __future__ import annotations

#: A page whose image statistics say it is (nearly) one flat colour is not compared: its hash is
#: noise around a flat image.
FLAT_STD = 0.02


def hashed_pages(catalog, book_ids=None):
    """``(book_id, page, phash)`` rows of the live books' pages, flat pages left out (one query)."""
    return catalog.all_page_hashes(book_ids, min_std=FLAT_STD)
