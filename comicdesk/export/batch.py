"""Exporting one book or a whole folder/library: the service behind ``comicdesk export``.

:func:`export_books` does, in order:

1. **Where**: finds the library ``path`` belongs to (without registering anything yet) and refuses
   an output inside any registered library root or the source's own library (checked before any
   work is done).
2. **Scan**: catalogues ``path`` (:func:`~comicdesk.library.service.scan_library`: a no-op for
   unchanged books), so every book has a catalogue row, a content key and its ComicInfo types.
3. **Labels**: per book, every page's label as :func:`~comicdesk.library.labels.book_labels`
   resolves it (the person's > ComicInfo's > the model's).
4. **Analysis first**: a book is *analysed* when every page has a label (any source), or when
   every analysis stage of the profile is recorded done for the book's current content. Books not
   analysed are analysed first by the ``analyser`` (:mod:`comicdesk.services.export`: one runner run; progress through
   ``on_event``) unless ``analyse=False``, in which case each such book fails with one line
   saying so. Pages still without a label after analysis are kept and counted ``unlabelled``.
5. **Export**: per book, the pages the filter keeps, into a CBZ (:func:`~.writer.write_cbz`).
   A page the filter does not keep is dropped only when its label is sure
   (:func:`comicdesk.core.pages.page_drop`: the person's, ComicInfo's, or the model's with
   p(dropped classes) >= :data:`~comicdesk.core.pages.SURE_AT`); an unsure one is kept and listed
   in ``kept_unsure`` (``drop_unsure=True``: dropped anyway).
   A batch mirrors the folder tree under the output folder (``A/B/book.cbr`` →
   ``OUT/A/B/book.cbz``; an image-folder book ``A/Book 3/`` → ``OUT/A/Book 3.cbz``); two sources
   that would get one name (``x.cbr`` and ``x.cbz``) keep their source extension in the name
   (``x.cbr.cbz``), the ``.cbz`` one keeps ``x.cbz``.
6. **Up to date**: an output is skipped (status ``up-to-date``) when it exists, is not older than
   its source, and its ZIP comment (the ComicBookInfo JSON's ``comicdesk-export`` key; the text
   comment of exports written before it is still recognised) holds the same *fingerprint*: a hash of the exporter's format
   version, the source's content key, every page's label/keep/Deleted decision and the metadata
   written. A changed label, filter, mark-only flag, Calibre title or source re-exports the book,
   and so does a page whose sureness changed the decision (kept unsure vs dropped): the kept and
   Deleted flags are in the fingerprint.
7. A bad book (unreadable, a page that cannot be read, a full disk, ...) is a result with an
   ``error``; the batch carries on with the next one.

Nothing here writes inside a library: the source is only read; the cache gets the scan and the
analysis, as with ``comicdesk index``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from comicdesk.core.errors import ComicdeskError, one_line
from comicdesk.core.events import Progress
from comicdesk.export.filters import PageFilter
from comicdesk.export.writer import (
    MARKER,
    ExportError,
    Metadata,
    PageChoice,
    check_output_location,
    make_folders,
    read_export_comment,
    resolve_loose,
    write_cbz,
    write_marker,
)

#: Bumped when the same decisions would give a different file: outputs are then re-exported.
#: 2: the ComicBookInfo ZIP comment (exports of version 1 are still recognised as ours, and are
#: re-exported to gain it).
EXPORTER_VERSION = "2"


@dataclass
class ExportOptions:
    filter: PageFilter
    mark_only: bool = False
    #: Drop (or in mark-only, mark Deleted) pages whose label the filter does not keep even when
    #: the model is not sure of it (``--drop-unsure``); by default they are kept.
    drop_unsure: bool = False
    analyse: bool = True
    scan_options: object | None = None  # comicdesk.library.service.ScanOptions
    run_options: object | None = None  # comicdesk.pipeline.runner.RunOptions
    #: Inference workers of the analysis and threads a model may use (None: as ``comicdesk
    #: index``, a worker per core). The app's dialog asks for one of each, as its background
    #: analysis does: the models load into the app's own process, and its export thread runs at
    #: lowered priority, where a model on two threads slows down badly when other programs are busy.
    analysis_workers: int | None = None
    analysis_threads: int | None = None
    #: Runs the analysis instead of a runner in this process: ``(cache_dir, book_ids, run_options,
    #: on_event) -> RunResult``. The app's dialog runs it in a child process (its models would
    #: otherwise hold the UI process's GIL: UI stalls of 70-310 ms during an export).
    analyse_with: Callable | None = None
    stages: Sequence | None = None  # analysis stages (None: the registry's for the profile)


@dataclass
class BookResult:
    """One book's outcome; :meth:`as_json` is the ``--json`` line."""

    book: str
    output: str | None = None
    status: str = "failed"  # "written" | "up-to-date" | "failed"
    pages_kept: int = 0
    pages_dropped: int = 0
    pages_marked: int = 0
    unlabelled: int = 0
    rendered: list[int] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: source page indexes the filter would drop but kept because their label was not sure
    kept_unsure: list[int] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"book": self.book, "output": self.output, "status": self.status,
                "pages_kept": self.pages_kept, "pages_dropped": self.pages_dropped,
                "pages_marked": self.pages_marked, "unlabelled": self.unlabelled,
                "rendered": list(self.rendered), "error": self.error,
                "kept_unsure": list(self.kept_unsure)}


