"""Issue 19's figures: the one text search, and the app while per-book results stream in.

On a generated library of N analysed pages (default 10,000: 250 books × 40 pages; synthetic:
tiny page images, three panels a page, lettering made of words drawn from a fixed vocabulary,
random unit ``panel_text`` vectors, model labels — written into the cache as the runner would):

1. **time to first result** of a words query and of a meaning query through the service the app
   and ``comicdesk similar --text`` use (``services.text_search``): cold (a new
   ``SearchService``, as ``comicdesk similar`` opens one; the word index file saved by the
   after-run hook; the text encoder — the real MiniLM — loaded, counted apart) and warm (the
   app's search thread keeps the service open), median of 15 queries each; and a words query
   when the index file is missing (a reader rebuilds it);
2. **the UI-thread gap while results stream in**: the real main window on that library, the book
   view of the first book open, while ``BookAnalysed`` events for every book arrive through the
   bridge as fast as a runner would announce small books (one per ``--every`` ms; each one's
   results read on the session's I/O thread and applied in place) — a 10 ms timer's longest gap
   (goal ≤ 50 ms).

Prints the figures, then one JSON line. ``python tests/bench/bench_text_search.py [--pages N]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

sys.path.insert(0, str(Path(__file__).resolve().parent))

PER_BOOK = 40
VOCAB = ("rocket moon scientist atom laboratory penicillin doctor city villain detective cigarette "
         "dragon river mountain engine radio invention storm island treasure ship captain robot "
         "planet comet serum microscope formula explosion escape lightning volcano desert jungle").split()
RARE = "zeppelin"  # one panel of one page holds it: the words query


def build(pages: int, root: Path) -> tuple:
    """The library (tiny CBZs), scanned, and its analysis written into the cache."""
    import numpy as np
    from PIL import Image

    from comicdesk.cache.vectors import VectorStore
    from comicdesk.core.settings import Settings
    from comicdesk.library.service import ScanOptions, locate_library, scan_library

    books = max(1, pages // PER_BOOK)
    lib = root / "lib"
    lib.mkdir(parents=True)
    buf = io.BytesIO()
    Image.new("RGB", (60, 90), (200, 190, 170)).save(buf, "JPEG", quality=60)
    jpeg = buf.getvalue()
    for b in range(books):
        with zipfile.ZipFile(lib / f"Generated {b + 1:04d}.cbz", "w", zipfile.ZIP_STORED) as zf:
            for p in range(PER_BOOK):
                tag = f"book {b} page {p}".encode()
                zf.writestr(f"{p:03d}.jpg", jpeg[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + jpeg[2:])
    settings = Settings.resolve(root / "cache", root / "data", env={})
    t = time.perf_counter()
    scan_library(lib, settings, options=ScanOptions(executor="inline"))
    scan_s = time.perf_counter() - t
    cache = settings.library_cache_dir(locate_library(lib, settings, register=False).id)
    rng = np.random.default_rng(19)
    store = VectorStore.open(cache, durable=False)
    cat = store.catalog
    store.ensure_array("standard-1", "panel_text", 384, normalised=True)
    keys, now = [], time.time()
    ids = [b.id for b in cat.all_books()]
    with cat.transaction():
        for n, book_id in enumerate(ids):
            cat.replace_panels(book_id, {p: [(0, 0, 30, 45), (30, 0, 30, 45), (0, 45, 60, 45)] for p in range(PER_BOOK)})
            boxes, lines = {}, {}
            for p in range(PER_BOOK):
                words = [" ".join(rng.choice(VOCAB, 4)) for _ in range(3)]
                if n == len(ids) // 2 and p == 7:
                    words[1] += f" {RARE}"
                boxes[p] = ([(0, 10 * i, 50, 8) for i in range(3)], [0.9] * 3, 0.2)
                lines[p] = [(i, w, 0.9, i) for i, w in enumerate(words)]
                label = "advertisement" if p % 13 == 12 else ("cover" if p == 0 else "story")
                cat.set_page_output(book_id, p, "standard-1", "1", label, {label: 0.9}, "model", now)
                keys += [(book_id, p, i) for i in range(3)]
            cat.replace_text_boxes(book_id, boxes)
            cat.set_text(book_id, lines)
            cat.set_run(book_id, "ocr", "1", 2, "done", None, None, now)
    vecs = rng.standard_normal((len(keys), 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.append("standard-1", "panel_text", vecs, keys)
    from comicdesk.services.analysis import after_vectors

    t = time.perf_counter()
    after_vectors(cache, cat, store)  # what the runner does after a run: both indexes saved
    hook_s = time.perf_counter() - t
    store.close()
    return settings, lib, cache, ids, {"books": books, "pages": books * PER_BOOK, "panels": len(keys),
                                       "scan_s": round(scan_s, 2), "after_run_hook_s": round(hook_s, 2)}


def bench_queries(settings, cache: Path) -> dict:
    from comicdesk.search.service import Filters, SearchService
    from comicdesk.search.text_index import TEXT_INDEX_FILE
    from comicdesk.services.similar import TextEncoder
    from comicdesk.services.text_search import meaning_after, words_first

    encoder = TextEncoder(settings)
    t = time.perf_counter()
    encoder("warm up")  # the real MiniLM, loaded once (counted apart)
    encoder_s = time.perf_counter() - t
    out = {"encoder_load_s": round(encoder_s, 2)}

    def cold(fn) -> float:
        t = time.perf_counter()
        with SearchService.open(cache, text_encoder=encoder) as svc:
            hits = fn(svc)
            took = time.perf_counter() - t
        assert hits, "no result"
        return took

    def words(svc):
        return words_first(svc, RARE, 30, Filters())

    def meaning(svc):
        return meaning_after(svc, "a scientist in his laboratory", 30, Filters())

    for name, fn in (("words", words), ("meaning", meaning)):
        cold_ms = [cold(fn) * 1000 for _ in range(5)]
        with SearchService.open(cache, text_encoder=encoder) as svc:
            fn(svc)
            warm_ms = []
            for _ in range(15):
                t = time.perf_counter()
                hits = fn(svc)
                warm_ms.append((time.perf_counter() - t) * 1000)
            if name == "words":
                out["words_first_hit"] = [hits[0].book_id, hits[0].page, hits[0].panel, hits[0].match]
        out[f"{name}_cold_ms"] = round(statistics.median(cold_ms), 1)
        out[f"{name}_warm_ms"] = round(statistics.median(warm_ms), 2)
    (cache / TEXT_INDEX_FILE).unlink()
    out["words_rebuild_ms"] = round(cold(words) * 1000, 1)  # no file: the reader writes it again
    return out


def bench_stream(settings, lib: Path, ids: list[int], every_ms: float) -> dict:
    import asyncio


    from bench_gui import gap_stats, tick_timer
    from comicdesk.core.events import BookAnalysed
    from comicdesk.qt.app import _make_app, run_event_loop
    from comicdesk.qt.jobs import JobBookAnalysed, JobState
    from comicdesk.qt.main_window import MainWindow
    from comicdesk.qt.prefs import Prefs

    _make_app()
    out: dict = {}

    async def main() -> None:
        win = MainWindow(settings, Prefs(analyse=False), persist_prefs=False)
        win.resize(1200, 820)
        win.show()
        ready = asyncio.get_running_loop().create_future()
        win.first_screen_ready.connect(lambda: ready.done() or ready.set_result(True))
        win.open_path(lib)
        await asyncio.wait_for(ready, 300)
        first = next(b for b in win.library.model.books() if b.id == ids[0])
        win.show_book(first)
        await asyncio.sleep(1.0)

        class Job:  # stands for the analysis job whose events these are
            id = -19
            state = JobState(-19, "analyse", "bench", status="running")

            def cancel(self):
                pass

        win.analysis_job = win.jobs.jobs[-19] = Job()
        applied: list[float] = []
        win.results_applied.connect(lambda _b: applied.append(time.perf_counter()))
        timer, ticks = tick_timer()
        timer.start()
        t0 = time.perf_counter()
        books = {b.id: b for b in win.library.model.books()}
        order = [ids[0]] + [i for i in ids[1:]]  # the open book first, as the runner does
        for final in (False, True):  # pass 1 for every book, then pass 2
            for book_id in order:
                ev = BookAnalysed(books[book_id].path, book_id, "done", 2 if final else 1, final, PER_BOOK, 3 * PER_BOOK)
                win.bridge.post(JobBookAnalysed(-19, ev))
                await asyncio.sleep(every_ms / 1000)
        while len(applied) < 2 * len(order) and time.perf_counter() - t0 < 120:
            await asyncio.sleep(0.05)
        timer.stop()
        out.update({"events": 2 * len(order), "applied": len(applied), "every_ms": every_ms,
                    "stream_s": round(time.perf_counter() - t0, 2),
                    "open_book_first_apply_ms": round((applied[0] - t0) * 1000, 1) if applied else None,
                    **gap_stats(ticks, t0)})
        win.close()
        await asyncio.sleep(0.1)
        win.shutdown()

    run_event_loop(main())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=10_000, help="analysed pages in the generated library")
    ap.add_argument("--every", type=float, default=20.0, help="ms between BookAnalysed events in the stream")
    ap.add_argument("--skip-gui", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="comicdesk-bench-text-"))
    settings, lib, cache, ids, made = build(args.pages, root)
    print(f"generated library (synthetic): {made['books']} books, {made['pages']} analysed pages, "
          f"{made['panels']} panels; scan {made['scan_s']} s; after-run hook (vector + word indexes) "
          f"{made['after_run_hook_s']} s")
    q = bench_queries(settings, cache)
    print(f"time to first result, words query: {q['words_cold_ms']} ms cold (new service, saved index), "
          f"{q['words_warm_ms']} ms warm; {q['words_rebuild_ms']} ms with no index file (rebuilt)")
    print(f"time to first result, meaning query: {q['meaning_cold_ms']} ms cold (new service, saved "
          f"index; encoder already loaded: it took {q['encoder_load_s']} s once), {q['meaning_warm_ms']} ms warm")
    result = {"bench": "text_search", "library": made, "queries": q}
    if not args.skip_gui:
        s = bench_stream(settings, lib, ids, args.every)
        print(f"UI thread while {s['events']} per-book results stream in (one every {s['every_ms']:.0f} ms, "
              f"{s['applied']} applied in {s['stream_s']} s): longest gap {s['max_gap_ms']} ms, p99 "
              f"{s['p99_gap_ms']} ms, median {s['median_gap_ms']} ms over {s['ticks']} ticks (goal ≤ 50 ms); "
              f"the open book's first results shown after {s['open_book_first_apply_ms']} ms")
        result["stream"] = s
    print(json.dumps(result))


if __name__ == "__main__":
    main()
