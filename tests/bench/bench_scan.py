"""Scan benchmark: a generated library of CBZs with realistic pages.

    python tests/bench/bench_scan.py [--books 1000] [--pages 24] [--dir DIR] [--cold-cache]

The library (default ``/tmp/comicdesk-bench/<books>x<pages>``, reused when already complete) holds
``books`` CBZs in folders of 20, each with a ComicInfo.xml and ``pages`` JPEG pages of 1988×3056
pixels (the usual size of a digital comic page). Encoding 24,000 distinct full-size JPEGs would take
longer than the scan itself, so six base pages are encoded once (different content and qualities:
about 0.5-1.2 MB each, realistic sizes for such pages) and every page of every book is one of them
with a JPEG comment segment naming its book and page inserted after the SOI marker: every page's
bytes, and so every book's content key, are distinct, and every page is a valid JPEG whose header
must really be parsed. Pages are stored uncompressed (ZIP_STORED), as comic tools write JPEGs.

Measured, each in a child process so its peak memory is its own:

- a bare Python pass (list each zip, read 16 KiB of each page, parse the JPEG header with Pillow),
  the floor any scanner built on zipfile + Pillow can reach, single process;
- a cold scan (empty catalogue) through ``comicdesk.library.scan_library``; with ``--cold-cache``
  the library's files are first evicted from the OS page cache (``posix_fadvise DONTNEED``), so
  the disk is read for real; otherwise the OS cache is warm (the usual case right after copying);
- a no-op rescan, in process and end to end through ``python -m comicdesk scan``;
- peak RSS: the largest process (``ru_maxrss``) and the sum over the scan's process tree
  (sampled every 20 ms with psutil).

Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1988, 3056
BOOKS_PER_FOLDER = 20
#: (seed, grain, quality) of the six base pages.
BASE_PAGES = ((1, 0, 72), (2, 2, 75), (3, 3, 80), (4, 1, 78), (5, 4, 70), (6, 2, 82))


# -- generating the library ----------------------------------------------------------------------
def base_page(seed: int, grain: int, quality: int) -> bytes:
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (HEIGHT // 64 + 1, WIDTH // 64 + 1, 3), dtype=np.uint8)
    arr = np.asarray(Image.fromarray(small).resize((WIDTH, HEIGHT), Image.BICUBIC)).astype(np.int16)
    if grain:
        arr += rng.integers(-grain, grain + 1, (HEIGHT, WIDTH, 1), dtype=np.int16)
    im = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(400):  # ink lines
        x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        draw.line([(x, y), (x + int(rng.integers(-300, 300)), y + int(rng.integers(-300, 300)))],
                  fill=(0, 0, 0), width=int(rng.integers(2, 8)))
    for y in (0, 1000, 2000, 3000):  # gutters between panels
        draw.rectangle([0, y, WIDTH, y + 40], fill=(255, 255, 255))
    for x in (0, 990, 1950):
        draw.rectangle([x, 0, x + 38, HEIGHT], fill=(255, 255, 255))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def with_comment(jpeg: bytes, text: str) -> bytes:
    payload = text.encode("ascii")
    segment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


COMICINFO = """<?xml version="1.0" encoding="utf-8"?>
<ComicInfo><Title>Story {book}</Title><Series>Bench Series {series:02d}</Series><Number>{number}</Number>
<Writer>Bench Writer</Writer><PageCount>{pages}</PageCount></ComicInfo>
"""


def _write_books(args) -> int:
    root, bases, indexes, pages = args
    written = 0
    for i in indexes:
        series, number = divmod(i, BOOKS_PER_FOLDER)
        folder = Path(root) / f"Bench Series {series:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"Bench Series {series:02d} #{number + 1:03d}.cbz"
        tmp = target.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for p in range(pages):
                data = with_comment(bases[(i + p) % len(bases)], f"bench book {i} page {p}")
                zf.writestr(f"page{p + 1:03d}.jpg", data)
            zf.writestr("ComicInfo.xml", COMICINFO.format(book=i, series=series, number=number + 1, pages=pages))
        os.replace(tmp, target)
        written += target.stat().st_size
    return written


def ensure_library(root: Path, books: int, pages: int) -> dict:
    manifest = root.with_name(root.name + ".manifest.json")
    if manifest.exists() and root.is_dir():
        info = json.loads(manifest.read_text())
        if info.get("books") == books and info.get("pages") == pages:
            return info
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    print(f"generating {books} books × {pages} pages under {root} ...", file=sys.stderr)
    t0 = time.monotonic()
    bases = [base_page(*spec) for spec in BASE_PAGES]
    from concurrent.futures import ProcessPoolExecutor

    workers = os.cpu_count() or 1
    groups = [list(range(w, books, workers)) for w in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        total = sum(pool.map(_write_books, [(str(root), bases, g, pages) for g in groups]))
    info = {"books": books, "pages": pages, "bytes": total,
            "base_page_bytes": [len(b) for b in bases], "generated_s": round(time.monotonic() - t0, 1)}
    manifest.write_text(json.dumps(info))
    return info


def library_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.cbz"))


def evict_from_page_cache(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# -- measuring ------------------------------------------------------------------------------------
BARE_PASS = r"""
import io, sys, time, zipfile, json
from pathlib import Path
from PIL import Image
paths = sorted(Path(sys.argv[1]).rglob("*.cbz"))
t0 = time.perf_counter()
pages = 0
for p in paths:
    with zipfile.ZipFile(p) as zf:
        for info in zf.infolist():
            if info.filename.endswith(".jpg"):
                with zf.open(info) as fh:
                    head = fh.read(16384)
                Image.open(io.BytesIO(head)).size
                pages += 1
