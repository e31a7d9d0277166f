"""The ``comicdesk`` command line: the same services the app uses, without Qt.

Every command takes ``--cache-dir``, ``--data-dir`` and ``--profile``. ``--json`` prints one JSON
object per line on stdout; long work shows a progress bar on stderr (only when stderr is a
terminal); bad input gives one clear line on stderr, never a traceback. Exit codes: 0 the command
ran (per-book errors are data in its output), 1 it could not do its job, 2 bad usage, 130
interrupted.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path
from typing import Callable, Sequence

from comicdesk import __version__
from comicdesk.core.errors import ComicdeskError

COMMANDS = ("gui", "scan", "index", "pages", "panels", "label", "similar", "duplicates", "export", "models")

from comicdesk.commands.output import (  # noqa: F401  (re-exported: tests and callers use cli.X)
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    ProgressBar,
    emit_json,
    existing_path,
    json_line,
    note,
)


# -- commands ---------------------------------------------------------------------------------
def cmd_pages(args, settings) -> int:
    from comicdesk.services.books import book_pages

    path = existing_path(args.book)
    fmt, rows = book_pages(path, settings, note)
    if args.json:
        for row in rows:
            emit_json(row)
    else:
        print(f"{'#':>4}  {'size':>11}  {'bytes':>9}  {'label':<18}  {'from':<9}  name")
        for r in rows:
            size = "BAD" if r["bad"] else f"{r['width']}x{r['height']}"
            label = r["label"] or "-"
            if r["sure"] is False:  # a guess: "advertisement?"
                label += "?"
            if r["source"] == "model" and r["probs"]:
                label = f"{label} {r['probs'].get(r['label'], 0):.0%}"
            print(f"{r['index']:>4}  {size:>11}  {r['bytes'] or 0:>9}  {label:<18}  {r['source'] or '-':<9}  {r['name']}")
        bad = sum(r["bad"] for r in rows)
        note(f"{len(rows)} pages ({fmt}){f', {bad} bad' if bad else ''}: {path}")
    return EXIT_OK


def cmd_label(args, settings) -> int:
    """``comicdesk label BOOK PAGE CLASS``: the person's own label ("none" clears it)."""
    from comicdesk.services.labels import label_page, parse_label

    label = parse_label(args.cls)
    path = existing_path(args.book)
    # The library's head learns from the person's labels and re-scores the other pages now (or,
    # while an analysis holds the library, when that run ends).
    res = label_page(settings, path, args.page, label)
    if res.pending:
        note(f"comicdesk: {res.reason}; the next index run applies your label to the other pages")
    if args.json:
        emit_json({"book": str(path), "page": args.page, "label": label, "source": "user" if label else None})
    else:
        note(f"page {args.page}: {label + ' (your label)' if label else 'your label cleared'}: {path}")
    return EXIT_OK


