"""Scanning a library: the service the CLI and the app call.

:func:`scan_library` finds the library a path belongs to (:mod:`~comicdesk.library.registry`),
takes the library's writer lock, lists the books (folder walk or Calibre's database), compares
them with the catalogue and reads only what is new or changed, in a small pool of workers, while
this thread alone writes the catalogue in batched transactions.

How a rescan decides, per path:

- same size and mtime as catalogued → *unchanged*, nothing is opened (a Calibre book's names are
  still refreshed from Calibre's database);
- different hints → its content key is computed: the same key means a touch (*unchanged*, hints
  updated); a different key means *changed* (re-read; pages and analysis replaced);
- a new path → content key first: when it matches a catalogued book whose path went away (or a
  recently removed one) the book *moved*: the row keeps its id, pages and analysis, only path and
  hints change; otherwise it is *added*;
- a catalogued path that is gone → *removed* (tombstoned, purged after 30 days);
- a book that failed with a content error (corrupt, password, no images) is not reopened until
  it changes or comicdesk's scanner version changes; one that failed for a passing reason
  (permission, I/O, missing file) is tried again on every scan.

A library root that is missing or empty (unmounted disk, NAS offline), or that disappears during
the scan, makes the scan *offline*: nothing is removed, and what was already read stays.
"""

from __future__ import annotations

import os
import sqlite3
import time
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from comicdesk.core.events import Progress
from comicdesk.core.settings import Settings
from comicdesk.library import scanner
from comicdesk.library.catalog import BookRow, Catalog, PageRow
from comicdesk.library.db import DatabaseDamaged
from comicdesk.library.errors import CatalogError, LibraryError
from comicdesk.library.identity import library_id_for_root
from comicdesk.library.lock import LibraryLock
from comicdesk.library.names import resolve_names
from comicdesk.library.registry import LibraryRegistry

#: Bump when the scanner reads books differently: failed books are then tried again.
SCANNER_VERSION = "1"
#: Failures worth retrying on every scan (the file may be readable next time).
RETRY_KINDS = frozenset({"unreadable", "missing", "internal"})
#: From this many books to open, worker processes pay for their start (about 0.5 s here);
#: below it, two threads (they overlap disk waits; the readers' Python code holds the GIL).
PROCESS_POOL_MIN_JOBS = 200


@dataclass(frozen=True)
class ScanOptions:
    workers: int = 0  # 0: one per core, at most 4
    executor: str = "auto"  # "auto" | "process" | "thread" | "inline"
    batch_size: int = 100  # books per catalogue transaction
    lock_timeout: float = 30.0  # seconds to wait for another writer of the library
    calibre_timeout: float = 30.0  # seconds to wait while Calibre's database is locked
    limits: object | None = None  # comicdesk.archive.base.Limits
    #: multiprocessing start method of the process pool; None: forkserver where there is one
    #: (never fork a process that may hold threads, such as the app's), else spawn.
    start_method: str | None = None
    #: Look for damage in the catalogue first (``PRAGMA quick_check``; seconds on a large one):
    #: ``comicdesk index`` does. A damaged one is moved aside and this scan fills a new one.
    check_catalog: bool = False

    def worker_count(self) -> int:
        return self.workers or max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class LibraryTarget:
    root: Path
    id: str
    kind: str  # "folder" | "calibre"
    scope: Path | None  # None: the whole library; else a sub-folder or one book


@dataclass
class BookRecord:
    """One book as the scan reports it (the CLI prints path..error)."""

    path: str
    format: str | None
    pages: int | None
    title: str | None
    series: str | None
    number: str | None
    error: str | None
    status: str  # added | changed | moved | unchanged
    id: int | None = None
    content_key: str | None = None
    authors: list[str] = field(default_factory=list)


@dataclass
class ScanResult:
    library_id: str
    root: Path
    kind: str
    scope: Path | None
    books: list[BookRecord] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    offline: bool = False
    offline_reason: str | None = None
    known_books: int = 0  # books the catalogue keeps (reported when offline)
    warnings: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def failed(self) -> int:
        """Books (of those listed) that have an error; they are also counted as added/changed/..."""
        return sum(1 for b in self.books if b.error)

    def counts(self) -> dict[str, int]:
        return {"books": len(self.books), "added": self.added, "changed": self.changed,
                "moved": self.moved, "removed": self.removed, "unchanged": self.unchanged,
                "failed": self.failed}

    def summary(self) -> str:
        if self.offline:
            return (f"offline: {self.offline_reason}; nothing removed, the catalogue keeps its "
                    f"{self.known_books} book{'s' if self.known_books != 1 else ''}")
        c = self.counts()
        where = self.scope if self.scope is not None else self.root
        return (f"{c['books']} book{'s' if c['books'] != 1 else ''} in {where}: {c['added']} added, "
                f"{c['changed']} changed, {c['moved']} moved, {c['removed']} removed, "
                f"{c['unchanged']} unchanged, {c['failed']} failed ({self.elapsed:.1f} s)")


