"""Catalogue schema 2: analysis tables, their cascades, and upgrading a version-1 catalogue."""

from __future__ import annotations

import pytest
from fakes import simple_library, whole_page_stage
from test_runner import run

from comicdesk.library import catalog as catalog_mod
from comicdesk.library import db
from comicdesk.library.catalog import BookRow, Catalog, PageRow
from comicdesk.library.service import ScanOptions, scan_library

V2_TABLES = {"panels", "page_outputs", "runs", "vector_arrays", "vector_rows"}


def tables(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrations_are_ordered_and_version_1_is_untouched():
    assert [m.__name__ for m in catalog_mod.MIGRATIONS] == ["_v1", "_v2"]


def test_a_version_1_catalogue_made_by_this_code_is_upgraded_in_place(tmp_path, settings, monkeypatch):
    root = tmp_path / "lib"
    simple_library(root, books=3, pages=2)
    # A scan by the current code, with the catalogue held at schema version 1.
    monkeypatch.setattr(catalog_mod, "MIGRATIONS", catalog_mod.MIGRATIONS[:1])
    first = scan_library(root, settings, options=ScanOptions(executor="inline"))
    cache = settings.library_cache_dir(first.library_id)
    with Catalog.open(cache, readonly=True) as cat:
        assert db.schema_version(cat.conn) == 1 and not V2_TABLES & tables(cat.conn)
        before = [(b.id, b.path, b.content_key) for b in cat.all_books()]
        pages_before = {b.id: cat.pages(b.id) for b in cat.all_books()}
    monkeypatch.undo()
    # Readers of a version-1 catalogue see no analysis instead of failing.
    from comicdesk.pipeline.results import read_book_analysis

    assert read_book_analysis(root / "Book 00.cbz", settings) is None
    with Catalog.open(cache) as cat:  # a writer upgrades it
        assert db.schema_version(cat.conn) == 2 and V2_TABLES <= tables(cat.conn)
        assert [(b.id, b.path, b.content_key) for b in cat.all_books()] == before
        assert {b.id: cat.pages(b.id) for b in cat.all_books()} == pages_before
    # ... and everything goes on from there: rescans and analysis.
    again = scan_library(root, settings, options=ScanOptions(executor="inline"))
    assert again.unchanged == 3
    result, _ = run(cache, [whole_page_stage()])
    assert result.done == 3


def test_a_content_change_or_a_purge_drops_the_analysis_hanging_off_pages(tmp_path):
    with Catalog.open(tmp_path) as cat, cat.transaction():
        b = cat.insert_book(BookRow(None, "/x/a.cbz", "k1", "zip", 1, 1, 2, "a", None, None),
                            [PageRow(0, "0.jpg", 1, 10, 10), PageRow(1, "1.jpg", 1, 10, 10)], 0.0)
        cat.replace_panels(b, {0: [(0, 0, 5, 5), (5, 5, 5, 5)], 1: [(0, 0, 10, 10)]})
        cat.set_page_output(b, 0, "m", "1", "cover", {"cover": 0.9}, "model", 0.0)
        cat.add_vector_array("m", "page_image", 4, "float16", False)
        cat.map_vector_rows("m", "page_image", 0, [(b, 0, -1, 0), (b, 0, 0, 1), (b, 1, -1, 2)])
        cat.set_run(b, "panels", "v1", 1, "done", "k1", None, 0.0)
        assert cat.panels(b) == {0: [(0, 0, 5, 5), (5, 5, 5, 5)], 1: [(0, 0, 10, 10)]}
        # New panels for page 0 unmap its panel-level vectors, not its page-level one.
        cat.replace_panels(b, {0: [(1, 1, 8, 8)]})
        assert [r[:3] for r in cat.vector_rows("m", "page_image")] == [(b, 0, -1), (b, 1, -1)]
        # A content change replaces the pages: panels, outputs and vector rows go with them; the
        # run stays but names the old content key, so it no longer counts.
        cat.replace_book(b, BookRow(None, "/x/a.cbz", "k2", "zip", 2, 2, 1, "a", None, None),
                         [PageRow(0, "0.jpg", 1, 10, 10)], 1.0)
        assert cat.panels(b) == {} and cat.page_outputs(b) == {} and cat.vector_rows("m", "page_image") == []
        assert cat.runs([b])[b]["panels"].content_key == "k1"
        cat.tombstone([b], now=1.0)
        cat.purge_tombstones(now=1.0 + 40 * 86400)
        assert cat.runs() == {}
    with pytest.raises(Exception):
        with Catalog.open(tmp_path) as cat, cat.transaction():
            cat.set_page_output(b, 0, "m", "1", "cover", None, "guess", 0.0)  # not a known source
