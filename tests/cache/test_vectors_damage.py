"""Issue 20 at the store's level: damage is found on read, recorded by readers, repaired by the
writer (``VectorStore.heal`` / ``recover``), and arrays carry the catalogue's identity."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from comicdesk.cache.vectors import DAMAGE_FILE, VectorStore, VectorsDamaged, take_lost
from comicdesk.library.catalog import BookRow, Catalog, PageRow

M, A = "standard-1", "page_image"


def make(cache, books=3, pages=64):
    with Catalog.open(cache) as cat, cat.transaction():
        ids = [cat.insert_book(BookRow(None, f"/lib/b{b}.cbz", f"key{b}", "zip", 1, 1, pages, f"b{b}", None, None),
                               [PageRow(i, f"{i}.jpg", 1, 10, 10) for i in range(pages)], 0.0)
               for b in range(books)]
    store = VectorStore.open(cache, durable=False)
    store.ensure_array(M, A, 1280)  # 64 rows a chunk: one book a chunk here
    vecs = np.random.default_rng(0).random((books * pages, 1280)).astype(np.float32) + 0.1
    store.append(M, A, vecs, [(b, p) for b in ids for p in range(pages)])
    store.close()
    return ids, vecs


def chunk(cache, i):
    return cache / "vectors.zarr" / M / A / "c" / str(i) / "0"


def test_a_reader_leaves_damaged_books_out_records_them_and_the_writer_repairs(tmp_path):
    cache = tmp_path / "c"
    ids, vecs = make(cache)
    chunk(cache, 1).write_bytes(chunk(cache, 1).read_bytes()[:50])
    with VectorStore.open(cache, readonly=True) as r:
        with pytest.raises(VectorsDamaged) as err:
            r.load(M, A)
        assert err.value.books == {ids[1]}
        keys, data = r.load(M, A, skip_damaged=True)
        assert set(keys[:, 0]) == {ids[0], ids[2]} and len(keys) == 128
        assert np.allclose(data[:64], vecs[:64], atol=1e-2)
        with pytest.raises(VectorsDamaged):
            r.read_keys(M, A, [(ids[1], 3)])
        assert np.allclose(r.read_keys(M, A, [(ids[2], 3)]), vecs[131], atol=1e-2)
    side = json.loads((cache / DAMAGE_FILE).read_text())
    assert side["arrays"][f"{M}/{A}"]["chunks"] == [1] and side["arrays"][f"{M}/{A}"]["books"] == [ids[1]]
    with VectorStore.open(cache, durable=False) as w:
        healed = w.heal()
        assert healed == {(M, A): ({1}, {ids[1]})}
        assert not (cache / DAMAGE_FILE).exists() and not chunk(cache, 1).exists()
        assert {k[0] for k in w.rows(M, A)} == {ids[0], ids[2]}
        # noted in the catalogue with the unmapping (a crash before the runner makes the book
        # not analysed cannot leave it counted as analysed without vectors)
        assert take_lost(w.catalog, clear=False) == {f"{M}/{A}": [ids[1]]}
        w.append(M, A, vecs[64:128], [(ids[1], p) for p in range(64)])  # analysed again
        assert w.heal() == {}
    with VectorStore.open(cache, readonly=True) as r:
        keys, data = r.load(M, A)
        assert len(keys) == 192


def test_heal_finds_a_missing_chunk_without_a_reader_and_verify_finds_a_scribbled_one(tmp_path):
    cache = tmp_path / "c"
    ids, _ = make(cache)
    chunk(cache, 0).unlink()
    data = bytearray(chunk(cache, 2).read_bytes())
    data[len(data) // 2] ^= 1
    chunk(cache, 2).write_bytes(bytes(data))
    with VectorStore.open(cache, durable=False) as w:
        assert w.heal() == {(M, A): ({0}, {ids[0]})}  # a stat per chunk: the missing one
        assert w.heal(verify=True) == {(M, A): ({2}, {ids[2]})}  # decoding: the checksum fails


def test_an_older_copy_of_the_files_is_caught_by_the_rows_it_lacks(tmp_path):
    cache = tmp_path / "c"
    ids, _ = make(cache)
    meta = cache / "vectors.zarr" / M / A / "zarr.json"
    m = json.loads(meta.read_text())
    m["shape"][0] = 64  # as the files were after the first book
    meta.write_text(json.dumps(m))
    shutil.rmtree(chunk(cache, 1).parent)
    shutil.rmtree(chunk(cache, 2).parent)
    with VectorStore.open(cache, readonly=True) as r:
        with pytest.raises(VectorsDamaged):
            r.read_keys(M, A, [(ids[2], 0)])
    with VectorStore.open(cache, durable=False) as w:
        assert w.heal()[(M, A)][1] == {ids[1], ids[2]}


def test_files_made_for_another_catalogue_are_started_again(tmp_path):
    cache = tmp_path / "c"
    ids, _ = make(cache)
    meta = cache / "vectors.zarr" / M / A / "zarr.json"
    m = json.loads(meta.read_text())
    assert m["attributes"]["cache_id"] == Catalog.open(cache, readonly=True).cache_id
    m["attributes"]["cache_id"] = "someone-else"
    meta.write_text(json.dumps(m))
    with VectorStore.open(cache, readonly=True) as r:
        with pytest.raises(VectorsDamaged):
            r.read_keys(M, A, [(ids[0], 0)])
    with VectorStore.open(cache, durable=False) as w:
        assert w.healed_books() == set(ids)
        info = w.catalog.vector_array(M, A)
        assert (info.generation, info.length) == (1, 0) and w.rows(M, A) == []


def test_a_damaged_tail_chunk_without_mapped_rows_is_dropped_so_appends_go_on(tmp_path):
    cache = tmp_path / "c"
    ids, vecs = make(cache, books=1, pages=10)
    with Catalog.open(cache) as cat, cat.transaction():
        cat.delete_vector_rows([ids[0]])  # garbage rows only, in the chunk the next append fills
    chunk(cache, 0).write_bytes(b"\x00" * 7)
    with VectorStore.open(cache, durable=False) as w:
        assert w.heal() == {(M, A): ({0}, set())}
        w.append(M, A, vecs[:2], [(ids[0], 0), (ids[0], 1)])
        assert np.allclose(w.read_keys(M, A, [(ids[0], 1)]), vecs[1], atol=1e-2)