print(json.dumps({"seconds": time.perf_counter() - t0, "books": len(paths), "pages": pages}))
"""

SCAN = r"""
import json, sys, time
from comicdesk.core.settings import Settings
from comicdesk.library.service import ScanOptions, scan_library
root, cache, data, executor, workers = sys.argv[1:6]
settings = Settings.resolve(cache, data)
t0 = time.perf_counter()
r = scan_library(root, settings, options=ScanOptions(executor=executor, workers=int(workers)))
dt = time.perf_counter() - t0
import resource
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"seconds": dt, "books": len(r.books), "failed": r.failed, "added": r.added,
                  "unchanged": r.unchanged, "pages": sum(b.pages or 0 for b in r.books),
                  "maxrss": max(own, workers)}))
"""


def run_child(cmd: list[str]) -> tuple[dict | str, float, int]:
    """(parsed last stdout line as JSON, or the raw text; wall seconds; peak RSS summed over the
    child's process tree, in bytes)."""
    import psutil

    # Output goes to files, not pipes: a child printing more than a pipe holds would block while
    # we poll it.
    out_file, err_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, text=True, cwd=REPO)
    peak = 0
    try:
        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                procs = [ps, *ps.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.02)
    except psutil.Error:
        pass
    proc.wait()
    wall = time.perf_counter() - t0
    out_file.seek(0)
    err_file.seek(0)
    out, err = out_file.read(), err_file.read()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    try:
        parsed: dict | str = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        parsed = out
    return parsed, wall, peak


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--books", type=int, default=1000)
    ap.add_argument("--pages", type=int, default=24)
    ap.add_argument("--dir", type=Path, help="library folder (default /tmp/comicdesk-bench/<books>x<pages>)")
    ap.add_argument("--executor", default="auto", choices=("auto", "process", "thread", "inline"))
    ap.add_argument("--workers", type=int, default=0, help="scan workers (0: automatic)")
    ap.add_argument("--cold-cache", action="store_true", help="evict the library from the OS page cache first")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare zipfile+Pillow pass")
    args = ap.parse_args(argv)

    root = args.dir or Path("/tmp/comicdesk-bench") / f"{args.books}x{args.pages}"
    info = ensure_library(root, args.books, args.pages)
    gb = info["bytes"] / 1e9
    print(f"library: {root} — {info['books']} books × {info['pages']} pages, {gb:.1f} GB; "
          f"base pages {', '.join(f'{b / 1e6:.2f}' for b in info['base_page_bytes'])} MB")
    figures: dict = {"books": info["books"], "pages_per_book": info["pages"], "library_gb": round(gb, 2),
                     "cpus": os.cpu_count(), "executor": args.executor, "cold_cache": args.cold_cache}
    py = sys.executable

    if not args.cold_cache:
        # Warm means: everything a scan reads is in the OS page cache. This machine's kernel pages
        # cold file pages out proactively (DAMON), so warm up right before measuring, with one
        # untimed scan into a throw-away cache (it reads what the bare pass reads and more).
        with tempfile.TemporaryDirectory(prefix="comicdesk-bench-warm-") as tmp:
            run_child([py, "-c", SCAN, str(root), f"{tmp}/c", f"{tmp}/d", args.executor, str(args.workers)])
    if not args.no_bare:
        if args.cold_cache:
            evict_from_page_cache(root)
        bare, _, _ = run_child([py, "-c", BARE_PASS, str(root)])
        figures["bare_books_per_s"] = round(bare["books"] / bare["seconds"], 1)
        print(f"bare pass (zipfile + 16 KiB + Pillow header, 1 process): {bare['seconds']:.2f} s, "
              f"{figures['bare_books_per_s']} books/s")

    with tempfile.TemporaryDirectory(prefix="comicdesk-bench-") as tmp:
        cache, data = Path(tmp) / "cache", Path(tmp) / "data"
        if args.cold_cache:
            evict_from_page_cache(root)
        cold, wall, peak = run_child(
            [py, "-c", SCAN, str(root), str(cache), str(data), args.executor, str(args.workers)])
        assert cold["books"] == info["books"] and cold["failed"] == 0, cold
        figures.update(cold_scan_s=round(cold["seconds"], 2),
                       cold_books_per_s=round(cold["books"] / cold["seconds"], 1),
                       cold_wall_s=round(wall, 2), peak_rss_tree_mb=round(peak / 1e6, 1),
                       peak_rss_max_process_mb=round(cold["maxrss"] / 1e6, 1))
        print(f"cold scan: {cold['seconds']:.2f} s, {figures['cold_books_per_s']} books/s "
              f"({cold['pages']} pages; child wall {wall:.2f} s)")
        print(f"peak RSS: {figures['peak_rss_tree_mb']} MB summed over the scan's processes, "
              f"{figures['peak_rss_max_process_mb']} MB largest process")

        noop, wall, _ = run_child([py, "-c", SCAN, str(root), str(cache), str(data), args.executor, str(args.workers)])
        assert noop["unchanged"] == info["books"], noop
        figures.update(noop_rescan_s=round(noop["seconds"], 3))
        _, cli_wall, _ = run_child([py, "-m", "comicdesk", "scan", str(root), "--json",
                                         "--cache-dir", str(cache), "--data-dir", str(data)])
        figures.update(noop_rescan_cli_wall_s=round(cli_wall, 3))
        print(f"no-op rescan: {noop['seconds']:.3f} s in process; `comicdesk scan --json` end to end "
              f"{cli_wall:.3f} s")

    goals = {"cold_books_per_s>=200": figures["cold_books_per_s"] >= 200,
             "noop_rescan<1s": figures["noop_rescan_s"] < 1.0,
             "peak_rss<300MB": figures["peak_rss_tree_mb"] < 300}
    figures["goals_met"] = goals
    print("goals: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in goals.items()))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
