"""Issue 20, item 1: one identity ties the catalogue, the vector store and the search indexes
together; an index built for another catalogue or another vector generation is rebuilt, never used."""

from __future__ import annotations

import json

from cache_library import World


def _other_books(result, w: World, query: int) -> set[str]:
    assert result.code == 0, result.err
    return {r["book"] for r in result.rows()}


def test_index_of_a_rebuilt_catalogue_is_rebuilt(tmp_path, monkeypatch, capsys):
    """The issue's repro: index 5 books, truncate catalog.sqlite, index again: `similar` must
    find every other book, not only those whose ids happened to stay the same."""
    w = World(tmp_path, monkeypatch, capsys)
    # Books catalogued over time: Book 04 first, so a rebuilt catalogue numbers them differently.
    late = [p.rename(p.with_suffix(".later")) for p in w.books[:4]]
    w.index()
    for p, b in zip(late, w.books[:4]):
        p.rename(b)
    w.index()
    assert (w.cache / "index" / "standard-1" / "panel_emb.manifest.json").is_file()
    r = w.similar(2, "3", "0", "-k", "40")
    assert {x["book"] for x in r.rows()} == {w.resolved(i) for i in (0, 1, 3, 4)} | {w.resolved(2)}

    (w.cache / "catalog.sqlite").write_bytes(b"")
    for extra in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (w.cache / extra).unlink(missing_ok=True)
    w.index()
    r = w.similar(2, "3", "0", "-k", "40")
    assert r.code == 0, r.err
    books = {x["book"] for x in r.rows()}
    assert books >= {w.resolved(i) for i in (0, 1, 3, 4)}, (books, r.err)
    assert len(r.rows()) == 19  # every other panel of the 5 × 4 pages


def test_index_manifest_carries_the_cache_identity(tmp_path, monkeypatch, capsys):
    from comicdesk.library.catalog import Catalog

    w = World(tmp_path, monkeypatch, capsys)
    w.index()
    with Catalog.open(w.cache, readonly=True) as cat:
        cache_id = cat.get_meta("cache_id")
    assert cache_id
    manifest = json.loads((w.cache / "index" / "standard-1" / "panel_emb.manifest.json").read_text())
    assert manifest["cache_id"] == cache_id
    zmeta = json.loads((w.cache / "vectors.zarr" / "standard-1" / "panel_emb" / "zarr.json").read_text())
    assert zmeta["attributes"]["cache_id"] == cache_id
