"""The Zarr vector store: appends mapped from the catalogue, tombstones, crash-safe compaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from comicdesk.cache import vectors
from comicdesk.cache.vectors import CacheError, VectorStore, chunk_rows_for
from comicdesk.library.catalog import BookRow, Catalog, PageRow

M = "standard-1"


def make_catalog(cache: Path, books: int = 3, pages: int = 4) -> list[int]:
    with Catalog.open(cache) as cat, cat.transaction():
        return [cat.insert_book(BookRow(None, f"/lib/b{b}.cbz", f"key{b}", "zip", 1, 1, pages, f"b{b}", None, None),
                                [PageRow(i, f"{i}.jpg", 1, 10, 10) for i in range(pages)], 0.0)
                for b in range(books)]


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def open_writer(cache) -> VectorStore:
    store = VectorStore.open(cache, durable=False)
    store.ensure_group(M, {"model": "efficientnet-lite0", "revision": "r1", "dims": 8,
                           "preprocessing": "224 px, ImageNet mean/std"})
    store.ensure_array(M, "page_image", 8)
    store.ensure_array(M, "panel_emb", 8, normalised=True)
    return store


def rand(n, d=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_append_and_read_across_reopen_in_the_documented_layout(cache):
    ids = make_catalog(cache)
    v1, v2 = rand(4, seed=1), rand(4, seed=2)
    with open_writer(cache) as store:
        rows1 = store.append(M, "page_image", v1, [(ids[0], p) for p in range(4)])
    with open_writer(cache) as store:  # reopened: appends go after the committed rows
        rows2 = store.append(M, "page_image", v2, [(ids[1], p) for p in range(4)])
    assert rows1 == [0, 1, 2, 3] and rows2 == [4, 5, 6, 7]
    with VectorStore.open(cache, readonly=True) as reader:
        got = reader.read(M, "page_image", [5, 0, 5])
        assert np.array_equal(got, np.stack([v2[1], v1[0], v2[1]]).astype(np.float16))  # raw, float16
        keys, vecs = reader.load(M, "page_image")
        assert keys.tolist() == [[ids[0], p, -1] for p in range(4)] + [[ids[1], p, -1] for p in range(4)]
        assert reader.read_keys(M, "page_image", [(ids[1], 3)]).tolist() == [v2[3].astype(np.float16).tolist()]
        with pytest.raises(KeyError, match="no row for"):
            reader.read_keys(M, "page_image", [(ids[2], 0)])
        assert reader.group_attrs(M)["preprocessing"] == "224 px, ImageNet mean/std"
        with pytest.raises(CacheError, match="read-only"):
            reader.append(M, "page_image", v1[:1], [(ids[2], 0)])
    meta = json.loads((cache / "vectors.zarr" / M / "page_image" / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and meta["shape"] == [8, 8] and meta["data_type"] == "float16"
    assert meta["attributes"]["generation"] == 0
    assert any(c.get("name") == "zstd" for c in meta["codecs"])  # compressed chunks
    assert json.loads((cache / "vectors.zarr" / M / "zarr.json").read_text())["attributes"]["model"] == \
        "efficientnet-lite0"
    assert not (cache / "vectors.zarr" / "zarr.consolidated").exists()
    assert "consolidated_metadata" not in json.loads((cache / "vectors.zarr" / "zarr.json").read_text()) or \
        json.loads((cache / "vectors.zarr" / "zarr.json").read_text())["consolidated_metadata"] is None


def test_search_vectors_are_normalised_and_shapes_are_checked(cache):
    ids = make_catalog(cache)
    with open_writer(cache) as store:
        v = rand(3) * 7
        v[2] = 0
        store.append(M, "panel_emb", v, [(ids[0], 0, n) for n in range(3)])
        got = store.read_keys(M, "panel_emb", [(ids[0], 0, n) for n in range(3)]).astype(np.float32)
        assert np.allclose(np.linalg.norm(got[:2], axis=1), 1.0, atol=2e-3)
        assert np.array_equal(got[2], np.zeros(8))  # a zero vector stays zero
        with pytest.raises(ValueError, match="rows of 8 values"):
            store.append(M, "page_image", rand(2, 5), [(ids[0], 0), (ids[0], 1)])
        with pytest.raises(ValueError, match="NaN"):
            store.append(M, "page_image", np.full((1, 8), np.nan), [(ids[0], 0)])
        with pytest.raises(ValueError, match="2 rows for 1 keys"):
            store.append(M, "page_image", rand(2), [(ids[0], 0)])
        with pytest.raises(CacheError, match="needs a new model id"):
            store.ensure_array(M, "page_image", 16)
        with pytest.raises(KeyError, match="ensure_array"):
            store.append(M, "page_text", rand(1), [(ids[0], 0)])
    assert chunk_rows_for(1280, 2) == 64 and chunk_rows_for(384, 2) == 256 and chunk_rows_for(9, 2) == 4096


def test_rows_written_but_never_mapped_are_garbage(cache):
    ids = make_catalog(cache)
    with open_writer(cache) as store:
        store.append(M, "page_image", rand(2), [(ids[0], 0), (ids[0], 1)])
        pending = store.write(M, "page_image", rand(3, seed=5), [(ids[1], p) for p in range(3)])
        assert pending.rows == [2, 3, 4]
        # ... the process dies here: the catalogue transaction never happens.
    with open_writer(cache) as store:
        assert store.rows(M, "page_image") == [(ids[0], 0, -1, 0), (ids[0], 1, -1, 1)]
        with pytest.raises(IndexError):
            store.read(M, "page_image", [3])
        v = rand(1, seed=9)
        assert store.append(M, "page_image", v, [(ids[2], 0)]) == [2]  # the garbage is overwritten
        assert store.stats(M, "page_image") == (3, 3)
        assert np.array_equal(store.read(M, "page_image", [2]), v.astype(np.float16))


def test_tombstones_and_compaction_keep_every_key_on_its_vector(cache):
    ids = make_catalog(cache, books=3, pages=4)
    expected = {}
    with open_writer(cache) as store:
        for b in ids:
            v = rand(4, seed=b)
            store.append(M, "page_image", v, [(b, p) for p in range(4)])
            expected.update({(b, p): v[p] for p in range(4)})
        v = rand(1, seed=99)  # a page analysed again: its old row becomes garbage
        store.append(M, "page_image", v, [(ids[2], 1)])
        expected[(ids[2], 1)] = v[0]
        assert store.tombstone([ids[0]]) == 4
        for p in range(4):
            del expected[(ids[0], p)]
        assert store.stats(M, "page_image") == (13, 8)
        assert store.compact(min_garbage=0.9) == []  # below the threshold: left alone
        (res,) = store.compact()
        assert (res.rows_before, res.rows_after, res.generation) == (13, 8, 1)
        assert store.stats(M, "page_image") == (8, 8)
        assert store.compact() == []  # nothing left to do
        assert [r[3] for r in store.rows(M, "page_image")] == list(range(8))
        keys = list(expected)
        got = store.read_keys(M, "page_image", keys).astype(np.float32)
        assert np.allclose(got, np.stack([expected[k] for k in keys]), atol=1e-2)
        # Appends go on after the compacted rows.
        assert store.append(M, "page_image", rand(1), [(ids[0], 0)]) == [8]
    assert not (cache / "vectors.staging").exists() and not (cache / "vectors.trash").exists()
    assert sorted(os.listdir(cache / "vectors.zarr" / M)) == ["page_image", "panel_emb", "zarr.json"]


def test_removed_changed_and_purged_books(cache):
    ids = make_catalog(cache, books=3, pages=2)
    with open_writer(cache) as store:
        for b in ids:
            store.append(M, "page_image", rand(2, seed=b), [(b, 0), (b, 1)])
        cat = store.catalog
        with cat.transaction():
            cat.tombstone([ids[0]], now=1000.0)  # removed: hidden, kept (it may come back as a move)
            cat.replace_book(ids[1], BookRow(None, "/lib/b1.cbz", "new-key", "zip", 2, 2, 1, "b1", None, None),
                             [PageRow(0, "0.jpg", 1, 10, 10)], 1000.0)  # changed: new pages
        assert {k[0] for k in store.load(M, "page_image")[0].tolist()} == {ids[2]}
        assert len(store.rows(M, "page_image", include_removed=True)) == 4
        with cat.transaction():
            cat.purge_tombstones(now=1000.0 + 31 * 86400)
        assert store.stats(M, "page_image") == (6, 2)
        store.compact()
        assert store.stats(M, "page_image") == (2, 2)


@pytest.mark.parametrize("step", ["staged", "switched", "swapped"])
def test_a_crash_at_any_compaction_step_leaves_a_consistent_store(cache, step):
    ids = make_catalog(cache, books=2, pages=3)
    with open_writer(cache) as store:
        a, b = rand(3, seed=1), rand(3, seed=2)
        store.durable = True
        store.append(M, "page_image", a, [(ids[0], p) for p in range(3)])
        store.append(M, "page_image", b, [(ids[1], p) for p in range(3)])
        store.tombstone([ids[0]])
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("compact_child.py")), str(cache), step],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    with VectorStore.open(cache, readonly=True) as reader:  # a reader before any recovery
        assert np.allclose(reader.read_keys(M, "page_image", [(ids[1], p) for p in range(3)]), b, atol=1e-2)
    with open_writer(cache) as store:  # the writer finishes or rolls back
        gen = store.catalog.vector_array(M, "page_image").generation
        assert gen == (0 if step == "staged" else 1)
        assert np.allclose(store.read_keys(M, "page_image", [(ids[1], p) for p in range(3)]), b, atol=1e-2)
        assert not (cache / "vectors.staging").exists() and not (cache / "vectors.trash").exists()
        store.compact()
        assert store.stats(M, "page_image") == (3, 3)


def test_a_crash_between_the_two_renames_is_finished_on_open(cache):
    ids = make_catalog(cache, books=2, pages=2)
    with open_writer(cache) as store:
        store.append(M, "page_image", rand(2), [(ids[0], 0), (ids[0], 1)])
        v = rand(2, seed=3)
        store.append(M, "page_image", v, [(ids[1], 0), (ids[1], 1)])
        store.tombstone([ids[0]])

        def die(name):
            if name == "switched":  # stop right after the catalogue switch, then half-swap by hand
                raise KeyboardInterrupt

        vectors._step_hook = die
        try:
            with pytest.raises(KeyboardInterrupt):
                store.compact()
        finally:
            vectors._step_hook = None
    active = cache / "vectors.zarr" / M / "page_image"
    (cache / "vectors.trash").mkdir()
    os.replace(active, cache / "vectors.trash" / "old")  # the first rename happened, not the second
    with open_writer(cache) as store:
        assert np.allclose(store.read_keys(M, "page_image", [(ids[1], 0), (ids[1], 1)]), v, atol=1e-2)
        assert json.loads((active / "zarr.json").read_text())["attributes"]["generation"] == 1


def test_an_array_the_catalogue_cannot_explain_is_started_again_and_its_books_handed_back(cache):
    """Issue 20: an array whose files are gone is no longer "delete the cache": the writer starts
    it again, empty, in a new generation, unmaps its rows and names the books to analyse again."""
    ids = make_catalog(cache, books=2, pages=1)
    with open_writer(cache) as store:
        store.append(M, "page_image", rand(2), [(ids[0], 0), (ids[1], 0)])
    import shutil

    shutil.rmtree(cache / "vectors.zarr" / M / "page_image")
    with open_writer(cache) as store:
        assert store.healed_books() == set(ids)
        assert store.rows(M, "page_image") == []
        info = store.catalog.vector_array(M, "page_image")
        assert (info.generation, info.length) == (1, 0)
        store.append(M, "page_image", rand(1, seed=3), [(ids[0], 0)])
        assert np.allclose(store.read_keys(M, "page_image", [(ids[0], 0)]), rand(1, seed=3), atol=1e-2)


def test_a_reader_sees_consistent_data_while_the_writer_compacts(cache):
    """Stable keys always read back their own vectors, while the writer keeps appending garbage,
    tombstoning and compacting (rows move, generations switch, folders are renamed)."""
    ids = make_catalog(cache, books=4, pages=8)
    stable = {(ids[0], p): rand(1, seed=100 + p)[0] for p in range(8)}
    with open_writer(cache) as store:
        store.append(M, "page_image", np.stack(list(stable.values())), list(stable))
    stop = threading.Event()
    problems: list = []
    reads = [0]

    def reader():
        with VectorStore.open(cache, readonly=True) as r:
            keys = list(stable)
            want = np.stack([stable[k] for k in keys]).astype(np.float16)
            while not stop.is_set():
                try:
                    got = r.read_keys(M, "page_image", keys)
                    if not np.array_equal(got, want):
                        problems.append("wrong data")
                    ks, vs = r.load(M, "page_image", book_ids=[ids[0]])
                    if sorted(map(tuple, ks.tolist())) != sorted((b, p, -1) for b, p in keys):
                        problems.append("wrong keys")
                    reads[0] += 1
                except Exception as exc:  # noqa: BLE001
                    problems.append(repr(exc))

    t = threading.Thread(target=reader)
    t.start()
    try:
        with open_writer(cache) as store:
            for i in range(12):
                b = ids[1 + i % 3]
                store.append(M, "page_image", rand(8, seed=i), [(b, p) for p in range(8)])
                store.tombstone([b])
                store.compact()
    finally:
        stop.set()
        t.join()
    assert problems == [] and reads[0] > 3


def test_compressed_chunks_are_smaller_and_old_uncompressed_arrays_keep_working(cache, monkeypatch):
    from comicdesk.cache import vectors as vectors_mod

    ids = make_catalog(cache)
    rng = np.random.default_rng(3)
    # Sparse non-negative features, like EfficientNet's pooled ReLU6 outputs.
    sparse = np.where(rng.random((8, 512)) < 0.55, 0.0, rng.random((8, 512)) * 3).astype(np.float32)
    monkeypatch.setattr(vectors_mod, "ZSTD_LEVEL", None)  # an array made before compression
    with open_writer(cache) as store:
        store.ensure_array(M, "old", 512, normalised=False)
        store.append(M, "old", sparse[:4], [(ids[0], p) for p in range(4)])
    monkeypatch.undo()
    with open_writer(cache) as store:
        store.ensure_array(M, "new", 512, normalised=False)
        store.append(M, "new", sparse[:4], [(ids[0], p) for p in range(4)])
        store.append(M, "old", sparse[4:], [(ids[1], p) for p in range(4)])  # appends keep its codec
    old_meta = json.loads((cache / "vectors.zarr" / M / "old" / "zarr.json").read_text())
    assert not any(c.get("name") == "zstd" for c in old_meta["codecs"])
    size = {name: sum(f.stat().st_size for f in (cache / "vectors.zarr" / M / name).rglob("*")
                      if f.is_file() and f.name != "zarr.json") for name in ("old", "new")}
    assert size["new"] < 0.75 * sparse[:4].astype(np.float16).nbytes < size["old"]
    with VectorStore.open(cache, readonly=True) as reader:
        assert np.array_equal(reader.load(M, "old")[1], sparse.astype(np.float16))
        assert np.array_equal(reader.load(M, "new")[1], sparse[:4].astype(np.float16))
    with open_writer(cache) as store:  # a compaction rewrites it compressed
        store.tombstone([ids[0]], M, "old")
        store.compact(M, "old")
    meta = json.loads((cache / "vectors.zarr" / M / "old" / "zarr.json").read_text())
    assert any(c.get("name") == "zstd" for c in meta["codecs"])
    with VectorStore.open(cache, readonly=True) as reader:
        assert np.array_equal(reader.load(M, "old")[1], sparse[4:].astype(np.float16))
