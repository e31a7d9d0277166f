"""Catalogue schema 4: compact vector-row mappings, packed text lines, probabilities as lists —
and upgrading a schema-3 catalogue that already holds analysis."""

from __future__ import annotations

import json

from fakes import simple_library
from helpers import older_catalogue, scan_as_older

from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.library import catalog as catalog_mod
from comicdesk.library import db
from comicdesk.library.catalog import Catalog, TextLineRow
from comicdesk.library.service import ScanOptions, scan_library

PROBS = {c: round(0.01 * (i + 1), 6) for i, c in enumerate(PAGE_CLASSES)}
STATS = {k: round(0.1 * (i + 1), 5) for i, k in enumerate(catalog_mod.STATS_NAMES)} | {"std": 0.001}  # flat


def _fill(cat: Catalog, a: int, b: int) -> None:
    with cat.transaction():
        cat.add_vector_array("standard-1", "page_image", 4, "float16", False)
        cat.add_vector_array("standard-1", "panel_emb", 4, "float16", True)
        cat.map_vector_rows("standard-1", "page_image", 0, [(a, 0, -1, 0), (a, 1, -1, 1), (b, 0, -1, 2)])
        cat.map_vector_rows("standard-1", "panel_emb", 0, [(a, 0, 0, 0), (a, 0, 1, 1), (b, 0, 0, 2)])
        cat.replace_text_boxes(a, {0: ([(1, 2, 30, 8), (1, 12, 40, 8), (3, 30, 9, 9)], [0.9, 0.8123, 0.5], 0.12),
                                   1: ([], [], 0.0)})
        cat.set_text(a, {0: [(0, "BUY NOW", 0.97, 2), (1, "only 10 cents", 0.9, -1)]})
        cat.set_page_output(a, 0, "standard-1", "v", "cover", PROBS, "model", 1.0)
        cat.set_page_output(a, 1, "other", "v", "story", {"story": 0.5, "odd": 0.5}, "model", 1.0)
        cat.set_page_hashes(a, {0: (-5, STATS), 1: (7, {"mean": 0.5})})


def _check(cat: Catalog, a: int, b: int) -> None:
    assert cat.vector_rows("standard-1", "page_image") == [(a, 0, -1, 0), (a, 1, -1, 1), (b, 0, -1, 2)]
    assert cat.vector_rows("standard-1", "panel_emb", book_ids=[b]) == [(b, 0, 0, 2)]
    assert cat.count_vector_rows("standard-1", "panel_emb") == 3
    lines = cat.text_lines(a)
    assert list(lines) == [0]  # a page where detection found nothing has no lines
    assert [(r.index, r.box, r.score, r.panel, r.text, r.conf) for r in lines[0]] == [
        (0, (1, 2, 30, 8), 0.9, 2, "BUY NOW", 0.97),
        (1, (1, 12, 40, 8), 0.8123, -1, "only 10 cents", 0.9),
        (2, (3, 30, 9, 9), 0.5, -1, None, None)]
    assert [(h[0], h[1], h[2]) for h in cat.search_text("cents buy")] == [(a, 0, "BUY NOW only 10 cents")]
    outs = cat.page_outputs(a)
    assert outs[0][0].probs == PROBS and list(outs[0][0].probs) == list(PAGE_CLASSES)
    assert outs[1][0].probs == {"story": 0.5, "odd": 0.5}
    feats = cat.page_features(a)
    assert feats[0].stats == STATS and feats[1].stats == {"mean": 0.5}
    # The flat page (std 0.001) is left out of duplicate search, whichever way its stats are stored.
    assert [h[:2] for h in cat.all_page_hashes(min_std=0.02)] == [(a, 1)]


def test_schema_4_round_trips_what_the_analysis_stores(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=2, pages=2)
    res = scan_library(root, settings, options=ScanOptions(executor="inline"))
    cache = settings.library_cache_dir(res.library_id)
    with Catalog.open(cache) as cat:
        a, b = [x.id for x in cat.all_books()]
        _fill(cat, a, b)
        _check(cat, a, b)
        # Stored compactly: probabilities as a list, one text row per page.
        raw = cat.conn.execute("SELECT probs FROM page_outputs WHERE model_id = 'standard-1'").fetchone()[0]
        assert json.loads(raw) == [PROBS[c] for c in PAGE_CLASSES]
        raw = cat.conn.execute("SELECT stats FROM page_features WHERE page = 0 AND book_id = ?", (a,)).fetchone()[0]
        assert json.loads(raw) == [STATS[k] for k in catalog_mod.STATS_NAMES]
        assert cat.conn.execute("SELECT count(*) FROM text_lines").fetchone()[0] == 2
        # Unmapping by array and by book; a panel change drops panel rows only.
        with cat.transaction():
            assert cat.delete_vector_rows([b], "standard-1", "panel_emb") == 1
            cat.replace_panels(a, {0: [(0, 0, 5, 5)]})
        assert cat.vector_rows("standard-1", "panel_emb") == []
        assert len(cat.vector_rows("standard-1", "page_image")) == 3
        with cat.transaction():
            cat.remap_vector_rows("standard-1", "page_image", 1, [(0, 5), (1, 6), (2, 7)])
        assert [r[3] for r in cat.vector_rows("standard-1", "page_image")] == [5, 6, 7]


