"""The ``comicdesk`` command line: the same services the app uses, without Qt.

Every command takes ``--cache-dir``, ``--data-dir`` and ``--profile``. ``--json`` prints one JSON
object per line on stdout; long work shows a progress bar on stderr (only when stderr is a
terminal); bad input gives one clear line on stderr, never a traceback. Exit codes: 0 the command
ran (per-book errors are data in its output), 1 it could not do its job, 2 bad usage, 130
interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from comicdesk import __version__
from comicdesk.core.errors import ComicdeskError

COMMANDS = ("gui", "scan", "index", "pages", "panels", "label", "similar", "duplicates", "export", "models")

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CommandError(ComicdeskError):
    """The command cannot run at all (missing path, bad argument value, ...)."""

    kind = "command"


# -- output helpers ---------------------------------------------------------------------------
def emit_json(obj: dict, out=None) -> None:
    out = out or sys.stdout
    out.write(json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) + "\n")
    out.flush()


def note(message: str) -> None:
    """One line for the person, on stderr."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


class ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, stream=None, enabled: bool | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0
        self._drawn = False

    def __call__(self, event) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = event.total is not None and event.done >= event.total
        if not final and now - self._last < 0.1:
            return
        self._last = now
        if event.total:
            frac = min(1.0, event.done / event.total)
            bar = "#" * int(frac * 24)
            text = f"{self.label} [{bar:<24}] {event.done}/{event.total}"
        else:
            text = f"{self.label} {event.done}…"
        if event.rate:
            text += f"  {event.rate:.0f}/s"
        if event.eta_s is not None and not final:
            text += f"  ETA {event.eta_s:.0f}s"
        width = 100
        self.stream.write("\r" + text[:width].ljust(width))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def existing_path(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise CommandError(f"{value}: no such file or folder")
    return path.absolute()


# -- commands ---------------------------------------------------------------------------------
def cmd_pages(args, settings) -> int:
    from comicdesk.archive import images, open_book

    path = existing_path(args.book)
    with open_book(path) as book:
        labels = {}
        info = book.comicinfo()
        if info is not None:
            from comicdesk.archive.comicinfo import labels_from_comicinfo

            labels = labels_from_comicinfo(info)
        for warning in book.warnings:
            note(f"{path.name}: {warning}")
        rows = []
        for index, data in book.iter_page_bytes():
            page = book.pages[index]
            row = {"index": index, "name": page.name, "width": None, "height": None,
                   "bytes": page.size if page.size >= 0 else None, "bad": False,
                   "label": labels.get(index), "probs": None,
                   "source": "comicinfo" if index in labels else None, "panels": None}
            if isinstance(data, Exception):
                row["bad"] = True
                note(f"page {index} ({page.name}): {getattr(data, 'reason', data)}")
            else:
                row["bytes"] = len(data)
                try:
                    meta = images.verify(data, book.limits.max_image_pixels)
                    row["width"], row["height"] = meta.width, meta.height
                except ComicdeskError as exc:
                    row["bad"] = True
                    note(f"page {index} ({page.name}): {exc.reason}")
            rows.append(row)
    rows.sort(key=lambda r: r["index"])
    if args.json:
        for row in rows:
            emit_json(row)
    else:
        print(f"{'#':>4}  {'size':>11}  {'bytes':>9}  {'label':<13}  name")
        for r in rows:
            size = "BAD" if r["bad"] else f"{r['width']}x{r['height']}"
            print(f"{r['index']:>4}  {size:>11}  {r['bytes'] or 0:>9}  {r['label'] or '-':<13}  {r['name']}")
        bad = sum(r["bad"] for r in rows)
        note(f"{len(rows)} pages ({book.format}){f', {bad} bad' if bad else ''}: {path}")
    return EXIT_OK


def cmd_scan(args, settings) -> int:
    from comicdesk.library.db import clean_text
    from comicdesk.library.service import scan_library

    # Not existing_path(): a registered library root that is missing is reported offline (exit 0,
    # nothing removed); any other missing path is refused by scan_library with one clear line.
    path = Path(args.path).expanduser().absolute()
    bar = ProgressBar("scanning")
    try:
        result = scan_library(path, settings, progress=bar)
    finally:
        bar.close()
    for rec in result.books:
        shown = clean_text(rec.path)  # bytes of a name that is not UTF-8 show as U+FFFD
        row = {"path": shown, "format": rec.format, "pages": rec.pages, "title": rec.title,
               "series": rec.series, "number": rec.number, "error": rec.error}
        if args.json:
            emit_json(row)
        else:
            status = f"ERROR {rec.error}" if rec.error else f"{rec.pages} pages"
            print(f"{rec.format or '?':<6} {status:<30} {shown}")
    for warning in result.warnings:
        note(f"comicdesk: {warning}")
    note(result.summary())
    return EXIT_OK


def cmd_not_yet(args, settings) -> int:
    raise CommandError(f"'{args.command}' is not available in this version of comicdesk yet")


HANDLERS: dict[str, Callable] = {
    "pages": cmd_pages,
    "scan": cmd_scan,
}


# -- parsing ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache-dir", metavar="DIR", help="cache root (default: the platform cache dir; $COMICDESK_CACHE_DIR)")
    common.add_argument("--data-dir", metavar="DIR", help="data root for your own labels and positions (default: the platform data dir; $COMICDESK_DATA_DIR)")
    common.add_argument("--profile", choices=("standard", "cosmo"), help="model profile (default: standard)")
    common.add_argument("--json", action="store_true", help="one JSON object per line on stdout")

    parser = argparse.ArgumentParser(
        prog="comicdesk", parents=[common],
        description="A comic library browser: page classes, story-only reading, similar panels, cleaned CBZ export.",
    )
    parser.add_argument("--version", action="version", version=f"comicdesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("gui", parents=[common], help="open the app (a library, or one book)")
    p.add_argument("path", nargs="?", metavar="PATH|BOOK")
    p.add_argument("--screenshot", metavar="FILE", help="render the first screen to a PNG and exit")

    p = sub.add_parser("scan", parents=[common], help="catalogue a library folder or Calibre library")
    p.add_argument("path", metavar="PATH")

    p = sub.add_parser("index", parents=[common], help="scan, then analyse what is not analysed yet")
    p.add_argument("path", metavar="PATH")

    p = sub.add_parser("pages", parents=[common], help="list a book's pages")
    p.add_argument("book", metavar="BOOK")

    p = sub.add_parser("panels", parents=[common], help="detect panels (no cache)")
    p.add_argument("path", metavar="IMAGE|BOOK")

    p = sub.add_parser("label", parents=[common], help="set your own label for a page")
    p.add_argument("book", metavar="BOOK")
    p.add_argument("page", type=int, metavar="PAGE")
    p.add_argument("cls", metavar="CLASS")

    p = sub.add_parser("similar", parents=[common], help="find similar panels or pages")
    p.add_argument("book", nargs="?", metavar="BOOK")
    p.add_argument("page", nargs="?", type=int, metavar="PAGE")
    p.add_argument("panel", nargs="?", type=int, metavar="PANEL")
    p.add_argument("--text", metavar="QUERY")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--other-books", action="store_true")
    p.add_argument("--classes", nargs="+")

    p = sub.add_parser("duplicates", parents=[common], help="pages repeated within and across books")
    p.add_argument("path", nargs="?", metavar="PATH")

    p = sub.add_parser("export", parents=[common], help="write cleaned CBZ files")
    p.add_argument("path", metavar="BOOK|PATH")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument("--preset", choices=("story-only", "no-ads"))
    group = p.add_mutually_exclusive_group()
    group.add_argument("--keep", metavar="C,..")
    group.add_argument("--drop", metavar="C,..")
    p.add_argument("--mark-only", action="store_true")
    p.add_argument("--no-analyse", action="store_true")

    p = sub.add_parser("models", parents=[common], help="list, download or locate models")
    p.add_argument("action", nargs="?", default="list", choices=("list", "download", "path"))
    p.add_argument("name", nargs="?")
    p.add_argument("--yes", action="store_true")
    return parser


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """``comicdesk PATH`` and a bare ``comicdesk`` mean ``comicdesk gui ...``."""
    argv = list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    if "-h" in argv or "--help" in argv or "--version" in argv:
        if first is None or first in COMMANDS:
            return argv
    if first is None or first not in COMMANDS:
        return ["gui", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(normalise_argv(argv))
    try:
        from comicdesk.core.settings import Settings

        try:
            settings = Settings.resolve(args.cache_dir, args.data_dir, args.profile)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        handler = HANDLERS.get(args.command, cmd_not_yet)
        return handler(args, settings)
    except ComicdeskError as exc:
        note(f"comicdesk: {exc.reason}")
        return EXIT_FAIL
    except KeyboardInterrupt:
        note("comicdesk: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `comicdesk scan ... | head`: the reader went away; not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if os.environ.get("COMICDESK_DEBUG"):
            raise
        note(f"comicdesk: internal error: {type(exc).__name__}: {exc} (set COMICDESK_DEBUG=1 for details)")
        return EXIT_FAIL


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
