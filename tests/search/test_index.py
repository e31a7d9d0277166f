"""Vector indexes: exact and IVF search, persistence, incremental updates, rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synth_vectors import clustered

from comicdesk.cache.vectors import VectorStore
from comicdesk.library.catalog import BookRow, Catalog, PageRow
from comicdesk.search import index as ix
from comicdesk.search.index import CorruptIndex, VectorIndex, index_dir

M, A, D = "standard-1", "panel_emb", 32


def brute(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    s = q.astype(np.float32) @ ix.UNIT.apply(x).T
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def make_index(x: np.ndarray, *, exact_max: int | None = None) -> VectorIndex:
    idx = VectorIndex(M, A, x.shape[1])
    if exact_max is not None:
        idx.exact_max_values = exact_max
    n = len(x)
    keys = np.stack([np.arange(n) // 100, np.arange(n) % 100, np.zeros(n, int)], axis=1)
    idx.build(keys, np.arange(n), x, generation=0, length=n)
    return idx


def test_exact_search_is_exact_and_ivf_recall_is_high_on_clustered_data():
    x = clustered(12_000, D, seed=3)
    q = x[np.random.default_rng(0).choice(len(x), 60, replace=False)].astype(np.float32)
    truth = brute(x, q, 10)
    exact = make_index(x)
    assert exact.backend.kind == "exact"
    s, _ = exact.search(q, 10)
    # scores are exact float32 products with the stored (float16) unit vectors
    stored = ix.UNIT.apply(x).astype(np.float16).astype(np.float32)
    expected = np.sort(q @ stored.T, axis=1)[:, ::-1][:, :10]
    assert np.allclose(s, expected, atol=1e-6)  # the same scores (ties may swap positions)
    assert np.all(np.diff(s, axis=1) <= 1e-7)  # best first
    ivf = make_index(x, exact_max=0)
    assert ivf.backend.kind == "ivf" and ivf.backend.nlist >= 64
    _, got = ivf.search(q, 10)
    recall = np.mean([len(set(got[i]) & set(truth[i])) / 10 for i in range(len(q))])
    assert recall >= 0.95, recall


def test_a_filter_mask_is_honoured_even_when_it_is_very_selective():
    x = clustered(8_000, D, seed=4)
    allowed = np.zeros(len(x), bool)
    allowed[::997] = True  # 9 rows
    for idx in (make_index(x), make_index(x, exact_max=0)):
        s, pos = idx.search(x[:1], 20, allowed)
        got = pos[0][pos[0] >= 0]
        assert sorted(got.tolist()) == np.flatnonzero(allowed).tolist()  # all 9, nothing else
        assert np.all(np.diff(s[0][: len(got)]) <= 1e-6)


def test_zero_rows_are_skipped_not_indexed():
    x = clustered(50, D)
    x[7] = 0
    idx = make_index(x)
    assert idx.live_count == 49 and idx.table[7, 5] == ix.SKIPPED
    _, pos = idx.search(x[8:9], 50)
    assert 7 not in pos[0].tolist()


def test_fingerprints_tell_changed_rows_apart():
    x = clustered(100, D)
    fp = ix.fingerprints(x)
    y = x.copy()
    y[5, 3] = np.float16(float(y[5, 3]) + 0.01)
    assert np.array_equal(fp == ix.fingerprints(y), np.arange(100) != 5)
    assert len(set(fp.tolist())) == 100


# -- against a real store ----------------------------------------------------------------------
def make_store(cache: Path, books: int = 4, pages: int = 5, panels: int = 3, seed: int = 0):
    with Catalog.open(cache) as cat, cat.transaction():
        ids = [cat.insert_book(BookRow(None, f"/lib/b{b}.cbz", f"key{b}", "zip", 1, 1, pages, f"b{b}", None, None),
                               [PageRow(i, f"{i}.jpg", 1, 100, 150) for i in range(pages)], 0.0)
               for b in range(books)]
    store = VectorStore.open(cache, durable=False)
    store.ensure_array(M, A, D, normalised=True)
    for j, b in enumerate(ids):
        keys = [(b, p, n) for p in range(pages) for n in range(panels)]
        store.append(M, A, clustered(len(keys), D, seed=seed + j), keys)
    return store, ids


def test_persisted_index_round_trips_and_updates_incrementally(tmp_path):
    cache = tmp_path / "cache"
    store, ids = make_store(cache)
    cat = store.catalog
    idx = VectorIndex(M, A, D)
    rep = idx.sync(cat, store)
    assert rep.action == "built" and rep.entries == 60
    folder = index_dir(cache, M)
    idx.save(folder)
    manifest = json.loads((folder / f"{A}.manifest.json").read_text())
    assert (manifest["generation"], manifest["length"], manifest["entries"]) == (0, 60, 60)
    assert len(manifest["keys"]["sha256"]) == 64
    again = VectorIndex.load(folder, M, A, D)
    q = store.read_keys(M, A, [(ids[1], 2, 1)]).astype(np.float32)
    assert np.array_equal(again.search(q, 5)[1], idx.search(q, 5)[1])
    assert again.sync(cat, store).action == "current"

    # new rows: only they are read and added
    new_vec = clustered(3, D, seed=99)
    store.append(M, A, new_vec, [(ids[0], 4, 5), (ids[0], 4, 6), (ids[0], 4, 7)])
    rep = again.sync(cat, store)
    assert (rep.action, rep.added, rep.removed, rep.entries) == ("updated", 3, 0, 63)
    _, pos = again.search(new_vec[:1].astype(np.float32), 1)
    assert again.keys[pos[0, 0]].tolist() == [ids[0], 4, 5]

    # a rewritten key: the old row goes, the new one comes
    store.append(M, A, clustered(1, D, seed=7), [(ids[2], 0, 0)])
    rep = again.sync(cat, store)
    assert (rep.added, rep.removed, rep.entries) == (1, 1, 63)

    # a removed book's rows leave the index
    store.tombstone([ids[3]])
    rep = again.sync(cat, store)
    assert rep.removed == 15 and rep.entries == 48
    assert ids[3] not in again.keys[again.table[:, 5] == ix.ALIVE][:, 0].tolist()
    again.save(folder)
    assert len(list(folder.glob(f"{A}.*"))) == 3  # manifest + the two current data files
    store.close()


def test_compaction_remaps_rows_without_reading_vectors_back_in(tmp_path):
    cache = tmp_path / "cache"
    store, ids = make_store(cache)
    idx = VectorIndex(M, A, D)
    idx.sync(store.catalog, store)
    store.tombstone([ids[0]])
    store.compact()
    rep = idx.sync(store.catalog, store)
    assert (rep.action, rep.added, rep.removed, rep.entries) == ("remapped", 0, 15, 45)
    # every live entry points at the row its key now has
    mapped = {(b, p, n): r for b, p, n, r in store.rows(M, A)}
    live = idx.table[idx.table[:, 5] == ix.ALIVE]
    assert all(mapped[tuple(t[:3])] == t[3] for t in live.tolist())
    q = store.read_keys(M, A, [(ids[2], 1, 1)]).astype(np.float32)
    s, pos = idx.search(q, 1)
    assert idx.keys[pos[0, 0]].tolist() == [ids[2], 1, 1] and s[0, 0] > 0.999
    store.close()


@pytest.mark.parametrize("damage", ["keys", "data", "manifest", "missing"])
def test_a_damaged_index_does_not_load(tmp_path, damage):
    cache = tmp_path / "cache"
    store, _ = make_store(cache)
    idx = VectorIndex(M, A, D)
    idx.sync(store.catalog, store)
    folder = index_dir(cache, M)
    idx.save(folder)
    manifest = json.loads((folder / f"{A}.manifest.json").read_text())
    if damage == "keys":
        p = folder / manifest["keys"]["file"]
        data = bytearray(p.read_bytes())
        data[-3] ^= 0xFF
        p.write_bytes(bytes(data))
    elif damage == "data":
        p = folder / manifest["data"]["file"]
        p.write_bytes(p.read_bytes()[:-100])
    elif damage == "manifest":
        (folder / f"{A}.manifest.json").write_text("{not json")
    else:
        (folder / manifest["data"]["file"]).unlink()
    with pytest.raises(CorruptIndex):
        VectorIndex.load(folder, M, A, D)
    store.close()


def test_ivf_index_persists_and_updates(tmp_path, monkeypatch):
    monkeypatch.setattr(ix, "EXACT_MAX_VALUES", 0)
    cache = tmp_path / "cache"
    store, ids = make_store(cache, books=20, pages=10, panels=10)
    idx = VectorIndex(M, A, D)
    idx.exact_max_values = 0
    idx.sync(store.catalog, store)
    assert idx.backend.kind == "ivf"
    folder = index_dir(cache, M)
    idx.save(folder)
    again = VectorIndex.load(folder, M, A, D)
    again.exact_max_values = 0
    assert again.backend.kind == "ivf" and again.backend.count == 2000
    q = store.read_keys(M, A, [(ids[5], 0, 0)]).astype(np.float32)
    store.tombstone([ids[5]])
    rep = again.sync(store.catalog, store)
    assert rep.removed == 100 and again.backend.count == 1900
    _, pos = again.search(q, 50)
    assert ids[5] not in again.keys[pos[0][pos[0] >= 0]][:, 0].tolist()
    store.close()