# -- finding the library -----------------------------------------------------------------------
def locate_library(path: str | os.PathLike, settings: Settings, *, calibre_timeout: float = 30.0,
                   register: bool = True) -> LibraryTarget:
    """The library ``path`` belongs to (registering a new one unless ``register`` is False).

    A registered root that no longer exists is still found (it is offline); any other missing path
    is an error."""
    from comicdesk.library.calibre import is_calibre_library, read_library_id

    given = Path(path).expanduser().absolute()
    resolved = given.resolve()
    registry = LibraryRegistry(settings)
    entry = registry.find(resolved)
    if not resolved.exists():
        if entry is not None:
            return LibraryTarget(entry.root, entry.id, entry.kind,
                                 None if entry.root == resolved else resolved)
        raise LibraryError(f"{path}: no such file or folder")
    scope: Path | None = None
    if resolved.is_dir() and is_calibre_library(resolved):
        library_id = read_library_id(resolved, calibre_timeout) or library_id_for_root(resolved)
        target = LibraryTarget(resolved, library_id, "calibre", None)
    elif entry is not None and entry.root == resolved:
        target = LibraryTarget(entry.root, entry.id, entry.kind, None)
    elif entry is not None:
        target = LibraryTarget(entry.root, entry.id, entry.kind, resolved)
    elif resolved.is_dir():
        target = LibraryTarget(resolved, library_id_for_root(resolved), "folder", None)
    else:  # a book outside every library: a one-book library rooted at its folder
        scope = resolved
        target = LibraryTarget(resolved.parent, library_id_for_root(resolved.parent), "folder", scope)
    if register and (entry is None or (entry.root, entry.id, entry.kind) != (target.root, target.id, target.kind)):
        try:
            registry.register(target.root, target.id, target.kind)
        except OSError as exc:
            raise LibraryError(f"cannot write the library registry {registry.path}: "
                               f"{exc.strerror or exc}") from None
    return target


def root_problem(target: LibraryTarget) -> str | None:
    """Why the library root cannot be trusted right now (None when it is online)."""
    root = target.root
    try:
        if target.kind == "calibre":
            if not (root / "metadata.db").is_file():
                return f"{root} is missing or has no metadata.db (disk not mounted?)"
            return None
        with os.scandir(root) as it:
            if next(it, None) is None:
                return f"{root} is empty (disk not mounted or NAS offline?)"
    except FileNotFoundError:
        return f"{root} is missing (disk not mounted or NAS offline?)"
    except NotADirectoryError:
        return f"{root} is not a folder any more"
    except OSError as exc:
        return f"{root} cannot be read ({exc.strerror or exc}; disk or NAS offline?)"
    return None


# -- scanning ----------------------------------------------------------------------------------
def scan_library(path: str | os.PathLike, settings: Settings,
                 progress: Callable[[Progress], None] | None = None,
                 options: ScanOptions | None = None) -> ScanResult:
    """Catalogue the library ``path`` belongs to (or the part of it ``path`` names)."""
    options = options or ScanOptions()
    t0 = time.monotonic()
    target = locate_library(path, settings, calibre_timeout=options.calibre_timeout)
    result = ScanResult(target.id, target.root, target.kind, target.scope)
    cache_dir = settings.library_cache_dir(target.id)
    problem = root_problem(target)
    if problem is not None:
        _mark_offline(result, problem, cache_dir)
        result.elapsed = time.monotonic() - t0
        return result

    def waiting(message: str) -> None:
        if progress is not None:
            progress(Progress("waiting", 0, None, item=message))

    try:
        lock = LibraryLock(cache_dir, timeout=options.lock_timeout, on_wait=waiting)
        lock.acquire()
    except OSError as exc:
        raise LibraryError(f"cannot use the cache folder {cache_dir}: {exc.strerror or exc}") from None
    try:
        try:
            with Catalog.open(cache_dir, check=options.check_catalog) as catalog:
                _Scan(target, settings, catalog, options, progress, result).run()
        except DatabaseDamaged:
            # The catalogue's damage showed mid-scan (and was noted): this open moves it aside and
            # starts a new one, which the scan fills again (docs/library.md, "A damaged cache").
            result = ScanResult(target.id, target.root, target.kind, target.scope)
            with Catalog.open(cache_dir) as catalog:
                _Scan(target, settings, catalog, options, progress, result).run()
    except sqlite3.OperationalError as exc:  # disk full, cache folder made read-only, ...
        raise CatalogError(f"cannot write the catalogue in {cache_dir}: {exc}") from None
    finally:
        lock.release()
    result.elapsed = time.monotonic() - t0
    return result