@dataclass
class ExportSummary:
    source: Path
    output: Path
    single: bool
    results: list[BookResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def anything_done(self) -> bool:
        return any(r.status in ("written", "up-to-date") for r in self.results)

    def summary(self) -> str:
        n = len(self.results)
        kept = sum(r.pages_kept for r in self.results if r.status != "failed")
        dropped = sum(r.pages_dropped for r in self.results if r.status != "failed")
        rendered = sum(len(r.rendered) for r in self.results if r.status != "failed")
        unsure = sum(len(r.kept_unsure) for r in self.results if r.status != "failed")
        return (f"{n} book{'s' if n != 1 else ''}: {self.count('written')} written, "
                f"{self.count('up-to-date')} up to date, {self.count('failed')} failed; {kept} pages "
                f"kept, {dropped} dropped, {unsure} kept unsure, {rendered} rendered → {self.output} "
                f"({self.elapsed:.1f} s)")


def _fingerprint(content_key: str | None, choices: list[PageChoice], metadata: Metadata | None) -> str:
    doc = {"v": EXPORTER_VERSION, "key": content_key,
           "pages": [[c.index, c.label, c.keep, c.deleted] for c in choices],
           "meta": metadata.as_dict() if metadata is not None else None}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


def decide_pages(labels: dict, page_count: int, page_filter: PageFilter, mark_only: bool,
                 drop_unsure: bool = False) -> tuple[list[PageChoice], int, list[int]]:
    """Per page, whether it is written and whether it is marked Deleted; how many pages have no
    label; and the pages kept (not marked, in mark-only) only because their label is not sure
    (:meth:`PageFilter.decide`; ``drop_unsure``: dropped anyway, and none listed). A page
    ComicInfo marks Deleted (hidden) is dropped unless the person labelled it."""
    choices = []
    unlabelled = 0
    unsure: list[int] = []
    for i in range(page_count):
        lab = labels.get(i)
        label = getattr(lab, "label", None)
        source = getattr(lab, "source", None)
        hidden = bool(getattr(lab, "hidden", False)) and source != "user"
        if label is None:
            unlabelled += 1
        verdict = page_filter.decide(label, getattr(lab, "probs", None), source)
        if verdict == "unsure" and not hidden and not drop_unsure:
            unsure.append(i)
        wanted = not hidden and (verdict == "keep" or (verdict == "unsure" and not drop_unsure))
        if mark_only:
            choices.append(PageChoice(i, label, True, not wanted))
        else:
            choices.append(PageChoice(i, label, wanted, False))
    return choices, unlabelled, unsure


def preview_unsure(paths: Sequence[str | os.PathLike], settings, page_filter: PageFilter,
                   mark_only: bool = False) -> dict[str, list[int]]:
    """For each book already catalogued, the pages an export with ``page_filter`` would keep only
    because their label is not sure (what ``kept_unsure`` would list), from the labels the cache
    holds now. Reads only (the catalogue and the person's data, read-only); a book not catalogued
    yet, or whose library cannot be read, is left out. For the app's export dialog."""
    import sqlite3

    from comicdesk.library.catalog import CATALOG_FILE
    from comicdesk.library.service import locate_library

    by_library: dict[str, tuple[Path, list[Path]]] = {}
    for path in paths:
        p = Path(path).expanduser().absolute()
        try:
            target = locate_library(p, settings, register=False, calibre_timeout=5.0)
        except ComicdeskError:
            continue
        by_library.setdefault(target.id, (settings.library_cache_dir(target.id), []))[1].append(p)
    out: dict[str, list[int]] = {}
    for library_id, (cache_dir, books) in by_library.items():
        if not (Path(cache_dir) / CATALOG_FILE).is_file():
            continue
        try:
            with _open_state(cache_dir, settings, library_id) as (catalog, user):
                for p in books:
                    row = catalog.book_by_path(p)
                    if row is None:
                        continue
                    labels = _labels(catalog, row, user)
                    _c, _u, unsure = decide_pages(labels, row.pages or len(labels), page_filter, mark_only)
                    out[str(p)] = unsure
        except (ComicdeskError, sqlite3.Error, OSError):
            continue
    return out


def _analysed(labels: dict, runs: dict, row, stage_names: set[str]) -> bool:
    if labels and all(getattr(lab, "label", None) is not None for lab in labels.values()):
        return True
    if not stage_names:
        return False
    done = {name for name, r in runs.items() if r.status == "done" and r.content_key == row.content_key}
    return stage_names <= done


def _book_name(path: Path, fmt: str | None) -> str:
    return path.name if fmt == "folder" else path.stem


def _mirror_names(books: list, base: Path) -> dict[int, Path]:
    """Output path (relative) for each book id, mirroring ``base``."""
    rel: dict[int, Path] = {}
    wanted: dict[Path, list] = {}
    for rec in books:
        p = Path(rec.path)
        try:
            r = p.relative_to(base)
        except ValueError:
            r = Path(p.name)
        if rec.format == "folder" or not r.suffix:
            target = r.parent / f"{r.name}.cbz"
        else:
            target = r.with_suffix(".cbz")
        wanted.setdefault(Path(str(target).casefold()), []).append((rec, r, target))
    for group in wanted.values():
        for rec, r, target in group:
            if len(group) > 1 and r.suffix.casefold() != ".cbz":
                target = r.parent / f"{r.name}.cbz"
            rel[rec.id] = target
    return rel


def library_roots(settings, extra: Sequence[tuple[Path, str]] = ()) -> list[tuple[Path, str]]:
    """Every registered library root (and ``extra``), as ``(root, what)`` pairs."""
    from comicdesk.library.registry import LibraryRegistry

    roots = [(entry.root, "the library") for entry in LibraryRegistry(settings).load().values()]
    return roots + list(extra)


def export_books(path: str | os.PathLike, output: str | os.PathLike, settings, options: ExportOptions, *,
                 on_result: Callable[[BookResult], None] | None = None,
                 on_event: Callable[[object], None] | None = None, analyser) -> ExportSummary:
    """Export the book or the books under ``path`` to ``output`` (a ``.cbz`` file for one book,
    else a folder). Raises :class:`~comicdesk.core.errors.ComicdeskError` (one line) when nothing
    can be done at all; per-book problems are results with an ``error``. ``on_event`` receives
    scan progress, analysis events and ``Progress(stage="export")``. ``analyser`` (the export
    layer may not use the pipeline: :func:`comicdesk.services.export.export_books` passes it)
    says which analysis stages a book needs, ``analyser.stage_names(options, settings)``, and
    analyses the books that lack them, ``analyser.analyse(cache_dir, book_ids, settings, options,
    emit, library_id) -> {book_id: reason it failed}``."""
    from comicdesk.library.service import ScanOptions, locate_library, scan_library

    t0 = time.monotonic()
    given = Path(path).expanduser().absolute()
    if not given.exists():
        raise ExportError(f"{path}: no such file or folder")
    out = Path(output).expanduser().absolute()
    emit = on_event or (lambda event: None)

    # 1. where: refuse before doing anything.
    target = locate_library(given, settings, register=False)
    what = "the Calibre library" if target.kind == "calibre" else "the source's library"
    check_output_location(out, library_roots(settings, [(target.root, what), (given, "the source")]))

    # 2. scan.
    scan = scan_library(given, settings, progress=emit,
                        options=options.scan_options or ScanOptions())
    if scan.offline:
        raise ExportError(scan.summary())
    summary = ExportSummary(given, out, single=False, warnings=list(scan.warnings))
    records = [b for b in scan.books]
    if not records:
        raise ExportError(f"no books found in {given}")
    resolved = given.resolve()
    single = len(records) == 1 and Path(records[0].path) in (given, resolved)
    summary.single = single

    # Output names.
    if single:
        rec = records[0]
        if out.suffix.casefold() == ".cbz" and not out.is_dir():
            dest = {rec.id: out}
        else:
            if out.exists() and not out.is_dir():
                raise ExportError(f"{output} exists and is not a folder; give a .cbz name or a folder")
            dest = {rec.id: out / f"{_book_name(Path(rec.path), rec.format)}.cbz"}
    else:
        if out.exists() and not out.is_dir():
            raise ExportError(f"{output} is a file; a folder or library is exported into a folder")
        base = resolved if resolved.is_dir() else resolved.parent
        dest = {bid: out / r for bid, r in _mirror_names([r for r in records if r.id is not None], base).items()}

    results: dict[str, BookResult] = {}
    order: list[str] = []
    for rec in records:
        order.append(rec.path)
        res = BookResult(book=_show(rec.path))
        results[rec.path] = res
        if rec.error or rec.id is None:
            res.error = rec.error or "not catalogued"
    ok = [rec for rec in records if results[rec.path].error is None]

    cache_dir = settings.library_cache_dir(scan.library_id)
    stage_names = analyser.stage_names(options, settings)
    calibre_books = _calibre_books(target) if target.kind == "calibre" else {}

    def state(catalog, user):
        out_state = {}
        ids = [rec.id for rec in ok]
        runs = catalog.runs(ids) if ids else {}
        for rec in ok:
            row = catalog.book(rec.id)
            if row is None:
                continue
            labels = _labels(catalog, row, user)
            out_state[rec.id] = (row, labels, _analysed(labels, runs.get(rec.id, {}), row, stage_names))
        return out_state

    with _open_state(cache_dir, settings, scan.library_id) as (catalog, user):
        books = state(catalog, user)
    pending = [rec for rec in ok if rec.id in books and not books[rec.id][2]]
    if pending and options.analyse:
        failed = analyser.analyse(cache_dir, [rec.id for rec in pending], settings, options, emit, scan.library_id)
        for rec in pending:
            if rec.id in failed:
                results[rec.path].error = f"analysis failed: {failed[rec.id]}"
        with _open_state(cache_dir, settings, scan.library_id) as (catalog, user):
            books = state(catalog, user)
    elif pending:
        for rec in pending:
            row, labels, _ = books[rec.id]
            missing = sum(1 for lab in labels.values() if lab.label is None)
            results[rec.path].error = (
                f"not analysed yet ({missing} of {len(labels)} pages have no label); run "
                f"`comicdesk index` on it first, or export without --no-analyse")

    # 5. export, book by book.
    todo = [rec for rec in ok if results[rec.path].error is None]
    if not single and todo:
        make_folders(out)
        write_marker(out)
    for n, rec in enumerate(todo):
        res = results[rec.path]
        emit(Progress("export", n, len(todo), item=rec.path))
        if rec.id not in books:
            res.error = "not in the catalogue any more; scan again"
            continue
        row, labels, _ = books[rec.id]
        try:
            _export_one(rec, row, labels, dest[rec.id], options, calibre_books, res, single, out)
        except (KeyboardInterrupt, SystemExit):
            raise
        except ComicdeskError as exc:
            res.error = exc.reason
        except Exception as exc:  # noqa: BLE001 - one bad book never stops a batch
            res.error = one_line(exc, "internal error: ")
        if res.error is not None:
            res.status = "failed"
    emit(Progress("export", len(todo), len(todo)))
    for p in order:
        res = results[p]
        if res.error is not None:
            res.status = "failed"
            res.output = None
        summary.results.append(res)
        if on_result is not None:
            on_result(res)
    summary.elapsed = time.monotonic() - t0
    return summary


def _export_one(rec, row, labels, dest: Path, options: ExportOptions, calibre_books: dict,
                res: BookResult, single: bool, export_root: Path) -> None:
    from comicdesk.archive import open_book

    choices, unlabelled, unsure = decide_pages(labels, row.pages or len(labels), options.filter,
                                               options.mark_only, options.drop_unsure)
    res.unlabelled = unlabelled
    res.kept_unsure = unsure
    metadata = calibre_books.get(row.calibre_id) if row.calibre_id is not None else None
    fp = _fingerprint(row.content_key, choices, metadata)
    src = Path(row.path)
    if row.format != "folder":
        st = os.stat(src)
        if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
            raise ExportError("the book changed since it was scanned; run the export again")
    if dest.exists():
        previous = read_export_comment(dest)
        if previous is None:
            raise ExportError(f"{dest} exists and was not written by comicdesk export; it is left alone "
                              f"(move it away or choose another output)")
        if previous["fingerprint"] == fp and _not_older(dest, src):
            res.status = "up-to-date"
            res.output = str(dest)
            res.pages_kept = sum(c.keep for c in choices)
            res.pages_dropped = sum(not c.keep for c in choices)
            res.pages_marked = sum(c.keep and c.deleted for c in choices)
            res.rendered = previous["rendered"]
            return
    if not dest.parent.exists():
        make_folders(dest.parent, marked_from=dest.parent if single else export_root)
    with open_book(src) as book:
        if len(book.pages) != len(choices):
            raise ExportError("the book changed since it was scanned; run the export again")
        report = write_cbz(book, choices, dest, metadata=metadata, fingerprint=fp)
    res.status = "written"
    res.output = str(dest)
    res.pages_kept = report.pages_kept
    res.pages_dropped = report.pages_dropped
    res.pages_marked = report.pages_marked
    res.rendered = report.rendered
    res.warnings = report.warnings


def _not_older(dest: Path, src: Path) -> bool:
    try:
        return dest.stat().st_mtime_ns >= src.stat().st_mtime_ns
    except OSError:
        return False


def _show(path: str) -> str:
    """The book's path exactly (a name that is not UTF-8 keeps its bytes as lone surrogates: the
    CLI's JSON escapes them, its text shows U+FFFD)."""
    return path


def _labels(catalog, row, user) -> dict:
    from comicdesk.library.labels import book_labels

    return book_labels(catalog, row, user)


def _calibre_books(target) -> dict[int, Metadata]:
    from comicdesk.library.calibre import read_library
    from comicdesk.library.names import format_series_index

    lib = read_library(target.root)
    out = {}
    for b in lib.books:
        # Calibre keeps no role for an author (metadata.db's authors and books_authors_link hold
        # names and their order only): every author is written as a writer.
        authors = tuple(a for a in b.authors if a)
        out[b.id] = Metadata(
            title=b.title or None, series=b.series or None,
            number=format_series_index(b.series_index) if b.series else None,
            writer=", ".join(authors) or None, authors=authors)
    return out


class _open_state:
    """The catalogue (read-only) and the person's data (read-only, or None) for a library."""

    def __init__(self, cache_dir: Path, settings, library_id: str):
        self.cache_dir, self.settings, self.library_id = cache_dir, settings, library_id

    def __enter__(self):
        from comicdesk.library.catalog import Catalog
        from comicdesk.library.labels import open_user_data

        self.catalog = Catalog.open(self.cache_dir, readonly=True)
        try:
            self.user = open_user_data(self.settings, self.library_id)
        except BaseException:
            self.catalog.close()
            raise
        return self.catalog, self.user

    def __exit__(self, *exc):
        if self.user is not None:
            self.user.close()
        self.catalog.close()


__all__ = [
    "MARKER",
    "BookResult",
    "ExportOptions",
    "ExportSummary",
    "decide_pages",
    "export_books",
    "library_roots",
    "preview_unsure",
    "resolve_loose",
]
