"""Benchmark: export throughput against a plain copy of the same bytes.

    .venv/bin/python tests/bench/bench_export.py [--pages 48] [--repeat 3] [--out DIR]

Builds a CBZ of ``--pages`` realistic pages (1988×3056 JPEG, ~2 MB each; a few distinct noisy
pages repeated) under DIR (default /tmp/comicdesk-bench-export, reused), then measures, median of
``--repeat`` runs, all from a warm page cache:

- ``copy_mb_s``: a plain copy of the source file (``shutil.copyfile`` + ``fsync``): the bytes an
  export of every page has to move, with the same durability;
- ``export_mb_s``: :func:`comicdesk.export.writer.write_cbz` of every page (open the book, stream
  the pages into a temporary file, fsync, re-read and CRC-check every entry, rename);
- ``export_story_mb_s``: the same with one page in four dropped (MB/s of bytes written);
- ``end_to_end_s``: ``export_books`` on the book (scan in-process, labels, fingerprint, write) the
  first time, and ``up_to_date_ms`` for the run after it (skipped: nothing written).

Goal (issue 11): export ≥ 0.7 × the copy speed. Prints a table and one JSON line
(``{"bench": "export", ...}``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_archive import make_pages as _scan_like_pages  # noqa: E402


def make_pages(distinct: int = 4) -> list[bytes]:
    return _scan_like_pages(distinct, seed=11)


def build_book(folder: Path, n: int) -> Path:
    book = folder / "lib" / f"bench-{n}.cbz"
    if book.exists():
        return book
    book.parent.mkdir(parents=True, exist_ok=True)
    pages = make_pages()
    tmp = book.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            zf.writestr(f"page{i + 1:03d}.jpg", pages[i % len(pages)])
    os.replace(tmp, book)
    return book


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def plain_copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    with open(dst, "rb+") as fh:
        os.fsync(fh.fileno())


def export_once(book_path: Path, dst: Path, drop_every: int = 0) -> int:
    from comicdesk.archive import open_book
    from comicdesk.export.writer import PageChoice, write_cbz

    with open_book(book_path) as book:
        choices = [PageChoice(i, "story", not (drop_every and i % drop_every == 0)) for i in range(len(book.pages))]
        report = write_cbz(book, choices, dst, fingerprint="bench")
    return report.bytes_written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/comicdesk-bench-export"))
    args = ap.parse_args()
    book = build_book(args.out, args.pages)
    size = book.stat().st_size
    mb = size / 1e6
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.out))
    try:
        plain_copy(book, work / "warm.bin")  # warm the page cache
        copies, exports, stories = [], [], []
        story_bytes = 0
        for r in range(args.repeat):
            copies.append(timed(lambda r=r: plain_copy(book, work / f"copy{r}.bin")))
            exports.append(timed(lambda r=r: export_once(book, work / f"export{r}.cbz")))
            t0 = time.perf_counter()
            story_bytes = export_once(book, work / f"story{r}.cbz", drop_every=4)
            stories.append(time.perf_counter() - t0)
            for f in work.iterdir():
                f.unlink()
        copy_s, export_s, story_s = (statistics.median(x) for x in (copies, exports, stories))

        from comicdesk.core.settings import Settings
        from comicdesk.export.batch import ExportOptions
        from comicdesk.services.export import export_books
        from comicdesk.export.filters import build_filter
        from comicdesk.library.service import ScanOptions

        settings = Settings.resolve(work / "cache", work / "data", env={})
        options = ExportOptions(filter=build_filter(), scan_options=ScanOptions(executor="inline"), stages=[])
        out = work / "exports" / "x.cbz"
        end_to_end = timed(lambda: export_books(book, out, settings, options))
        up_to_date = timed(lambda: export_books(book, out, settings, options))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    copy_rate, export_rate = mb / copy_s, mb / export_s
    story_rate = story_bytes / 1e6 / story_s
    ratio = export_rate / copy_rate
    print(f"{args.pages} pages, {mb:.1f} MB CBZ (stored JPEGs), median of {args.repeat}")
    print(f"{'what':<34} {'seconds':>8} {'MB/s':>8}")
    print(f"{'plain copy + fsync':<34} {copy_s:>8.3f} {copy_rate:>8.0f}")
    print(f"{'export every page (verified)':<34} {export_s:>8.3f} {export_rate:>8.0f}")
    print(f"{'export 3 pages in 4':<34} {story_s:>8.3f} {story_rate:>8.0f}")
    print(f"{'export_books, first run':<34} {end_to_end:>8.3f}")
    print(f"{'export_books, up to date':<34} {up_to_date:>8.3f}")
    print(f"export / copy speed: {ratio:.2f} (goal >= 0.7)")
    print(json.dumps({"bench": "export", "pages": args.pages, "book_mb": round(mb, 1),
                      "copy_mb_s": round(copy_rate), "export_mb_s": round(export_rate),
                      "export_story_mb_s": round(story_rate), "ratio": round(ratio, 2),
                      "end_to_end_s": round(end_to_end, 3), "up_to_date_ms": round(up_to_date * 1000, 1),
                      "goal_ratio": 0.7, "ok": ratio >= 0.7}))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
