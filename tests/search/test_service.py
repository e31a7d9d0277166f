"""The search service: queries by panel, page and text, filters, stale and damaged indexes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synth_vectors import clustered, make_cache

from comicdesk.search import service as sv
from comicdesk.search.index import index_dir
from comicdesk.search.service import (
    Filters,
    NotIndexed,
    SearchError,
    SearchService,
    parse_classes,
)

M, A = "standard-1", "panel_emb"


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def open_service(cache, **kw) -> SearchService:
    return SearchService.open(cache, **kw)


def test_similar_to_panel_finds_its_near_duplicate_first_with_boxes_and_paths(cache):
    store, ids = make_cache(cache)
    # a near-copy of book 0 page 1 panel 2 lands in book 3 page 4 panel 0
    v = store.read_keys(M, A, [(ids[0], 1, 2)]).astype(np.float32)
    store.append(M, A, v + 0.001, [(ids[3], 4, 0)])
    store.close()
    with open_service(cache) as svc:
        hits = svc.similar_to_panel(ids[0], 1, 2, k=5)
    assert len(hits) == 5
    assert (hits[0].book, hits[0].page, hits[0].panel) == ("/lib/b3.cbz", 4, 0)
    assert hits[0].box == [0, 0, 10, 20] and hits[0].score > 0.99
    assert all((h.book_id, h.page, h.panel) != (ids[0], 1, 2) for h in hits)  # not itself
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].as_dict() == {"book": "/lib/b3.cbz", "page": 4, "panel": 0, "box": [0, 0, 10, 20],
                                 "score": round(hits[0].score, 4)}


def test_other_books_leaves_out_the_book_and_its_copies(cache):
    store, ids = make_cache(cache, books=3)
    store.close()
    from comicdesk.library.catalog import Catalog

    with Catalog.open(cache) as cat, cat.transaction():  # book 2 becomes a second copy of book 0
        cat.conn.execute("UPDATE books SET content_key = 'key0' WHERE id = ?", (ids[2],))
    with open_service(cache) as svc:
        hits = svc.similar_to_panel(ids[0], 0, 0, k=20, filters=Filters(other_books=True))
        assert len(hits) == 15 and {h.book_id for h in hits} == {ids[1]}
        everything = svc.similar_to_panel(ids[0], 0, 0, k=100)
        assert len(everything) == 44  # every panel but the query


def test_class_filter_uses_user_comicinfo_model_precedence(cache, tmp_path):
    store, ids = make_cache(cache, books=2)
    cat = store.catalog
    with cat.transaction():
        for b in ids:
            for p in range(5):
                cat.set_page_output(b, p, "standard-1", "v", "story" if p % 2 == 0 else "advertisement",
                                    None, "model", 0.0)
    store.close()
    with open_service(cache) as svc:
        hits = svc.similar_to_panel(ids[0], 0, 0, k=50, filters=Filters(classes=parse_classes(["story-only"])))
        assert hits and {h.page for h in hits} == {0, 2, 4}
        ads = svc.similar_to_panel(ids[0], 0, 0, k=50, filters=Filters(classes=parse_classes(["advertisement"])))
        assert {h.page for h in ads} == {1, 3} and len(ads) == 12


def test_a_very_selective_class_filter_still_fills_k(cache):
    store, ids = make_cache(cache, books=10, pages=10, panels=4)
    cat = store.catalog
    with cat.transaction():
        cat.set_page_output(ids[7], 3, "standard-1", "v", "cover", None, "model", 0.0)
    store.close()
    with open_service(cache) as svc:
        hits = svc.similar_to_panel(ids[0], 0, 0, k=10, filters=Filters(classes=frozenset({"cover"})))
    assert [(h.book_id, h.page) for h in hits] == [(ids[7], 3)] * 4


def test_series_filter(cache):
    store, ids = make_cache(cache, books=3, series=["Saga", "Other", "saga"])
    store.close()
    with open_service(cache) as svc:
        hits = svc.similar_to_panel(ids[1], 0, 0, k=100, filters=Filters(series=frozenset({"SAGA"})))
    assert {h.book_id for h in hits} == {ids[0], ids[2]} and len(hits) == 30


def test_parse_classes_names_groups_and_errors():
    assert parse_classes(["story-only"]) == {"story", "first-page", "textstory"}
    assert parse_classes(["cover,back_cover", "Art"]) == {"cover", "back_cover", "art"}
    assert parse_classes(None) is None
    with pytest.raises(SearchError, match="unknown class 'comic'"):
        parse_classes(["comic"])


def test_reader_persists_when_the_lock_is_free_and_keeps_memory_only_when_busy(cache):
    from comicdesk.library.lock import LibraryLock

    store, ids = make_cache(cache)
    store.close()
    folder = index_dir(cache, M)
    with LibraryLock(cache, timeout=1):  # a writer is busy: the reader says nothing, saves nothing
        with open_service(cache) as svc:
            assert len(svc.similar_to_panel(ids[0], 0, 0, k=3)) == 3
        assert not (folder / f"{A}.manifest.json").exists()
    with open_service(cache) as svc:
        svc.similar_to_panel(ids[0], 0, 0, k=3)
    manifest = json.loads((folder / f"{A}.manifest.json").read_text())
    assert manifest["entries"] == 60 and manifest["backend"] == "exact"


def test_stale_index_never_returns_removed_rows_and_grows_with_new_ones(cache):
    store, ids = make_cache(cache)
    target = store.read_keys(M, A, [(ids[1], 0, 0)]).astype(np.float32)
    store.close()
    with open_service(cache) as svc:  # persisted now
        svc.similar_to_panel(ids[0], 0, 0, k=3)
    from comicdesk.cache.vectors import VectorStore

    with VectorStore.open(cache, durable=False) as w:
        w.tombstone([ids[1]])  # mapping gone; generation and length unchanged
        w.append(M, A, target + 0.002, [(ids[2], 4, 9)])
    with open_service(cache, persist="never") as svc:
        hits = svc.similar_to_panel(ids[2], 4, 9, k=60)
    assert ids[1] not in {h.book_id for h in hits}
    assert len(hits) == 45


def test_damaged_index_is_rebuilt(cache):
    store, ids = make_cache(cache)
    store.close()
    with open_service(cache) as svc:
        before = [h.as_dict() for h in svc.similar_to_panel(ids[0], 0, 0, k=5)]
    folder = index_dir(cache, M)
    manifest = json.loads((folder / f"{A}.manifest.json").read_text())
    (folder / manifest["data"]["file"]).write_bytes(b"garbage")
    with open_service(cache) as svc:
        after = [h.as_dict() for h in svc.similar_to_panel(ids[0], 0, 0, k=5)]
    assert after == before
    assert json.loads((folder / f"{A}.manifest.json").read_text())["data"]["file"] != manifest["data"]["file"]


def test_page_queries_use_page_vectors_and_give_whole_page_boxes(cache, monkeypatch):
    store, ids = make_cache(cache, array="page_image", panels=0, dim=16)
    store.close()
    # page vectors are raw EfficientNet features, centred before use (a fake centre here: the
    # real one needs the EfficientNet weights)
    centre = sv.Transform("fake-centre", center=lambda: np.full(16, 0.5))
    monkeypatch.setattr(sv, "PROFILES", {**sv.PROFILES, "standard": {
        **sv.PROFILES["standard"], "page": (sv.Target(M, "page_image", "page", centre),)}})
    with open_service(cache) as svc:
        hits = svc.similar_to_page(ids[0], 2, k=4)
        assert len(hits) == 4 and all(h.panel is None and h.box == [0, 0, 100, 150] for h in hits)
        assert (ids[0], 2) not in {(h.book_id, h.page) for h in hits}
        assert hits[0].as_dict()["panel"] is None
        # the centre is applied: the best hit is the nearest page after centring
        raw = svc.store.load(M, "page_image")
    keys, vecs = raw
    x = vecs.astype(np.float32) - 0.5
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[next(i for i, k in enumerate(keys.tolist()) if k == [ids[0], 2, -1])]
    order = [i for i in np.argsort(-(x @ q)) if keys[i].tolist() != [ids[0], 2, -1]]
    assert (hits[0].book_id, hits[0].page) == tuple(keys[order[0]][:2])


def test_text_query_uses_the_encoder_against_panel_text(cache):
    store, ids = make_cache(cache, array="panel_text", dim=8, panels=2)
    v = np.zeros(8, np.float32)
    v[3] = 1.0
    store.append(M, "panel_text", v[None, :], [(ids[2], 3, 1)])
    store.close()
    with open_service(cache, text_encoder=lambda text: v * 2) as svc:
        hits = svc.similar_to_text("a dragon", k=3)
        assert (hits[0].book_id, hits[0].page, hits[0].panel) == (ids[2], 3, 1)
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
        with pytest.raises(SearchError):
            svc.similar_to_text("   ")


def test_unknown_key_says_not_indexed(cache):
    store, ids = make_cache(cache)
    store.close()
    with open_service(cache) as svc:
        with pytest.raises(NotIndexed, match="has no vector"):
            svc.similar_to_panel(ids[0], 0, 7)
        with pytest.raises(NotIndexed, match="no page is indexed"):
            svc.similar_to_page(ids[0], 0)
    with pytest.raises(NotIndexed, match="run comicdesk index first"):
        SearchService.open(cache.parent / "nothing")


def test_update_indexes_builds_and_updates_every_searchable_array(cache):
    store, ids = make_cache(cache)
    store.ensure_array(M, "panel_text", 8, normalised=True)
    store.append(M, "panel_text", clustered(4, 8), [(ids[0], 0, n) for n in range(3)] + [(ids[1], 0, 0)])
    reports = sv.update_indexes(cache, store.catalog, store)
    assert {(r.array, r.action, r.entries) for r in reports} == {("panel_emb", "built", 60), ("panel_text", "built", 4)}
    store.tombstone([ids[1]])
    reports = sv.update_indexes(cache, store.catalog, store)
    assert {(r.array, r.action, r.removed) for r in reports} == {("panel_emb", "updated", 15), ("panel_text", "updated", 1)}
    assert (index_dir(cache, M) / "panel_text.manifest.json").is_file()
    store.close()


def test_a_large_first_build_is_announced_once(cache, monkeypatch):
    monkeypatch.setattr(sv, "BUILD_NOTICE_ROWS", 50)
    store, ids = make_cache(cache)
    store.close()
    said = []
    with open_service(cache, notify=said.append) as svc:
        svc.similar_to_panel(ids[0], 0, 0, k=3)
        svc.similar_to_panel(ids[0], 0, 1, k=3)
    with open_service(cache, notify=said.append) as svc:  # loaded from disk: nothing to say
        svc.similar_to_panel(ids[0], 0, 0, k=3)
    assert said == ["building the search index of 60 panel vectors (once; later runs keep it up to date)"]


def test_copies_of_one_book_are_folded_and_the_query_in_other_copies_left_out(cache):
    from comicdesk.library.catalog import Catalog

    store, ids = make_cache(cache, books=5)
    v = store.read_keys(M, A, [(ids[0], 1, 2)]).astype(np.float32)
    # Books 1 and 2 hold the same page 3 (another format, a re-encode: hashes 2 bits apart), book 3
    # a different page with an equally close panel; book 4 is a copy of the query's own book.
    store.append(M, A, np.concatenate([v + 0.001, v + 0.0012, v + 0.0011, v]),
                 [(ids[1], 3, 0), (ids[2], 3, 0), (ids[3], 3, 0), (ids[4], 1, 2)])
    store.close()
    with Catalog.open(cache) as cat, cat.transaction():
        cat.set_page_hashes(ids[1], {3: (0b1011 << 40, None)})
        cat.set_page_hashes(ids[2], {3: (0b1000 << 40, None)})
        cat.set_page_hashes(ids[3], {3: (0x0F0F0F0F0F0F0F0F, None)})
        cat.set_page_hashes(ids[0], {1: (12345, None)})
        cat.set_page_hashes(ids[4], {1: (12345 ^ 0b11, None)})
    with open_service(cache) as svc:
        hits = svc.similar_to_panel(ids[0], 1, 2, k=6)
        top = {(h.book_id, h.page, h.panel) for h in hits[:4]}
        assert top == {(ids[1], 3, 0), (ids[2], 3, 0), (ids[3], 3, 0), (ids[4], 1, 2)}  # raw: all four
        groups, same = svc.group_copies(hits, query=(ids[0], 1, 2))
    assert same == 1  # book 4's panel is the query itself
    firsts = [(g.best.book_id, g.best.page, g.best.panel) for g in groups]
    assert (ids[4], 1, 2) not in firsts
    folded = [g for g in groups if g.copies]
    assert len(folded) == 1 and {folded[0].best.book_id, folded[0].copies[0].book_id} == {ids[1], ids[2]}
    assert (ids[3], 3, 0) in firsts  # as close, but another page: its own result
    assert len(groups) == len(hits) - 2
