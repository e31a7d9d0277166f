"""What a new panel detector costs an analysed library: the standard profile's re-run after the
detector's version changes, against a full analysis, on this machine's CPU.

    python tests/bench/bench_rerun.py [--books 6] [--pages 8] [--width 1300] [--height 2000]
                                      [--threads 1] [--workers 2] [--dir DIR] [--library PATH]

By default SYNTHETIC pages: the generated comic-like library of ``bench_pipeline.py`` (covers,
story pages with lettered balloons, a repeated ad, a letters page). ``--library PATH`` analyses an
existing library instead (only read: the cache lives in a temporary folder), e.g. the real
public-domain scans of ``resources/sample-library``. The figure is about mechanics — which stages
run again and what they cost — not about any detector's quality.

Steps, each a Runner over the same cache (every standard stage, real models, their time per page
measured inside the stage functions):

1. **full analysis** of the library by the stages as an earlier comicdesk cut them (text
   recognition needed the panels and assigned the lines itself; no ``text_assign``);
2. **upgrade**: today's stages, same detector — the earlier records are taken over (rewritten),
   nothing should run;
3. **new detector**: the panel stage's version changed in-process (``DETECTOR_VERSION`` +
   ``+bench``; the detector itself unchanged, so the work is the same as a real new one's): the
   re-run today;
4. **new detector, earlier design**: the stages as in step 1 after another version change —
   what the same change cost before recognition was split from the assignment (it re-reads the
   text of every page).

Prints each step's seconds, pages/s (library pages over the step's seconds), the stages that ran
(pages each) and the pages decoded, an extrapolation to 100,000 pages, and one JSON line last.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_pipeline import make_library, timed  # noqa: E402  (also puts the repo on sys.path)


def former_stages(stages):
    """The standard stages as cut before ``text_assign``: recognition needs the panels and assigns
    each line itself; the text embedding needs no ``text_panels``."""
    from comicdesk.pipeline.stage import IMAGE, PANELS, TEXT_BOXES, TEXT_LINES, TEXT_PANELS, PageData
    from comicdesk.pipeline.stages.text_assign import assign_page

    out = []
    for s in stages:
        if s.name == "text_assign":
            continue
        if s.name == "text_read":
            inner = s.load

            def load(ctx, inner=inner):
                read = inner(ctx)

                def run(pages):
                    outs = read(pages)
                    for p, o in zip(pages, outs):
                        view = PageData(p.book_id, p.index, p.name, None, p.width, p.height,
                                        outputs={TEXT_LINES: o[TEXT_LINES], PANELS: p.outputs.get(PANELS)})
                        o[TEXT_LINES] = assign_page(view)[TEXT_LINES]
                    return outs

                return run

            s = dataclasses.replace(s, needs=(IMAGE, TEXT_BOXES, PANELS), former_needs=(), load=load)
        elif TEXT_PANELS in s.needs:
            s = dataclasses.replace(s, needs=tuple(n for n in s.needs if n != TEXT_PANELS))
        out.append(s)
    return out


def with_detector(stages, suffix: str):
    """The panel stage with a new version (the detector as it is)."""
    from comicdesk.ml.panels import DETECTOR_VERSION

    return [dataclasses.replace(s, version=lambda: DETECTOR_VERSION + suffix) if s.name == "panels" else s
            for s in stages]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--books", type=int, default=6)
    ap.add_argument("--pages", type=int, default=8)
    ap.add_argument("--width", type=int, default=1300)
    ap.add_argument("--height", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1, help="threads a model may use")
    ap.add_argument("--workers", type=int, default=2, help="inference workers (comicdesk index: one per core)")
    ap.add_argument("--dir", type=Path, help="where the synthetic library is generated")
    ap.add_argument("--library", type=Path, help="an existing library to analyse instead (only read)")
    args = ap.parse_args()

    from comicdesk.archive import images
    from comicdesk.core.settings import Settings
    from comicdesk.library.service import scan_library
    from comicdesk.pipeline import registry
    from comicdesk.pipeline.runner import RunOptions, limit_malloc_arenas
    from comicdesk.services.analysis import make_runner  # a front end's runner: indexes follow the run

    synthetic = args.library is None
    if synthetic:
        lib = args.dir or Path(tempfile.gettempdir()) / "comicdesk-bench-pipeline" / \
            f"{args.books}x{args.pages}-{args.width}x{args.height}"
        make_library(lib, args.books, args.pages, args.width, args.height)
        print(f"library (SYNTHETIC pages): {lib}")
    else:
        lib = args.library.resolve()
        if not lib.is_dir():
            sys.exit(f"bench_rerun: {lib} is not a folder")
        print(f"library (real pages, only read): {lib}")
    work = Path(tempfile.mkdtemp(prefix="comicdesk-bench-rerun-"))
    settings = Settings.resolve(work / "cache", work / "data", "standard", env={})
    scanned = scan_library(lib, settings)
    cache = settings.library_cache_dir(scanned.library_id)
    from comicdesk.library.catalog import Catalog

    with Catalog.open(cache, readonly=True) as cat:
        books = [b for b in cat.all_books() if not b.error]
        n_pages = sum(b.pages or 0 for b in books)
    print(f"{len(books)} books, {n_pages} pages")

    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    today = [timed(s, totals, counts) for s in registry.stages("standard")]
    former = former_stages(today)
    limit_malloc_arenas()
    options = RunOptions(threads=args.threads, inference_workers=args.workers, nice=0)
    decoded = {"n": 0}
    lock = threading.Lock()
    real_decode = images.decode_reduced

    def counting(*a, **k):
        with lock:
            decoded["n"] += 1
        return real_decode(*a, **k)

    images.decode_reduced = counting
    steps = {}

    def step(key: str, label: str, specs) -> dict:
        before, secs_before, dec_before = dict(counts), dict(totals), decoded["n"]
        t0 = time.perf_counter()
        result = make_runner(cache, stages=specs, options=options).run()
        dt = time.perf_counter() - t0
        ran = {s.name: counts[s.name] - before.get(s.name, 0) for s in specs
               if counts[s.name] - before.get(s.name, 0)}
        ms = {name: round((totals[name] - secs_before.get(name, 0.0)) / max(1, n) * 1000, 1)
              for name, n in ran.items()}
        rate = n_pages / dt
        out = {"seconds": round(dt, 2), "pages_per_s": round(rate, 3), "done": result.done,
               "skipped": result.skipped, "failed": result.failed, "stages_ran": ran, "stage_ms_per_page": ms,
               "pages_decoded": decoded["n"] - dec_before,
               "hours_per_100k_pages": round(100_000 / rate / 3600, 2)}
        print(f"{label}: {dt:.1f} s, {rate:.2f} pages/s ({out['hours_per_100k_pages']} h per 100,000 pages "
              f"at this rate); {result.done} books done, {result.skipped} skipped, {result.failed} failed; "
              f"{out['pages_decoded']} page decodes")
        for name, n in ran.items():
            print(f"    {name:<18} {n:5d} pages  {ms[name]:8.1f} ms a page")
        steps[key] = out
        return out

    step("full", "1. full analysis (earlier design)", former)
    step("upgrade", "2. upgrade to today's stages, same detector", today)
    step("new_detector", "3. new detector version (today)", with_detector(today, "+bench"))
    step("new_detector_former", "4. new detector version (earlier design)", with_detector(former, "+bench2"))
    images.decode_reduced = real_decode
    shutil.rmtree(work, ignore_errors=True)

    full, new, old = steps["full"]["seconds"], steps["new_detector"]["seconds"], steps["new_detector_former"]["seconds"]
    print(f"a new detector costs {new / full:.0%} of a full analysis today ({old / full:.0%} with the earlier "
          f"design): {steps['new_detector']['pages_per_s']:.2f} against {steps['new_detector_former']['pages_per_s']:.2f} "
          f"pages/s ({'SYNTHETIC' if synthetic else 'real'} pages, {args.workers} workers of {args.threads} thread)")
    print(json.dumps({"bench": "rerun", "synthetic": synthetic, "library": str(lib), "books": len(books),
                      "pages": n_pages, "size": [args.width, args.height] if synthetic else None,
                      "threads": args.threads, "workers": args.workers,
                      **steps, "rerun_share_of_full": round(new / full, 3),
                      "former_rerun_share_of_full": round(old / full, 3)}))


if __name__ == "__main__":
    main()
