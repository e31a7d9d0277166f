"""Output-kind benchmark: what storing and reading back stage outputs costs, without models.

    python tests/bench/bench_outputs.py [--books 200] [--pages 12] [--repeats 3]

Fake stages that need no image (so no page is decoded and no model runs) produce every persisted
kind on every page of a generated library of small CBZs — pass 1: page stats, panels (3 a page),
text boxes (4 a page), a 64-d page vector and 32-d panel vectors; page classes (book level);
pass 2: text lines, which needs the text boxes, the panels and the panel vectors, so the runner
reads them back from the cache — and then the page signals of every book are read from the cache
(``comicdesk.pipeline.signals.signals_from_cache``). What is left is the runner's planning, its
queues, the commits (one transaction per book), the loaders and the signals' reads: the code
issue 18 item 3 put behind one declaration per kind (``comicdesk.pipeline.outputs``).

Measured, each repeat on a fresh cache: the run's wall time and the process's CPU seconds
(all threads), per page; the signals' wall and CPU per page. Prints the medians and, last, one
JSON line. Works on any comicdesk with ``Runner``'s ``stages=`` and ``signals_from_cache`` (the
issue's before/after comparison runs it on both trees).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def make_library(root: Path, books: int, pages: int) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (60, 90), (200, 180, 160)).save(buf, "JPEG", quality=80)
    page = buf.getvalue()
    root.mkdir(parents=True, exist_ok=True)
    for b in range(books):
        with zipfile.ZipFile(root / f"book-{b:04d}.cbz", "w", zipfile.ZIP_STORED) as z:
            for p in range(pages):
                # A comment after SOI: every page (and so every book's content key) distinct.
                tag = f"book {b} page {p}".encode()
                z.writestr(f"{p:03d}.jpg", page[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + page[2:])


def stages():
    import numpy as np

    from comicdesk.pipeline.stage import (PAGE_CLASS, PAGE_STATS, PANELS, TEXT_BOXES, TEXT_LINES, StageSpec,
                                          VectorOutput)

    page_vec = VectorOutput("bench-emb", "page_image", 64, level="page", group_attrs={"model": "bench"})
    panel_vec = VectorOutput("bench-emb", "panel_emb", 32, level="panel", normalised=True)
    rng = np.random.default_rng(0)
    pv = rng.standard_normal(64).astype(np.float32)
    qv = rng.standard_normal((3, 32)).astype(np.float32)
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)

    def feats(ctx):
        def run(pages):
            return [{PAGE_STATS: {"phash": (p.book_id * 1_000_003 + p.index * 7919) % 2**64,
                                  "stats": {"std": 0.25, "mean": 0.5}},
                     PANELS: [(0, 0, 30, 30), (30, 0, 30, 30), (0, 30, 60, 60)],
                     TEXT_BOXES: {"boxes": [(1, 1, 10, 4), (1, 6, 10, 4), (31, 1, 10, 4), (2, 40, 20, 5)],
                                  "scores": [0.9, 0.8, 0.7, 0.6], "coverage": 0.05},
                     page_vec.kind: pv, panel_vec.kind: qv} for p in pages]
        return run

    def classes(ctx):
        def run(book):
            return [{PAGE_CLASS: {"label": "story", "probs": {"story": 0.9, "cover": 0.1}}} for _ in book.pages]
        return run

    def read(ctx):
        def run(pages):
            out = []
            for p in pages:
                assert len(p.outputs[PANELS]) == 3 and p.outputs[panel_vec.kind].shape == (3, 32)
                out.append({TEXT_LINES: [{"box": b, "text": f"word {i}", "conf": 0.9, "panel": i % 3}
                                         for i, b in enumerate(p.outputs[TEXT_BOXES]["boxes"])]})
            return out
        return run

    return [
        StageSpec("bench-feats", 1, (), (PAGE_STATS, PANELS, TEXT_BOXES, page_vec.kind, panel_vec.kind), feats,
                  "bench-feats-1", batchable=True, vectors=(page_vec, panel_vec)),
        StageSpec("bench-classes", 1, (PANELS,), (PAGE_CLASS,), classes, "bench-classes-1", level="book"),
        StageSpec("bench-read", 2, (TEXT_BOXES, PANELS, panel_vec.kind), (TEXT_LINES,), read, "bench-read-1",
                  batchable=True),
    ]


def cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--books", type=int, default=200)
    ap.add_argument("--pages", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from comicdesk.core.settings import Settings
    from comicdesk.library.catalog import Catalog
    from comicdesk.library.service import ScanOptions, scan_library
    from comicdesk.pipeline.runner import RunOptions, Runner
    from comicdesk.pipeline.signals import signals_from_cache

    work = Path(tempfile.mkdtemp(prefix="comicdesk-bench-outputs-"))
    try:
        lib = work / "lib"
        make_library(lib, args.books, args.pages)
        runs = []
        for i in range(args.repeats):
            settings = Settings.resolve(work / f"cache-{i}", work / f"data-{i}", env={})
            scanned = scan_library(lib, settings, options=ScanOptions(executor="inline"))
            cache = settings.library_cache_dir(scanned.library_id)
            runner = Runner(cache, stages=stages(), options=RunOptions(durable=False, nice=0))
            c0, t0 = cpu(), time.perf_counter()
            result = runner.run()
            run_wall, run_cpu = time.perf_counter() - t0, cpu() - c0
            if (result.done, result.failed) != (args.books, 0):
                raise SystemExit(f"the run did not analyse every book: {result}")
            from comicdesk.cache.vectors import VectorStore

            with Catalog.open(cache, readonly=True) as cat:
                store = VectorStore.open(cache, catalog=cat)
                ids = [b.id for b in cat.all_books()]
                c0, t0 = cpu(), time.perf_counter()
                n = 0
                for book_id in ids:
                    n += len(signals_from_cache(cat, book_id, store))
                sig_wall, sig_cpu = time.perf_counter() - t0, cpu() - c0
                store.close()
            pages = args.books * args.pages
            assert n == pages
            runs.append({"run_ms_per_page": 1000 * run_wall / pages, "run_cpu_ms_per_page": 1000 * run_cpu / pages,
                         "signals_ms_per_page": 1000 * sig_wall / pages,
                         "signals_cpu_ms_per_page": 1000 * sig_cpu / pages})
            shutil.rmtree(work / f"cache-{i}", ignore_errors=True)
        med = {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}
        print(f"{args.books} books x {args.pages} pages, median of {args.repeats}: run (both passes, every kind "
              f"stored, pass 2 loading three) {med['run_ms_per_page']} ms/page wall, {med['run_cpu_ms_per_page']} "
              f"ms/page CPU; signals from the cache {med['signals_ms_per_page']} ms/page wall, "
              f"{med['signals_cpu_ms_per_page']} ms/page CPU")
        print(json.dumps({"bench": "outputs", "books": args.books, "pages": args.pages, "repeats": args.repeats,
                          "median": med, "runs": runs}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