def test_a_schema_3_catalogue_with_analysis_is_upgraded_keeping_it(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=2, pages=2)
    with older_catalogue(3):
        res = scan_library(root, settings, options=ScanOptions(executor="inline"))
        cache = settings.library_cache_dir(res.library_id)
        with Catalog.open(cache) as cat:
            assert db.schema_version(cat.conn) == 3
            a, b = [x.id for x in cat.all_books()]
            # Schema-3 rows, written the way schema-3 code wrote them.
            with cat.transaction():
                for m, arr in (("standard-1", "page_image"), ("standard-1", "panel_emb")):
                    cat.conn.execute("INSERT INTO vector_arrays(model_id, array, dims, dtype) VALUES (?,?,4,'float16')",
                                     (m, arr))
                cat.conn.executemany(
                    "INSERT INTO vector_rows(model_id, array, book_id, page, panel, row, generation) VALUES (?,?,?,?,?,?,0)",
                    [("standard-1", "page_image", a, 0, -1, 0), ("standard-1", "page_image", a, 1, -1, 1),
                     ("standard-1", "page_image", b, 0, -1, 2), ("standard-1", "panel_emb", a, 0, 0, 0),
                     ("standard-1", "panel_emb", a, 0, 1, 1), ("standard-1", "panel_emb", b, 0, 0, 2)])
                cat.conn.executemany(
                    "INSERT INTO text_lines(book_id, page, idx, x, y, w, h, score, panel, text, conf) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [(a, 0, 0, 1, 2, 30, 8, 0.9, 2, "BUY NOW", 0.97), (a, 0, 1, 1, 12, 40, 8, 0.8123, -1, "only 10 cents", 0.9),
                     (a, 0, 2, 3, 30, 9, 9, 0.5, -1, None, None)])
                cat.conn.executemany("INSERT INTO page_features(book_id, page, phash, stats) VALUES (?,?,?,?)",
                                     [(a, 0, -5, json.dumps(STATS, sort_keys=True)), (a, 1, 7, '{"mean": 0.5}')])
                for page, m, probs in ((0, "standard-1", PROBS), (1, "other", {"story": 0.5, "odd": 0.5})):
                    cat.conn.execute("INSERT INTO page_outputs(book_id, page, model_id, version, label, probs, source, "
                                     "created_at) VALUES (?,?,?,'v','x',?,'model',1.0)", (a, page, m, json.dumps(probs)))
    with Catalog.open(cache) as cat:
        assert db.schema_version(cat.conn) == len(catalog_mod.MIGRATIONS) >= 4
        _check(cat, a, b)


def test_packed_lines_keep_large_coordinates_and_odd_text():
    rows = [TextLineRow(0, (70000, 5, 10, 200000), 1.0, 3, "two\nlines", 0.5),
            TextLineRow(1, (0, 0, 1, 1), 0.0, -1, "", 0.0)]
    blob = catalog_mod._pack_lines(rows)
    text = catalog_mod._joined_text(rows)
    back = catalog_mod._unpack_lines(blob, text)
    assert [(r.box, r.score, r.panel, r.text, r.conf) for r in back] == [
        ((70000, 5, 10, 200000), 1.0, 3, "two lines", 0.5), ((0, 0, 1, 1), 0.0, -1, "", 0.0)]
    small = catalog_mod._pack_lines(rows[1:])
    assert len(small) == 1 + 14  # uint16 coordinates when they fit


def test_the_catalogue_lists_the_statistics_page_stats_computes():
    from comicdesk.ml import page_stats

    assert catalog_mod.STATS_NAMES == page_stats.NAMES


def test_a_reader_upgrades_an_older_catalogue_or_says_why_it_cannot(tmp_path, settings):
    import pytest

    from comicdesk.library.errors import CatalogError
    from comicdesk.library.lock import LibraryLock

    root = tmp_path / "lib"
    simple_library(root, books=1, pages=2)
    res = scan_as_older(root, settings, 3)
    cache = settings.library_cache_dir(res.library_id)
    # Another process writing it (an older comicdesk): one clear line, nothing changed.
    with LibraryLock(cache), pytest.raises(CatalogError, match="older comicdesk and another process"):
        Catalog.open(cache, readonly=True)
    with Catalog.open(cache, readonly=True) as cat:  # free: upgraded, then read
        assert db.schema_version(cat.conn) == len(catalog_mod.MIGRATIONS)
        a = cat.all_books()[0].id
        assert cat.vector_rows("standard-1", "panel_emb") == [] and cat.text_lines(a) == {}
