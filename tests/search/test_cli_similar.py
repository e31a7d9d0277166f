"""``comicdesk similar`` end to end on a small real library: scanned for real, vectors written
through the vector store (the pipeline's embedding stages are tested elsewhere)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from synth_vectors import clustered

from comicdesk.cache.vectors import VectorStore
from comicdesk.library.catalog import Catalog
from comicdesk.library.service import ScanOptions, locate_library, scan_library

M = "standard-1"
TEXTS = {(1, 2, 1): "a dragon attacks the city", (0, 0, 0): "the detective lights a cigarette"}


def jpeg(w: int, h: int, shade: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (w, h), (shade, 255 - shade, 128)).save(out, "JPEG")
    return out.getvalue()


def make_book(path: Path, pages: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(pages):
            zf.writestr(f"{i:03d}.jpg", jpeg(120 + seed, 180, 40 * i + seed))
    return path


@pytest.fixture
def library(tmp_path, settings):
    """Three scanned books; panel vectors for books 0 and 1 (book 2 is not analysed)."""
    root = tmp_path / "comics"
    books = [make_book(root / f"Saga {i:02d}.cbz", 3, i) for i in range(3)]
    scan_library(root, settings, options=ScanOptions(executor="inline"))
    cache = settings.library_cache_dir(locate_library(root, settings, register=False).id)
    with Catalog.open(cache) as cat:
        ids = [cat.book_by_path(b).id for b in books]
    store = VectorStore.open(cache, durable=False)
    store.ensure_array(M, "panel_emb", 32, normalised=True)
    vecs = clustered(18, 32, seed=11).astype(np.float32)
    vecs[9 + 3 * 2 + 1] = vecs[0] + 0.002  # book 1 page 2 panel 1 ≈ book 0 page 0 panel 0
    keys = [(ids[b], p, n) for b in (0, 1) for p in range(3) for n in range(3)]
    with store.catalog.transaction():
        for b in (0, 1):
            store.catalog.replace_panels(ids[b], {p: [(0, 0, 60, 90), (60, 0, 60, 90), (0, 90, 120, 90)]
                                                  for p in range(3)})
    store.append(M, "panel_emb", vecs, keys)
    store.close()
    return root, books, ids, cache


def test_similar_panel_json_finds_the_near_copy_in_another_book(library, settings, similar_cli):
    _, books, _, cache = library
    code, out, err = similar_cli(str(books[0]), "0", "0", "-k", "3", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3 and list(rows[0]) == ["book", "page", "panel", "box", "score"]
    assert rows[0]["book"] == str(books[1].resolve()) and (rows[0]["page"], rows[0]["panel"]) == (2, 1)
    assert rows[0]["box"] == [60, 0, 60, 90] and rows[0]["score"] > 0.99
    assert rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]
    assert (cache / "index" / M / "panel_emb.manifest.json").is_file()  # the lock was free: saved

    code, out, _ = similar_cli(str(books[1]), "2", "1", "-k", "20", "--other-books", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 9 and {r["book"] for r in rows} == {str(books[0].resolve())}

    code, out, _ = similar_cli(str(books[0]), "0", "0", "-k", "2")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2 and "page 2 panel 1" in lines[0] and str(books[1].resolve()) in lines[0]


def test_similar_says_run_index_first_for_a_book_without_vectors(library, settings, similar_cli):
    books = library[1]
    code, out, err = similar_cli(str(books[2]), "0", "0")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [f"comicdesk: {books[2].resolve()} is not indexed yet: run comicdesk index first"]
    outside = books[0].parent.parent / "elsewhere" / "x.cbz"
    make_book(outside, 2, 5)
    code, _, err = similar_cli(str(outside), "0")
    assert code == 1 and "not indexed yet: run comicdesk index first" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["{b}", "7", "0"], "page 7 is not in this book (pages 0 to 2)"),
    (["{b}", "0", "5"], "page 0 has 3 panels (0 to 2), not 5"),
    (["{b}", "0", "0", "-k", "0"], "-k must be at least 1"),
    (["{b}"], "give BOOK PAGE [PANEL], or --text QUERY"),
    (["{b}", "0", "--text", "x"], "not both"),
    (["{b}", "0", "0", "--classes", "nonsense"], "unknown class 'nonsense'"),
])
def test_bad_input_is_one_line(library, settings, similar_cli, argv, message):
    _, books, _, _ = library
    code, out, err = similar_cli(*[a.format(b=books[0]) for a in argv])
    assert code == 1 and out == "" and len(err.splitlines()) == 1 and message in err


def test_page_query_without_page_vectors_is_not_indexed(library, settings, similar_cli):
    _, books, _, _ = library
    code, _, err = similar_cli(str(books[0]), "1")
    assert code == 1 and "no page is indexed in this library yet: run comicdesk index first" in err


def test_text_query_with_minilm_against_panel_text(library, settings, similar_cli):
    from comicdesk.ml.minilm import MiniLM

    _, books, ids, cache = library
    with VectorStore.open(cache, durable=False) as store:
        store.ensure_array(M, "panel_text", 384, normalised=True)
        keys = [(ids[b], p, n) for (b, p, n) in TEXTS]
        store.append(M, "panel_text", MiniLM().encode(list(TEXTS.values())), keys)
    code, out, err = similar_cli("--text", "dragon fire over the rooftops", "-k", "5", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert len(rows) == 2 and (rows[0]["book"], rows[0]["page"], rows[0]["panel"]) == (str(books[1].resolve()), 2, 1)
    assert rows[0]["score"] > rows[1]["score"]
