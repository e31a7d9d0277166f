"""Runner benchmark: the analysis runner's own cost, with a no-op model, on a generated library.

    python tests/bench/bench_runner.py [--books 50] [--pages 24] [--width 1000] [--height 1500] [--dir DIR]

The library (default ``/tmp/comicdesk-bench-runner/<books>x<pages>-<w>x<h>``, reused when complete)
holds ``books`` CBZs of ``pages`` distinct JPEG pages (stored, as comic tools write them). It is
scanned once; then each measurement runs in a child process of its own (fresh cache, its own peak
memory):

- ``bare``: one thread opens each book and decodes every page to RGB with the same decoder the
  runner uses (``comicdesk.archive.images.decode``): the floor for anything that looks at pixels;
- ``runner``: ``Runner.run`` with one no-op page stage that needs the image (so every page is
  decoded, batched, handed to the inference thread, its image dropped, and the book committed);
  the default options (2 decode threads, fsync on);
- ``runner-no-image``: the same with a no-op stage that needs no image: only planning, queues,
  commits and events — the orchestration overhead itself;
- ``rerun``: the runner again over the analysed library (everything skipped).

Prints the figures and, last, one JSON line. Peak RSS is the child's ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make_library(root: Path, books: int, pages: int, width: int, height: int) -> None:
    import numpy as np
    from PIL import Image

    manifest = root / ".complete"
    if manifest.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = np.random.default_rng(1)
    bases = []
    for q in (70, 80, 90):
        small = rng.integers(0, 255, (height // 32 + 1, width // 32 + 1, 3), dtype=np.uint8)
        im = Image.fromarray(small).resize((width, height), Image.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q)
        bases.append(buf.getvalue())
    for b in range(books):
        with zipfile.ZipFile(root / f"Bench {b:03d}.cbz", "w", zipfile.ZIP_STORED) as zf:
            for p in range(pages):
                base = bases[(b + p) % len(bases)]
                text = f"book {b} page {p}".encode("ascii")
                page = base[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + base[2:]
                zf.writestr(f"{p:03d}.jpg", page)
    manifest.write_text("ok")


# -- children ------------------------------------------------------------------------------------
def child(mode: str, root: Path, cache_root: Path) -> None:
    sys.path.insert(0, str(REPO))
    t0 = time.perf_counter()
    if mode == "bare":
        from comicdesk.archive import images
        from comicdesk.archive.book import open_book

        pages = 0
        for path in sorted(root.glob("*.cbz")):
            with open_book(path) as book:
                for _, data in book.iter_page_bytes():
                    images.decode(data)
                    pages += 1
        out = {"pages": pages}
    else:
        from comicdesk.core.settings import Settings
        from comicdesk.library.service import ScanOptions, scan_library
        from comicdesk.services.analysis import make_runner as Runner  # indexes follow the run, as in the app
        from comicdesk.pipeline.stage import IMAGE, StageSpec

        settings = Settings.resolve(cache_root, cache_root / "data", env={})
        scan = scan_library(root, settings, options=ScanOptions(executor="thread"))
        cache = settings.library_cache_dir(scan.library_id)
        needs = (IMAGE,) if mode in ("runner", "rerun") else ()

        def load(ctx):
            return lambda pages: [{} for _ in pages]

        stage = StageSpec("noop", 1, needs, ("nothing",), load, "1", batchable=True)
        if mode == "rerun":
            Runner(cache, stages=[stage]).run()
        t0 = time.perf_counter()
        result = Runner(cache, stages=[stage]).run()
        out = {"pages": result.pages, "done": result.done, "skipped": result.skipped}
    out["seconds"] = time.perf_counter() - t0
    out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


def run_child(mode: str, root: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="comicdesk-bench-cache-") as cache:
        proc = subprocess.run([sys.executable, __file__, "--child", mode, "--dir", str(root),
                               "--cache", cache], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--books", type=int, default=50)
    ap.add_argument("--pages", type=int, default=24)
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--height", type=int, default=1500)
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--child")
    ap.add_argument("--cache", type=Path)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.dir, args.cache)
        return 0
    root = args.dir or Path(tempfile.gettempdir()) / "comicdesk-bench-runner" / \
        f"{args.books}x{args.pages}-{args.width}x{args.height}"
    make_library(root, args.books, args.pages, args.width, args.height)
    n = args.books * args.pages
    print(f"library: {args.books} books × {args.pages} pages of {args.width}×{args.height} JPEG ({n} pages) "
          f"in {root}; {os.cpu_count()} cores")
    figures: dict = {"books": args.books, "pages": n, "page_size": f"{args.width}x{args.height}",
                     "cores": os.cpu_count()}
    for mode in ("bare", "runner", "runner-no-image", "rerun"):
        res = run_child(mode, root)
        rate = res["pages"] / res["seconds"] if res["seconds"] > 0 and res["pages"] else None
        key = mode.replace("-", "_")
        figures[f"{key}_s"] = round(res["seconds"], 3)
        if mode != "rerun":
            figures[f"{key}_pages_per_s"] = round(rate, 1) if rate else None
        figures[f"{key}_peak_rss_mb"] = round(res["maxrss"] / 1e6, 1)
        what = {"bare": "bare decode, 1 thread", "runner": "runner, no-op model on decoded pages",
                "runner-no-image": "runner, no-op model without images (orchestration + commits)",
                "rerun": "runner over an analysed library (all skipped)"}[mode]
        print(f"{what:<62} {res['seconds']:7.2f} s" + (f"  {rate:8.1f} pages/s" if rate and mode != "rerun" else "")
              + f"  peak RSS {res['maxrss'] / 1e6:6.1f} MB")
    figures["runner_vs_bare"] = round(figures["runner_pages_per_s"] / figures["bare_pages_per_s"], 2)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
