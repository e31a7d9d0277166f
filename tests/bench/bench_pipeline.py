"""Standard-profile pipeline benchmark: every registered stage of the standard profile, on a
generated library that looks like comics, on this machine's CPU.

    python tests/bench/bench_pipeline.py [--books 50] [--pages 8] [--width 1300] [--height 2000]
                                         [--threads 1] [--workers 2] [--dir DIR] [--keep]

The library (default ``/tmp/comicdesk-bench-pipeline/<books>x<pages>-<w>x<h>``, reused when
complete) holds ``books`` CBZs. Each book: a cover (full-bleed picture, big title), story pages
(4-6 bordered panels with picture content and speech balloons holding 2-3 lines of lettering), one
advertisement (one of three ads, the same in every book, re-encoded at another quality: repeated
pages), and a text page (columns of small lettering). JPEG pages, stored, as comic tools write them.

Measured, in this process (a fresh cache each run):

- **pass 1**: a Runner with the pass-1 stages only (page features, panels, text detection, panel
  embeddings, and page classes when registered): pages/s end to end, and the seconds each stage
  spent per page (time inside the stage's function, on the inference thread);
- **pass 2**: a Runner with every stage over the library pass 1 analysed (only pass-2 work is
  left: text recognition, text embeddings, refined classes);
- **both**: pages / (pass 1 + pass 2 seconds);
- **peak RSS** of the process (``ru_maxrss``) and **cache bytes per page**: the catalogue and
  ``vectors.zarr`` on disk (chunks are zstd-compressed; an array's last, partly filled chunk
  compresses its padding away), thumbnails and search indexes excluded (none are made here; the
  indexes are reported apart). Also: the uncompressed size of the live vector rows.

Goals (issue 5): pass 1 >= 6 pages/s; both passes >= 1.5 pages/s; peak RSS < 2 GB;
cache <= 8 KB per page. Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import resource
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from synth_pages import ad_page, cover_page, story_page, text_page


def make_library(root: Path, books: int, pages: int, width: int, height: int) -> None:
    import numpy as np

    done = root / ".complete"
    if done.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    ads = [ad_page(i, width, height) for i in range(3)]
    for b in range(books):
        rng = np.random.default_rng(b)
        kinds = ["cover"] + ["story"] * max(0, pages - 3) + ["ad", "text"]
        kinds = kinds[:pages]
        with zipfile.ZipFile(root / f"Bench {b:03d}.cbz", "w", zipfile.ZIP_STORED) as zf:
            for p, kind in enumerate(kinds):
                if kind == "cover":
                    im = cover_page(rng, width, height, b + 1)
                elif kind == "ad":
                    im = ads[b % 3]
                elif kind == "text":
                    im = text_page(rng, width, height)
                else:
                    im = story_page(rng, width, height)
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=int(rng.integers(78, 92)))
                zf.writestr(f"{p:03d}.jpg", buf.getvalue())
    done.write_text("ok")


def timed(spec, totals: dict, counts: dict):
    """The stage with its function timed (seconds and pages, per stage)."""

    def load(ctx):
        fn = spec.load(ctx)

        def run(arg):
            t, c = time.perf_counter(), time.thread_time()
            out = fn(arg)
            totals[spec.name] += time.perf_counter() - t
            totals["cpu:" + spec.name] += time.thread_time() - c
            counts[spec.name] += len(arg.pages) if hasattr(arg, "pages") else len(arg)
            return out

        return run

    return dataclasses.replace(spec, load=load)


def dir_bytes(path: Path, skip: tuple[str, ...] = ("thumbs", "index")) -> int:
    """Bytes of the files under ``path``, leaving out thumbnails and search indexes (measured on
    their own: tests/bench/bench_search.py)."""
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not set(skip) & set(f.parts))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--books", type=int, default=50)
    ap.add_argument("--pages", type=int, default=8)
    ap.add_argument("--width", type=int, default=1300)
    ap.add_argument("--height", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1, help="threads a model may use")
    ap.add_argument("--workers", type=int, default=2, help="inference workers (comicdesk index: one per core)")
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the cache (printed) for a look")
    args = ap.parse_args()

    from comicdesk.core.settings import Settings
    from comicdesk.library.service import scan_library
    from comicdesk.pipeline import registry
    from comicdesk.pipeline.runner import RunOptions, limit_malloc_arenas
    from comicdesk.services.analysis import make_runner  # a front end's runner: indexes follow the run

    lib = args.dir or Path(tempfile.gettempdir()) / "comicdesk-bench-pipeline" / \
        f"{args.books}x{args.pages}-{args.width}x{args.height}"
    t = time.perf_counter()
    make_library(lib, args.books, args.pages, args.width, args.height)
    print(f"library: {lib} ({time.perf_counter() - t:.1f} s to make or check)")
    work = Path(tempfile.mkdtemp(prefix="comicdesk-bench-pipeline-"))
    settings = Settings.resolve(work / "cache", work / "data", "standard")
    scanned = scan_library(lib, settings)
    cache = settings.library_cache_dir(scanned.library_id)
    n_pages = args.books * args.pages

    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    stages = [timed(s, totals, counts) for s in registry.stages("standard")]
    limit_malloc_arenas()  # as comicdesk index does
    options = RunOptions(threads=args.threads, inference_workers=args.workers, nice=0,
                         cpu_precision=settings.cpu_precision)  # $COMICDESK_CPU_PRECISION, read at start-up
    peak = {"rss": 0}
    stop = threading.Event()

    def sample():
        import psutil

        proc = psutil.Process()
        while not stop.wait(0.2):
            peak["rss"] = max(peak["rss"], proc.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def run(specs, label):
        t0, c0 = time.perf_counter(), time.process_time()
        result = make_runner(cache, stages=specs, options=options).run()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{label}: {result.done} books done, {result.failed} failed, {dt:.1f} s, "
              f"{n_pages / dt:.2f} pages/s; {cpu / dt:.2f} cores busy, {cpu / n_pages * 1000:.0f} ms CPU a page")
        return dt, result

    pass1 = [s for s in stages if s.pass_no == 1]
    t1, r1 = run(pass1, "pass 1")
    per_stage_1 = {s.name: totals[s.name] / max(1, counts[s.name]) for s in pass1}
    t2, r2 = run(stages, "pass 2")
    stop.set()
    sampler.join()
    per_stage = {s.name: round(totals[s.name] / max(1, counts[s.name]), 4) for s in stages}
    cpu_stage = {s.name: round(totals["cpu:" + s.name] / max(1, counts[s.name]), 4) for s in stages}
    for name, sec in per_stage.items():
        print(f"  {name:<18} {sec * 1000:8.1f} ms per page wall, {cpu_stage[name] * 1000:8.1f} ms CPU of the "
              f"inference thread (all of it with --threads 1)")
    index_bytes = dir_bytes(cache / "index", skip=())
    cache_bytes = dir_bytes(cache)
    vectors = dir_bytes(cache / "vectors.zarr") if (cache / "vectors.zarr").exists() else 0
    catalog = cache_bytes - vectors
    # For reference: the live vector rows uncompressed (dims x itemsize) and the catalogue.
    from comicdesk.library.catalog import Catalog

    with Catalog.open(cache, readonly=True) as cat:
        row_bytes = sum(
            a.dims * (2 if a.dtype == "float16" else 4) * cat.count_vector_rows(m, n)
            for (m, n), a in cat.vector_arrays().items())
    marginal = (row_bytes + catalog) / n_pages
    rss = max(peak["rss"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    both = n_pages / (t1 + t2)
    print(f"both passes: {both:.2f} pages/s; peak RSS {rss / 2**20:.0f} MiB; cache {cache_bytes / n_pages / 1024:.2f} "
          f"KB per page on disk (catalogue {catalog / n_pages / 1024:.2f}, vectors {vectors / n_pages / 1024:.2f}); "
          f"uncompressed live rows + catalogue {marginal / 1024:.2f} KB per page; search indexes "
          f"{index_bytes / n_pages / 1024:.2f} KB per page more")
    from comicdesk.ml import device as dev

    precision = {k: str(v).replace("torch.", "") for k, v in dev._picked.items()}
    print(f"CPU precision chosen (comicdesk.ml.device.pick_cpu_dtype): {precision or 'float32 (nothing to choose)'}")
    print(f"goals: pass 1 >= 6 p/s: {'met' if n_pages / t1 >= 6 else 'missed'}; both >= 1.5 p/s: "
          f"{'met' if both >= 1.5 else 'missed'}; RSS < 2 GB: {'met' if rss < 2 * 2**30 else 'missed'}; "
          f"<= 8 KB/page: {'met' if cache_bytes / n_pages <= 8192 else 'missed'} (on disk)")
    if args.keep:
        print(f"cache kept: {cache}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "bench": "pipeline", "books": args.books, "pages": n_pages, "size": [args.width, args.height],
        "threads": args.threads, "workers": args.workers, "pass1_pages_per_s": round(n_pages / t1, 3),
        "pass2_pages_per_s": round(n_pages / t2, 3), "both_pages_per_s": round(both, 3),
        "stage_s_per_page": per_stage, "stage_cpu_s_per_page": cpu_stage, "pass1_stage_s_per_page": {k: round(v, 4) for k, v in per_stage_1.items()},
        "peak_rss_mb": round(rss / 2**20, 1), "cache_kb_per_page": round(cache_bytes / n_pages / 1024, 3),
        "catalog_kb_per_page": round(catalog / n_pages / 1024, 3),
        "live_kb_per_page": round(marginal / 1024, 3), "index_kb_per_page": round(index_bytes / n_pages / 1024, 3), "vectors_kb_per_page": round(vectors / n_pages / 1024, 3),
        "failed": r1.failed + r2.failed, "cpu_precision": precision,
    }))


if __name__ == "__main__":
    main()