def _mark_offline(result: ScanResult, problem: str, cache_dir: Path) -> None:
    result.offline = True
    result.offline_reason = problem
    catalog_file = cache_dir / "catalog.sqlite"
    if catalog_file.exists():
        try:
            with Catalog.open(cache_dir, readonly=True) as catalog:
                result.known_books = catalog.count_books()
        except Exception:  # noqa: BLE001 - the count is informative only
            pass


def _within(path: str, scope: Path | None) -> bool:
    if scope is None:
        return True
    p = Path(path)
    return p == scope or p.is_relative_to(scope)


class _Scan:
    def __init__(self, target: LibraryTarget, settings: Settings, catalog: Catalog,
                 options: ScanOptions, progress, result: ScanResult):
        self.target = target
        self.settings = settings
        self.catalog = catalog
        self.options = options
        self.progress = progress
        self.result = result
        self.status: dict[str, str] = {}
        self.now = time.time()

    # -- the steps ----------------------------------------------------------------------------
    def run(self) -> None:
        started = time.time()
        self._emit(0, None, "looking for books")
        cat = self.catalog
        with cat.transaction():
            cat.set_meta("library_id", self.target.id)
            cat.set_meta("root", str(self.target.root))
            cat.set_meta("kind", self.target.kind)
        retry_all_failed = cat.get_meta("scanner_version") != SCANNER_VERSION

        candidates, unreadable = self._candidates()
        rows = cat.all_books(include_removed=True)
        self.live = {r.path: r for r in rows if r.removed_at is None and _within(r.path, self.target.scope)}
        ignored = cat.ignored()
        seen = {c.path for c in candidates}

        jobs: list[scanner.Job] = []
        unchanged: list[tuple[BookRow, scanner.Candidate]] = []
        missing: list[scanner.Candidate] = []  # listed by Calibre, not there: nothing to read
        for cand in candidates:
            if cand.kind == "missing":
                missing.append(cand)
                continue
            row = self.live.get(cand.path)
            if row is not None:
                same = row.size == cand.size and row.mtime_ns == cand.mtime_ns
                retry = row.error is not None and (retry_all_failed or row.error_kind in RETRY_KINDS)
                if same and not retry:
                    unchanged.append((row, cand))
                else:  # a retry reads the book even when its content is the same
                    jobs.append(scanner.Job(cand, known_key=row.content_key, force_open=retry))
            else:
                hint = ignored.get(cand.path)
                if hint is not None and hint[:2] == (cand.size, cand.mtime_ns):
                    continue
                jobs.append(scanner.Job(cand, move_ok=True))

        self.vanished: dict[int, BookRow] = {
            r.id: r for path, r in self.live.items()
            if path not in seen and not any(_within(path, Path(u)) for u in unreadable)}
        # Books that went away (this scan) or were removed earlier: a new path with one of their
        # keys is the same book, moved.
        self.move_sources: dict[str, list[BookRow]] = {}
        for r in list(self.vanished.values()) + [r for r in rows if r.removed_at is not None]:
            if r.content_key:
                self.move_sources.setdefault(r.content_key, []).append(r)
        self.ignored_paths = set(ignored)

        self._refresh_unchanged(unchanged)
        if missing:
            with cat.transaction():
                for cand in missing:
                    self._write(scanner.Job(cand), scanner.missing_result(cand))
        offline = self._read(jobs)
        problem = offline or root_problem(self.target)
        if problem is not None:
            self.result.offline, self.result.offline_reason = True, problem
            self.result.known_books = cat.count_books()
            with cat.transaction():
                cat.record_scan(started, time.time(), str(self.target.scope or self.target.root),
                                "offline", self.result.counts())
            return
        with cat.transaction():
            if self.vanished:
                cat.tombstone(self.vanished.keys(), self.now)
                self.result.removed = len(self.vanished)
            cat.purge_tombstones(self.now)
            cat.set_meta("scanner_version", SCANNER_VERSION)
        self.result.books = self._records()
        with cat.transaction():
            cat.record_scan(started, time.time(), str(self.target.scope or self.target.root), "ok",
                            self.result.counts())
        self._emit(len(jobs), len(jobs), "")

    def _candidates(self) -> tuple[list[scanner.Candidate], list[str]]:
        target = self.target
        if target.kind == "calibre":
            from comicdesk.library.calibre import read_library

            lib = read_library(target.root, self.options.calibre_timeout)
            if lib.library_id and lib.library_id != target.id:
                self.result.warnings.append("Calibre's library id changed since this library was "
                                            "registered; scan the library folder again")
            cands = scanner.calibre_candidates(lib, target.scope)
            if target.scope is not None and not cands:
                self.result.warnings.append(f"{target.scope} is not a book listed in Calibre's database")
            return cands, []
        scope = target.scope
        if scope is not None and any((a / scanner.EXPORT_MARKER).exists()
                                     for a in [scope, *scope.parents] if a == target.root or a.is_relative_to(target.root)):
            self.result.warnings.append(f"{scope} is inside an export folder; export folders are never scanned")
            return [], []
        if scope is not None and not scope.is_dir():
            cand = scanner.file_candidate(scope)
            return ([cand] if cand else []), []
        skip = frozenset(os.path.realpath(p) for p in (self.settings.cache_root, self.settings.data_root))
        walked = scanner.walk_folder(scope or target.root, skip=skip)
        self.result.warnings.extend(walked.warnings)
        return walked.candidates, walked.unreadable

    def _refresh_unchanged(self, unchanged: list[tuple[BookRow, scanner.Candidate]]) -> None:
        """Unchanged files; a Calibre book's names may still have been edited in Calibre."""
        changed_names = []
        for row, cand in unchanged:
            self.status[row.path] = "unchanged"
            if cand.calibre is not None:
                names = resolve_names(scanner.display_name(row.path, cand.kind), row.comicinfo, cand.calibre)
                if (names.title, names.series, names.number, names.authors, cand.calibre.get("id"),
                        cand.calibre.get("cover_path")) != (row.title, row.series, row.number,
                                                            row.authors, row.calibre_id, row.cover_path):
                    changed_names.append((row, cand, names))
        self.result.unchanged += len(unchanged)
        if changed_names:
            with self.catalog.transaction():
                for row, cand, names in changed_names:
                    self._relocate(row, row.path, row.size, row.mtime_ns, names, cand.calibre)

    # -- reading books in a pool, writing them here ---------------------------------------------
    def _read(self, jobs: list[scanner.Job]) -> str | None:
        """Run the jobs; returns why the scan went offline, or None."""
        if not jobs:
            return None
        total = len(jobs)
        t0 = time.monotonic()
        done = 0
        pending: list[scanner.Job] = list(reversed(jobs))
        suspects: list[scanner.Job] = []  # jobs in flight when a worker process died
        pool = _Pool(self.options, len(jobs), frozenset(self.move_sources))
        in_flight: dict[Future, list[scanner.Job]] = {}
        chunk = 1 if pool.width == 0 else max(1, min(8, total // (pool.width * 16) or 1))
        batch_started = time.monotonic()
        in_batch = 0
        cat = self.catalog
        problem: str | None = None
        cat.conn.execute("BEGIN IMMEDIATE")
        try:
            while (pending or suspects or in_flight) and problem is None:
                if suspects:
                    # One at a time, so a book that kills its worker is found and only it fails.
                    if not in_flight:
                        job = suspects.pop()
                        in_flight[pool.submit([job])] = [job]
                else:
                    while pending and len(in_flight) < max(2, pool.width * 4):
                        group = [pending.pop() for _ in range(min(chunk, len(pending)))]
                        in_flight[pool.submit(group)] = group
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                results = []
                for fut in finished:
                    group = in_flight.pop(fut)
                    try:
                        results.extend(zip(group, fut.result()))
                    except BrokenExecutor:
                        if len(group) == 1 and not in_flight and pool.isolating:
                            results.append((group[0], _crashed(group[0])))
                        else:
                            suspects.extend(group)
                            suspects.extend(j for g in in_flight.values() for j in g)
                        in_flight.clear()
                        pool.restart()
                        pool.isolating = True
                        break
                if not suspects and not in_flight:
                    pool.isolating = False
                for job, res in results:
                    if res.status == "failed" and res.error_kind == "unreadable":
                        # Files failing to open may mean the disk went away: then stop, keep what
                        # was read before, and record nothing more.
                        problem = root_problem(self.target)
                        if problem is not None:
                            break
                    again = self._write(job, res)
                    if again is not None:
                        pending.append(again)
                        total += 1
                    done += 1
                    in_batch += 1
                    elapsed = time.monotonic() - t0
                    rate = done / elapsed if elapsed > 0 else None
                    self._emit(done, total, res.path, rate, (total - done) / rate if rate else None)
                if in_batch >= self.options.batch_size or time.monotonic() - batch_started > 1.0:
                    cat.conn.execute("COMMIT")
                    cat.conn.execute("BEGIN IMMEDIATE")
                    in_batch, batch_started = 0, time.monotonic()
        except BaseException:
            cat.conn.execute("ROLLBACK")
            pool.shutdown(cancel=True)
            raise
        cat.conn.execute("COMMIT")
        pool.shutdown(cancel=problem is not None)
        return problem

    def _write(self, job: scanner.Job, res: scanner.ReadResult) -> scanner.Job | None:
        """Record one result (inside the open transaction); a follow-up job when the book must be
        read after all."""
        cat = self.catalog
        path = res.path
        row = self.live.get(path)
        if res.status == "ignored":
            cat.set_ignored(path, res.size, res.mtime_ns, res.reason or "")
            if row is not None:
                self.vanished[row.id] = row
            return None
        if path in self.ignored_paths:
            cat.drop_ignored([path])
        if res.status == "key":
            if row is not None:  # touched: same content, new hints
                names = resolve_names(scanner.display_name(path, res.kind), row.comicinfo, res.calibre)
                self._relocate(row, path, res.size, res.mtime_ns, names, res.calibre)
                self.status[path] = "unchanged"
                self.result.unchanged += 1
                return None
            source = self._claim_move_source(res.content_key)
            if source is None:  # the key was claimed by another copy: read this one
                return scanner.Job(job.cand, force_open=True)
            names = resolve_names(scanner.display_name(path, res.kind), source.comicinfo, res.calibre)
            self._relocate(source, path, res.size, res.mtime_ns, names, res.calibre)
            if source.path == path:  # removed earlier, back at the same place
                self.status[path] = "added"
                self.result.added += 1
            else:
                self.status[path] = "moved"
                self.result.moved += 1
            return None
        names = resolve_names(scanner.display_name(path, res.kind), res.comicinfo, res.calibre)
        cal = res.calibre or {}
        book = BookRow(
            id=None, path=path, content_key=res.content_key, format=res.format, size=res.size,
            mtime_ns=res.mtime_ns, pages=len(res.pages) if res.pages is not None else None,
            title=names.title, series=names.series, number=names.number, authors=names.authors,
            error=res.error, error_kind=res.error_kind, calibre_id=cal.get("id"),
            cover_path=cal.get("cover_path"), comicinfo=res.comicinfo, warnings=res.warnings)
        pages = [PageRow(p.index, p.name, p.bytes, p.width, p.height, p.format, p.bad, p.error)
                 for p in res.pages] if res.pages is not None else None
        if row is not None:
            if res.error is not None and (res.error, res.content_key) == (row.error, row.content_key):
                self._relocate(row, path, res.size, res.mtime_ns, names, res.calibre)
                self.status[path] = "unchanged"
                self.result.unchanged += 1
            else:
                cat.replace_book(row.id, book, pages, self.now)
                self.status[path] = "changed"
                self.result.changed += 1
        else:
            cat.insert_book(book, pages, self.now)
            self.status[path] = "added"
            self.result.added += 1
        return None

    def _claim_move_source(self, key: str | None) -> BookRow | None:
        sources = self.move_sources.get(key or "")
        while sources:
            source = sources.pop(0)
            if source.removed_at is not None or self.vanished.pop(source.id, None) is not None:
                return source
        return None

    def _relocate(self, row: BookRow, path: str, size, mtime_ns, names, calibre: dict | None) -> None:
        cal = calibre or {}
        self.catalog.relocate_book(
            row.id, path=path, size=size, mtime_ns=mtime_ns, title=names.title, series=names.series,
            number=names.number, authors=names.authors,
            calibre_id=cal.get("id") if calibre else row.calibre_id,
            cover_path=cal.get("cover_path") if calibre else row.cover_path, now=self.now)

    def _records(self) -> list[BookRecord]:
        from comicdesk.archive.book import natural_key

        out = []
        for row in self.catalog.all_books():
            if not _within(row.path, self.target.scope):
                continue
            out.append(BookRecord(
                path=row.path, format=row.format, pages=row.pages, title=row.title,
                series=row.series, number=row.number, error=row.error,
                status=self.status.get(row.path, "unchanged"), id=row.id,
                content_key=row.content_key, authors=row.authors))
        out.sort(key=lambda r: natural_key(r.path))
        return out

    def _emit(self, done: int, total: int | None, item: str, rate=None, eta=None) -> None:
        if self.progress is not None:
            self.progress(Progress("scan", done, total, item=item, rate=rate, eta_s=eta))


# -- the pool of readers -----------------------------------------------------------------------
class _Pool:
    """Where books are read: worker processes (the default for big scans: the readers' Python
    code runs truly in parallel, and a reader crashing in C takes down only its worker), threads,
    or inline for a handful of books.

    When a worker process dies, the jobs it may have been running are re-run one at a time in a
    fresh pool (``isolating``): the one that kills its worker again is reported as failed."""

    def __init__(self, options: ScanOptions, n_jobs: int, move_keys: frozenset[str]):
        workers = options.worker_count()
        kind = options.executor
        if kind == "auto":
            kind = ("process" if workers > 1 and n_jobs >= PROCESS_POOL_MIN_JOBS else
                    "thread" if workers > 1 and n_jobs > 4 else "inline")
        if kind not in ("process", "thread", "inline"):
            raise ValueError(f"unknown executor {kind!r}")
        self.kind = kind
        self.workers = workers
        self.width = 0 if kind == "inline" else workers
        self.move_keys = move_keys
        self.limits = options.limits
        self.start_method = options.start_method
        self.isolating = False
        self._executor = self._start()

    def _start(self):
        if self.kind == "process":
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            method = self.start_method or (
                "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
            executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context(method),
                                           initializer=_init_worker, initargs=(self.move_keys, self.limits))
            # Workers that cannot even start (a host program whose __main__ cannot be re-imported,
            # a sandbox without process creation) would look like books crashing: check first,
            # and read in threads instead.
            try:
                executor.submit(_ping).result(timeout=120)
                return executor
            except Exception:  # noqa: BLE001 - BrokenProcessPool, timeout, OSError
                executor.shutdown(wait=False, cancel_futures=True)
                self.kind = "thread"
        if self.kind == "thread":
            return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="comicdesk-scan")
        return None

    def submit(self, group: list[scanner.Job]) -> Future:
        if self._executor is None:
            fut: Future = Future()
            fut.set_result(_read_group(group, self.move_keys, self.limits))
            return fut
        try:
            if self.kind == "process":
                return self._executor.submit(_read_group_in_worker, group)
            return self._executor.submit(_read_group, group, self.move_keys, self.limits)
        except BrokenExecutor as exc:  # broke between two results: handled like a failed future
            fut = Future()
            fut.set_exception(exc)
            return fut

    def restart(self) -> None:
        self.shutdown(cancel=True)
        self._executor = self._start()

    def shutdown(self, cancel: bool) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=cancel)


def _crashed(job: scanner.Job) -> scanner.ReadResult:
    c = job.cand
    return scanner.ReadResult(c.path, c.kind, c.size, c.mtime_ns, "failed", calibre=c.calibre,
                              error="the reader crashed on this book (damaged or hostile file?)",
                              error_kind="crashed")


# -- worker side -------------------------------------------------------------------------------
def _read_group(group, move_keys, limits):
    return [scanner.read_book(job, move_keys, limits) for job in group]


_WORKER_MOVE_KEYS: frozenset[str] = frozenset()
_WORKER_LIMITS = None


def _init_worker(move_keys, limits) -> None:
    global _WORKER_MOVE_KEYS, _WORKER_LIMITS
    _WORKER_MOVE_KEYS, _WORKER_LIMITS = move_keys, limits


def _ping() -> bool:
    return True


def _read_group_in_worker(group):
    return _read_group(group, _WORKER_MOVE_KEYS, _WORKER_LIMITS)


__all__ = ["BookRecord", "LibraryTarget", "ScanOptions", "ScanResult",
           "locate_library", "root_problem", "scan_library"]
