"""Catalogue schema 2: analysis tables, their cascades, and upgrading a version-1 catalogue."""

from __future__ import annotations

import pytest
from fakes import simple_library, whole_page_stage
from helpers import older_catalogue
from test_runner import run

from comicdesk.library import catalog as catalog_mod
from comicdesk.library import db
from comicdesk.library.catalog import BookRow, Catalog, PageRow
from comicdesk.library.service import ScanOptions, scan_library

V2_TABLES = {"panels", "page_outputs", "runs", "vector_arrays", "vector_rows"}


def tables(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrations_are_ordered_and_version_1_is_untouched():
    assert [m.__name__ for m in catalog_mod.MIGRATIONS][:2] == ["_v1", "_v2"]


def test_a_version_1_catalogue_made_by_this_code_is_upgraded_in_place(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=3, pages=2)
    # A scan by the current code, with the catalogue held at schema version 1.
    with older_catalogue(1):
        first = scan_library(root, settings, options=ScanOptions(executor="inline"))
        cache = settings.library_cache_dir(first.library_id)
        with Catalog.open(cache, readonly=True) as cat:
            assert db.schema_version(cat.conn) == 1 and not V2_TABLES & tables(cat.conn)
            before = [(b.id, b.path, b.content_key) for b in cat.all_books()]
            pages_before = {b.id: cat.pages(b.id) for b in cat.all_books()}
    # A reader of a version-1 catalogue upgrades it (the lock is free) and sees no analysis yet.
    from comicdesk.pipeline.results import read_book_analysis

    got = read_book_analysis(root / "Book 00.cbz", settings)
    assert got is not None and got.panels is None and got.outputs == {}
    with Catalog.open(cache) as cat:  # a writer finds it upgraded
        assert db.schema_version(cat.conn) == len(catalog_mod.MIGRATIONS) and V2_TABLES <= tables(cat.conn)
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


def test_schema_3_stores_page_features_and_text_lines_and_finds_text(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=2, pages=3)
    res = scan_library(root, settings, options=ScanOptions(executor="inline"))
    cache = settings.library_cache_dir(res.library_id)
    with Catalog.open(cache) as cat:
        assert db.schema_version(cat.conn) == len(catalog_mod.MIGRATIONS) >= 3
        a, b = [x.id for x in cat.all_books()]
        with cat.transaction():
            cat.set_page_hashes(a, {0: (-5, {"mean": 0.5}), 1: (7, None)})
            cat.replace_text_boxes(a, {0: ([(1, 2, 30, 8), (1, 12, 40, 8)], [0.9, 0.8], 0.12)})
            cat.set_text(a, {0: [(0, "BUY NOW", 0.97, 2), (1, "only 10 cents", 0.9, -1)]})
            cat.set_page_hashes(b, {0: (-5, None)})
        feats = cat.page_features(a)
        assert feats[0].phash == -5 and feats[0].stats == {"mean": 0.5}
        assert feats[0].text_count == 2 and abs(feats[0].text_coverage - 0.12) < 1e-9
        assert feats[1].text_count is None
        lines = cat.text_lines(a)[0]
        assert [(l.index, l.box, l.text, l.panel) for l in lines] == [
            (0, (1, 2, 30, 8), "BUY NOW", 2), (1, (1, 12, 40, 8), "only 10 cents", -1)]
        assert sorted(cat.all_page_hashes()) == [(a, 0, -5), (a, 1, 7), (b, 0, -5)]
        assert cat.all_page_hashes([b]) == [(b, 0, -5)]
        with cat.transaction():
            cat.set_page_hashes(b, {1: (9, {"std": 0.001})})  # a blank page
        assert (b, 1, 9) in cat.all_page_hashes() and (b, 1, 9) not in cat.all_page_hashes(min_std=0.02)
        assert (a, 0, -5) in cat.all_page_hashes(min_std=0.02)  # no std recorded: kept
        hits = cat.search_text("now CENTS")
        assert [(h[0], h[1]) for h in hits] == [(a, 0)] and "BUY NOW" in hits[0][2]
        assert cat.search_text("dollars") == []
        # Detection again drops the old text; the features row keeps its hash.
        with cat.transaction():
            cat.replace_text_boxes(a, {0: ([(5, 5, 10, 10)], [0.7], 0.01)})
        assert [l.text for l in cat.text_lines(a)[0]] == [None]
        assert cat.page_features(a)[0].phash == -5
