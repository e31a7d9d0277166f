"""Benchmark: open a book and show its first page; thumbnails per second; per container format.

    .venv/bin/python tests/bench/bench_archive.py [--pages 24] [--repeat 5] [--out DIR]

Builds one 24-page book per format from realistic pages (1988×3056 JPEG, ~2 MB each: the size of
a modern digital comic page) under DIR (default /tmp/comicdesk-bench-archive, reused), then
measures, per format:

- ``first_page_ms``: open the container, list and order its pages, read page 0 and decode it to a
  full RGB image (what the reader needs before it can draw), median of ``--repeat`` cold opens;
- ``thumbs_per_s``: 256-px thumbnails of every page of an open book, read in one pass, decoded
  on one thread; ``thumbs_per_s_2_threads``: the same decoded by a 2-thread pool (this machine
  has 2 cores), as the thumbnail service does.

Goals (issue 2): first page < 100 ms for a 2 MB JPEG page, ≥ 50 thumbnails/s. Prints a table and
one JSON line (``{"bench": "archive", ...}``).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tarfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "archive"))

W, H = 1988, 3056


def make_pages(n: int, seed: int = 7) -> list[bytes]:
    """``n`` distinct 1988x3056 JPEG pages (~2 MB each: smooth colour plus grain, like a scan)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pages = []
    for i in range(n):
        small = rng.integers(0, 255, (H // 32, W // 32, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(small).resize((W, H), Image.BICUBIC)).astype(np.int16)
        arr = np.clip(base + rng.normal(0, 9, (H, W, 1)).astype(np.int16), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=87)
        pages.append(buf.getvalue())
    return pages


def build_books(out: Path, pages: list[bytes]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    names = [f"page{i + 1:03d}.jpg" for i in range(len(pages))]
    books: dict[str, Path] = {}

    def fresh(name: str) -> Path | None:
        p = out / name
        books[name.split(".", 1)[1] if "." in name else name] = p
        return None if p.exists() else p

    if (p := fresh("book.cbz")):
        with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as zf:
            for n, d in zip(names, pages):
                zf.writestr(n, d)
    if (p := fresh("book.deflate.cbz")):
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
            for n, d in zip(names, pages):
                zf.writestr(n, d)
    if (p := fresh("book.cbr")):
        import rars

        b = rars.RarBuilder(format="rar50")
        for n, d in zip(names, pages):
            b.add_bytes(d, n)
        b.write(str(p))
    if (p := fresh("book.stored.cbr")):
        import rars

        b = rars.RarBuilder(format="rar50", store=True)
        for n, d in zip(names, pages):
            b.add_bytes(d, n)
        b.write(str(p))
    if (p := fresh("book.solid.cbr")):
        import rars

        b = rars.RarBuilder(format="rar50", solid=True)
        for n, d in zip(names, pages):
            b.add_bytes(d, n)
        b.write(str(p))
    if (p := fresh("book.cb7")):
        import py7zr

        with py7zr.SevenZipFile(p, "w") as z:
            for n, d in zip(names, pages):
                z.writestr(d, n)
    if (p := fresh("book.cbt")):
        with tarfile.open(p, "w") as t:
            for n, d in zip(names, pages):
                info = tarfile.TarInfo(n)
                info.size = len(d)
                t.addfile(info, io.BytesIO(d))
    src_dir = out / "_src"
    if not src_dir.exists():
        src_dir.mkdir()
        for n, d in zip(names, pages):
            (src_dir / n).write_bytes(d)
    srcs = sorted(src_dir.iterdir())
    if (p := fresh("book.pdf")):
        from samples_pdf_epub import make_image_pdf

        make_image_pdf(p, srcs)
    if (p := fresh("book.epub")):
        from samples_pdf_epub import make_epub

        make_epub(p, srcs)
    folder = out / "folder"
    books["folder"] = folder
    if not folder.exists():
        shutil.copytree(src_dir, folder)
    return books


def bench_book(path: Path, repeat: int) -> dict:
    from comicdesk.archive import images, open_book

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with open_book(path) as book:
            im = book.image(0)
            assert im.size == (W, H), im.size
        times.append((time.perf_counter() - t0) * 1000)
    with open_book(path) as book:
        n = len(book)
        t0 = time.perf_counter()
        done = 0
        for _, data in book.iter_page_bytes():
            images.thumbnail(data, 256)
            done += 1
        elapsed = time.perf_counter() - t0
    assert done == n
    # The thumbnail service decodes in a pool (Pillow releases the GIL while decoding) while one
    # thread reads the container in a single pass: what a person waits for when a book opens.
    from concurrent.futures import ThreadPoolExecutor

    with open_book(path) as book, ThreadPoolExecutor(max_workers=2) as pool:
        t0 = time.perf_counter()
        futures = [pool.submit(images.thumbnail, data, 256) for _, data in book.iter_page_bytes()]
        for f in futures:
            f.result()
        pooled = time.perf_counter() - t0
    return {"pages": n, "first_page_ms": round(statistics.median(times), 1),
            "first_page_ms_min": round(min(times), 1), "thumbs_per_s": round(n / elapsed, 1),
            "thumbs_per_s_2_threads": round(n / pooled, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("/tmp/comicdesk-bench-archive"))
    args = ap.parse_args()
    out = args.out / f"p{args.pages}"
    if not (out / "_src").exists():
        print(f"building books in {out} ...", file=sys.stderr)
        pages = make_pages(args.pages)
    else:
        pages = [p.read_bytes() for p in sorted((out / "_src").iterdir())]
    page_mb = sum(map(len, pages)) / len(pages) / 1e6
    books = build_books(out, pages)
    results = {}
    print(f"{len(pages)} pages of {W}x{H}, mean {page_mb:.2f} MB per JPEG page")
    print(f"{'format':<14} {'first page ms':>14} {'thumbs/s':>9} {'thumbs/s (2 threads)':>21}")
    for fmt, path in books.items():
        r = bench_book(path, args.repeat)
        results[fmt] = r
        print(f"{fmt:<14} {r['first_page_ms']:>14.1f} {r['thumbs_per_s']:>9.1f} {r['thumbs_per_s_2_threads']:>21.1f}")
    print(json.dumps({"bench": "archive", "page_mb": round(page_mb, 2), "pages": len(pages),
                      "goals": {"first_page_ms": 100, "thumbs_per_s": 50}, "results": results}))


if __name__ == "__main__":
    main()