def cmd_scan(args, settings) -> int:
    from comicdesk.core.text import clean_text
    from comicdesk.services.library import scan_library

    # Not existing_path(): a registered library root that is missing is reported offline (exit 0,
    # nothing removed); any other missing path is refused by scan_library with one clear line.
    path = Path(args.path).expanduser().absolute()
    bar = ProgressBar("scanning")
    try:
        result = scan_library(path, settings, progress=bar)
    finally:
        bar.close()
    for rec in result.books:
        shown = clean_text(rec.path)  # in text, bytes of a name that is not UTF-8 show as U+FFFD
        row = {"path": rec.path, "format": rec.format, "pages": rec.pages, "title": rec.title,
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


def cmd_index(args, settings) -> int:
    import signal

    from comicdesk.core.events import AnalysisProgress, BookAnalysed, BookFailed, PageFailed, Progress
    from comicdesk.core.text import clean_text
    from comicdesk.services.analysis import foreground_runner
    from comicdesk.services.library import scan_library

    path = Path(args.path).expanduser().absolute()
    engine = getattr(args, "engine", "local")
    if getattr(args, "address", None) and engine != "ray":
        note("comicdesk: --address is for --engine ray (the Ray cluster to join)")
        return EXIT_USAGE
    if engine == "ray":
        from comicdesk.services.analysis import check_engine

        check_engine(engine, args.address)  # Ray missing or no cluster at the address: one line
    bar = ProgressBar("scanning")
    try:
        # index looks for damage in the catalogue too (PRAGMA quick_check: seconds on a large one)
        scan = scan_library(path, settings, progress=bar, check_catalog=True)
    finally:
        bar.close()
    for warning in scan.warnings:
        note(f"comicdesk: {warning}")
    note(scan.summary())
    if scan.offline:
        return EXIT_OK
    records = {b.id: b for b in scan.books if b.id is not None}
    bar = ProgressBar("analysing pages")
    waited = []

    def show(row: dict) -> None:
        bar.close()
        if args.json:
            emit_json(row)  # the path exactly (see json_line)
        else:
            status = row["status"] if row["status"] != "failed" else f"FAILED {row['error']}"
            counts = f"{row['pages'] or 0:>4} pages {row['panels'] if row['panels'] is not None else '-':>5} panels"
            print(f"{status:<8} {counts}  {clean_text(row['path'])}", flush=True)

    def on_event(event) -> None:
        if isinstance(event, BookAnalysed):
            if event.final:
                show({"path": str(event.path), "status": event.status, "pages": event.pages,
                      "panels": event.panels, "error": None})
        elif isinstance(event, BookFailed):
            rec = records.get(event.book_id)
            show({"path": str(event.path), "status": "failed",
                  "pages": rec.pages if rec is not None else None, "panels": None, "error": event.reason})
        elif isinstance(event, PageFailed):
            bar.close()
            note(f"{clean_text(Path(event.path).name)}: page {event.index} ({clean_text(event.name)}): {event.reason}")
        elif isinstance(event, AnalysisProgress):
            bar(event)
        elif isinstance(event, Progress) and event.stage == "waiting" and not waited:
            waited.append(True)
            note(f"comicdesk: {event.item}")

    # In the foreground the person waits for it: every core, normal priority (the app's
    # background analysis keeps its capped threads and lowered priority).
    runner = foreground_runner(settings, scan.library_id, on_event=on_event, engine=engine,
                               address=getattr(args, "address", None), library_root=scan.root)

    def on_sigint(signum, frame):
        if runner.cancelled:
            raise KeyboardInterrupt
        runner.cancel()
        bar.close()
        note("comicdesk: cancelling (books in progress are dropped; the next run carries on)")

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        previous = None
    try:
        result = runner.run(list(records))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        bar.close()
    books = result.done + result.skipped + result.failed
    rate = f", {result.rate:.1f} pages/s" if result.rate else ""
    line = (f"{books} book{'s' if books != 1 else ''}: {result.done} analysed, {result.skipped} already "
            f"done, {result.failed} failed; {result.pages} pages, {result.panels} panels in "
            f"{result.elapsed:.1f} s{rate}")
    if result.cancelled:
        note(f"cancelled: {line}; run it again to carry on")
        return EXIT_INTERRUPTED
    note(line)
    return EXIT_OK


def cmd_gui(args, settings) -> int:
    """``comicdesk [gui] [PATH|BOOK] [--screenshot FILE]``: the app (Qt is imported only here)."""
    if args.screenshot:
        shot = Path(args.screenshot).expanduser().absolute()
        if shot.is_dir():
            raise CommandError(f"{args.screenshot}: is a folder; give a file name for the PNG")
        args.screenshot = str(shot)
    if args.path is not None and not Path(args.path).expanduser().exists():
        from comicdesk.services.library import is_registered

        # A registered library whose disk is away opens (shown offline); anything else is a typo.
        if not is_registered(settings, args.path):
            raise CommandError(f"{args.path}: no such file or folder")
    try:
        from comicdesk.qt import run_gui
    except ImportError as exc:  # PySide6/qasync missing from this environment
        raise CommandError(f"the app needs PySide6 and qasync ({exc}); install comicdesk with them") from None
    env = settings.env  # as read at start-up
    return run_gui(args.path, settings, screenshot=args.screenshot,
                   cache_given=bool(args.cache_dir or env.get("COMICDESK_CACHE_DIR")),
                   profile_given=bool(args.profile or env.get("COMICDESK_PROFILE")))


def cmd_panels(args, settings) -> int:
    """Panel detection only (no cache, no catalogue): one row per page."""
    from comicdesk.services.books import PanelRows

    path = existing_path(args.path)
    rows = []
    bar = ProgressBar("panels")

    def say(line: str) -> None:
        bar.close()
        note(line)

    found = PanelRows(path, rtl=bool(args.rtl), note=say, progress=bar)
    try:
        for row in found:
            rows.append(row)
            if args.json:
                emit_json(row)
    finally:
        bar.close()
    source = found.source
    if not args.json:
        print(f"{'#':>4}  {'size':>11}  {'n':>3}  boxes [x,y,w,h]")
        for r in rows:
            if r["panels"] is None:
                print(f"{r['index']:>4}  {'BAD':>11}  {'-':>3}")
                continue
            boxes = " ".join("[{},{},{},{}]".format(*b) for b in r["panels"])
            print(f"{r['index']:>4}  {str(r['width']) + 'x' + str(r['height']):>11}  {len(r['panels']):>3}  {boxes}")
        sys.stdout.flush()
        bad = sum(r["panels"] is None for r in rows)
        note(f"{len(rows)} page{'s' if len(rows) != 1 else ''} ({source}){f', {bad} bad' if bad else ''}: {path}")
    return EXIT_OK


def command_handler(name: str) -> Callable:
    """The handler of a command: built in here, else ``comicdesk.commands.<name>.run``."""
    if name in HANDLERS:
        return HANDLERS[name]
    import importlib

    return importlib.import_module(f"comicdesk.commands.{name}").run


HANDLERS: dict[str, Callable] = {
    "panels": cmd_panels,
    "gui": cmd_gui,
    "pages": cmd_pages,
    "scan": cmd_scan,
    "index": cmd_index,
    "label": cmd_label,
}


# -- parsing ----------------------------------------------------------------------------------
def path_word(value: str) -> str:
    """A path argument: an empty one is an error (``Path("")`` would be the current folder)."""
    if not value:
        raise argparse.ArgumentTypeError("empty path: give a file or folder")
    return value


def device_word(value: str) -> str:
    """``--device``: auto, cpu, cuda, cuda:N or mps (whether this machine has it is checked when
    the command starts: :func:`comicdesk.services.devices.check_device`)."""
    from comicdesk.core.settings import device_name

    try:
        return device_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


DEVICE_HELP = "where the models run: auto (CUDA, else Apple MPS, else the CPU), cpu, cuda[:N] or mps (default: $COMICDESK_DEVICE, else auto)"


def check_path_arg(value: str | None) -> None:
    """Refuse, before anything opens it, a path that is a symlink loop or a special file (a FIFO
    would block the first read forever). A missing path is left to the command to word."""
    if not value:
        return
    from comicdesk.services.books import path_refusal

    reason = path_refusal(value)
    if reason is not None:
        raise CommandError(f"{value}: {reason}")


#: The options every command takes, before or after its name; the first three take a value.
COMMON_VALUE_OPTIONS = ("--cache-dir", "--data-dir", "--profile")


def _common_options(sub: bool) -> argparse.ArgumentParser:
    """The common options. The top-level parser holds their defaults; a command's copy of them
    sets a value only when the option is written after the command name (``SUPPRESS``), so an
    option written before the name is never reset by the command's copy."""
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    unset = {"default": argparse.SUPPRESS} if sub else {}
    common.add_argument("--cache-dir", metavar="DIR", **unset,
                        help="cache root (default: the platform cache dir; $COMICDESK_CACHE_DIR)")
    common.add_argument("--data-dir", metavar="DIR", **unset,
                        help="data root for your own labels and positions (default: the platform data dir; $COMICDESK_DATA_DIR)")
    common.add_argument("--profile", choices=("standard", "cosmo"), **unset, help="model profile (default: standard)")
    common.add_argument("--json", action="store_true", **unset, help="one JSON object per line on stdout")
    return common


def build_parser() -> argparse.ArgumentParser:
    top, common = _common_options(False), _common_options(True)

    parser = argparse.ArgumentParser(
        prog="comicdesk", parents=[top], allow_abbrev=False,
        description="A comic library browser: page classes, story-only reading, similar panels, cleaned CBZ export.",
    )
    parser.add_argument("--version", action="version", version=f"comicdesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("gui", parents=[common], allow_abbrev=False, help="open the app (a library, or one book)")
    p.add_argument("path", nargs="?", metavar="PATH|BOOK", type=path_word)
    p.add_argument("--screenshot", metavar="FILE", help="render the first screen to a PNG and exit")

    p = sub.add_parser("scan", parents=[common], allow_abbrev=False, help="catalogue a library folder or Calibre library")
    p.add_argument("path", metavar="PATH", type=path_word)

    p = sub.add_parser("index", parents=[common], allow_abbrev=False, help="scan, then analyse what is not analysed yet")
    p.add_argument("path", metavar="PATH", type=path_word)
    p.add_argument("--device", type=device_word, metavar="DEVICE", help=DEVICE_HELP)
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where the analysis runs: this process (local, the default) or Ray (pip install 'comicdesk[ray]')")
    p.add_argument("--address", metavar="ADDR",
                   help="with --engine ray: join the Ray cluster at HOST:PORT (default: a local Ray for this run)")

    p = sub.add_parser("pages", parents=[common], allow_abbrev=False, help="list a book's pages")
    p.add_argument("book", metavar="BOOK", type=path_word)

    p = sub.add_parser("panels", parents=[common], allow_abbrev=False, help="detect panels (no cache)")
    p.add_argument("path", metavar="IMAGE|BOOK", type=path_word)
    p.add_argument("--rtl", action="store_true",
                   help="read right to left (manga); a book whose ComicInfo says Manga=YesAndRightToLeft is read so anyway")

    p = sub.add_parser("label", parents=[common], allow_abbrev=False, help="set your own label for a page")
    p.add_argument("book", metavar="BOOK", type=path_word)
    p.add_argument("page", type=int, metavar="PAGE")
    p.add_argument("cls", metavar="CLASS")

    p = sub.add_parser("similar", parents=[common], allow_abbrev=False, help="find similar panels or pages")
    p.add_argument("book", nargs="?", metavar="BOOK", type=path_word)
    p.add_argument("page", nargs="?", type=int, metavar="PAGE")
    p.add_argument("panel", nargs="?", type=int, metavar="PANEL")
    p.add_argument("--text", metavar="QUERY")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--other-books", action="store_true")
    p.add_argument("--classes", nargs="+")
    p.add_argument("--device", type=device_word, metavar="DEVICE", help=DEVICE_HELP)
    p.add_argument("--series", action="append", metavar="SERIES",
                   help="only books of this series (case-insensitive; may be given several times)")

    p = sub.add_parser("duplicates", parents=[common], allow_abbrev=False, help="pages repeated within and across books")
    p.add_argument("path", nargs="?", metavar="PATH", type=path_word)

    p = sub.add_parser("export", parents=[common], allow_abbrev=False, help="write cleaned CBZ files")
    p.add_argument("path", metavar="BOOK|PATH", type=path_word)
    p.add_argument("-o", "--output", required=True, metavar="OUT", type=path_word)
    p.add_argument("--preset", choices=("story-only", "no-ads"))
    group = p.add_mutually_exclusive_group()
    group.add_argument("--keep", metavar="C,..")
    group.add_argument("--drop", metavar="C,..")
    p.add_argument("--mark-only", action="store_true")
    p.add_argument("--no-analyse", action="store_true")
    p.add_argument("--drop-unsure", action="store_true",
                   help="also drop (mark) pages whose class the model is not sure of (kept by default)")
    p.add_argument("--device", type=device_word, metavar="DEVICE", help=DEVICE_HELP)

    p = sub.add_parser("models", parents=[common], allow_abbrev=False, help="list, download or locate models")
    p.add_argument("action", nargs="?", default="list", choices=("list", "download", "path"))
    p.add_argument("name", nargs="?")
    p.add_argument("--yes", action="store_true")
    return parser


#: Commands whose path names the library they may catalogue (a folder: its root; a book: its folder).
_LIBRARY_COMMANDS = ("gui", "scan", "index", "label", "export")


def refuse_dirs_inside_libraries(args, settings) -> None:
    """An explicit cache or data folder (flag or environment) may not lie inside the library the
    command works on, nor inside any registered library
    (:func:`comicdesk.services.library.folder_inside_library`). (The platform's default folders
    are only skipped by the scan: the person did not choose them.)"""
    env = settings.env  # as read at start-up
    explicit = []
    if args.cache_dir or env.get("COMICDESK_CACHE_DIR"):
        explicit.append(("cache", settings.cache_root))
    if args.data_dir or env.get("COMICDESK_DATA_DIR"):
        explicit.append(("data", settings.data_root))
    if not explicit:
        return
    from comicdesk.services.library import folder_inside_library

    target = getattr(args, "path", None) or getattr(args, "book", None)
    reason = folder_inside_library(settings, explicit, target if args.command in _LIBRARY_COMMANDS else None)
    if reason is not None:
        raise CommandError(reason)


def _first_positional(argv: Sequence[str]) -> str | None:
    """The first word that is not an option nor an option's value (``--cache-dir DIR``)."""
    takes_value = (*COMMON_VALUE_OPTIONS, "--screenshot")
    words = iter(argv)
    for word in words:
        if word == "--":
            return next(words, None)
        if word in takes_value:
            next(words, None)
            continue
        if word.startswith("-") and word != "-":
            continue
        return word
    return None


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """``comicdesk PATH`` and a bare ``comicdesk`` mean ``comicdesk gui ...``. The common options
    may come before the command name (``comicdesk --cache-dir DIR scan LIB``): their values are
    never taken for the command or the path."""
    argv = list(argv)
    first = _first_positional(argv)
    if "-h" in argv or "--help" in argv or "--version" in argv:
        if first is None or first in COMMANDS:
            return argv
    if first is None or first not in COMMANDS:
        return ["gui", *argv]
    return argv


def _say_cache_health() -> None:
    """Lines about the cache's health (a damaged file moved aside, books analysed again) go to
    stderr as ``comicdesk: ...`` (``library.db.HEALTH``)."""
    import logging

    health = logging.getLogger("comicdesk.health")
    if not any(getattr(h, "_comicdesk_note", False) for h in health.handlers):
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: note(f"comicdesk: {record.getMessage()}")
        handler._comicdesk_note = True
        health.addHandler(handler)
        health.propagate = False


def _show_undecodable_as_replacement(error: UnicodeEncodeError):
    """Text output: a name's undecodable bytes (lone surrogates) print as U+FFFD (``?`` on a
    terminal that is not UTF-8), never a crash. JSON output escapes them exactly
    (:func:`json_line`). CPython's UTF-8 encoder takes a non-ASCII replacement only as bytes."""
    count = error.end - error.start
    if error.encoding.replace("-", "").replace("_", "").lower() == "utf8":
        return "\ufffd".encode("utf-8") * count, error.end
    return "?" * count, error.end


def _safe_text_streams() -> None:
    import codecs

    codecs.register_error("comicdesk-replace", _show_undecodable_as_replacement)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "strict") == "strict":
            try:
                reconfigure(errors="comicdesk-replace")
            except (ValueError, OSError):
                pass


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _safe_text_streams()
    parser = build_parser()
    args = parser.parse_args(normalise_argv(argv))
    if args.command == "gui" and args.json:  # never ignored: the app prints no JSON
        parser.error("--json needs a command (scan, pages, index, ...); the app has no JSON output")
    try:
        for name in ("path", "book"):
            check_path_arg(getattr(args, name, None))
        from comicdesk.core.settings import Settings

        try:
            settings = Settings.resolve(args.cache_dir, args.data_dir, args.profile,
                                        device=getattr(args, "device", None))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        from comicdesk.services.devices import DEVICE_COMMANDS, check_device

        if args.command in DEVICE_COMMANDS:
            check_device(settings)  # a device this machine lacks: one line, exit 1 (auto: not checked)
        refuse_dirs_inside_libraries(args, settings)
        _say_cache_health()
        handler = command_handler(args.command)
        return handler(args, settings)
    except ComicdeskError as exc:
        note(f"comicdesk: {exc.reason}")
        return EXIT_FAIL
    except sqlite3.DatabaseError as exc:  # met mid-read: a damaged file, a read-only or full cache
        from comicdesk.services.library import is_damage

        if is_damage(exc):
            note(f"comicdesk: a cache file is damaged ({exc}); run comicdesk index on the library to repair it")
        else:
            note(f"comicdesk: the cache cannot be used ({exc}): is its folder read-only, or its disk full?")
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
