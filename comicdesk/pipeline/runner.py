"""The analysis runner: decode pool → one inference executor → one writer. Qt-free.

::

    books (priority queue) ──► decode workers (threads) ──► page queue (bounded by pixels)
                                                                  │
                       writer (the calling thread) ◄── inference executor (one thread: owns the
                       one transaction per book          models, batches pages across books)

- **Planning** (writer thread): for each book and pass, the stages whose work is not recorded
  done with the same fingerprint for the book's current content; stages they need whose outputs
  are persisted are loaded from the catalogue, others are run again. A book with nothing to do is
  *skipped*; one whose work failed before with the same fingerprint is reported failed again
  without being reopened (``RunOptions.retry_failed`` tries again).
  A record an earlier comicdesk wrote for the same work, when its stages were cut differently
  (text recognition needed the panels), counts and is rewritten under today's fingerprint
  (``StageSpec.former_needs`` / ``former_host``; docs/pipeline.md).
- **Decode workers** open a book (checking it is still the book the catalogue knows), read its
  pages in one pass (``Book.iter_page_bytes``), hash and decode each; a page that does not decode
  keeps its slot, marked bad with its reason.
- **The inference executor** (``inference_workers`` threads, each with its own models) takes up
  to ``batch_size`` decoded pages (``gpu_batch_size`` when the run's device is a GPU) from
  whatever books are in flight, runs the page-level stages in order (a batchable stage gets the batch, others one page
  at a time), drops the images, and when a book's last page is through runs its book-level stages
  and hands it to the writer. A stage raising on a batch is re-run page by page so only the page's
  book fails.
- **The writer** makes the book's vectors durable in Zarr, then commits everything for the book
  (pages' decode results, panels, outputs, vector mappings, run status) in **one** SQLite
  transaction: a run killed at any moment resumes, and a half-written book is never done.
- ``prioritise(book)`` moves a book (both passes) to the front; pass-2 work runs after every
  pass-1 book unless prioritised. Worker threads run at lower priority (``RunOptions.nice``, per
  thread on Linux) and models get ``RunOptions.threads`` threads. ``pause``, ``resume`` and
  ``cancel`` are checked between pages (decoders) and between batches (inference).
- Events (:mod:`comicdesk.core.events`) are delivered on the calling thread: ``AnalysisProgress``,
  ``BookAnalysed``, ``BookFailed``, ``PageFailed``, and ``Progress(stage="waiting")`` while another
  process holds the library lock.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import queue
import re
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from comicdesk.core.errors import ComicdeskError, flat, one_line
from comicdesk.core.events import AnalysisProgress, BookAnalysed, BookFailed, PageFailed, Progress
from comicdesk.core.threads import lower_thread_priority  # noqa: F401  (in __all__ too)
from comicdesk.pipeline import outputs
from comicdesk.pipeline.stage import CONTEXT_KINDS, IMAGE, PANELS, BookData, PageData, StageContext, StageSpec

#: What a page costs in the cache (docs/pipeline.md: ≤ 8 KB budget), and room for SQLite's WAL:
#: what a full disk is told it needs.
CACHE_BYTES_PER_PAGE = 8 * 1024
CACHE_SLACK_BYTES = 16 * 2**20


def _disk_full(exc: BaseException) -> bool:
    import errno

    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
    return "disk is full" in str(exc) or "disk full" in str(exc)


#: Failure kinds that are not the book's fault: not recorded, tried again next run.
PASSING_FAILURES = frozenset({"missing", "changed", "unreadable"})
GONE = "the book is gone since the last scan (moved or deleted?); scan again"
CHANGED = "the book changed since the last scan; scan again"


class RunError(ComicdeskError):
    """The run cannot go on at all (a model does not load, the cache cannot be written)."""

    kind = "run"


@dataclass(frozen=True)
class RunOptions:
    decode_workers: int = 0  # 0: one per core, at most 2
    threads: int = 1  # threads a model may use (the thread cap)
    #: Inference workers, each with its own copy of the models, taking batches from the same
    #: queue. On a CPU, two single-threaded workers beat one two-threaded worker (these models'
    #: layers are too small to split well); the app's background analysis keeps one.
    inference_workers: int = 1
    nice: int = 10  # niceness added to worker threads (background priority); 0 leaves it
    batch_size: int = 8  # most pages per inference batch (a stage may ask for fewer)
    #: When the run's device resolves to a GPU (cuda or mps; :meth:`Runner.on_gpu`): most pages per
    #: inference batch, each batchable stage taking up to its ``StageSpec.gpu_batch_size`` of
    #: them, and the decoded-pixel budget raised to ``gpu_pending_pixels`` so that such batches
    #: fill (~576 MB RGB: 64 pass-1 pages of a 2000x3000 scan decoded at half size, and as many
    #: pixels again for the decoders to work ahead). A CPU run ignores both.
    gpu_batch_size: int = 64
    gpu_pending_pixels: int = 192_000_000
    books_ahead: int = 2  # books decoded ahead of the one being finished (beyond one per decoder)
    max_pending_pixels: int = 32_000_000  # decoded pixels held for the models (~96 MB RGB): a dozen
    # full-size pages for pass 2, ~50 reduced ones for pass 1; more only raises the peak memory
    lock_timeout: float = 30.0  # seconds to wait for another writer of the library
    retry_failed: bool = False
    profile: str = "standard"
    durable: bool = True  # fsync vectors before the catalogue maps them
    compact_garbage: float = 0.3  # compact vector arrays holding more garbage than this share
    # (pass 2 rewrites every panel_emb row: half the array is garbage after a whole library)
    limits: Any = None  # comicdesk.archive.base.Limits
    #: The library's data dir: page-class stages apply the head learnt from the person's labels,
    #: and a head stored while another process held the lock is applied at the end of the run.
    data_dir: Any = None
    device: str = "auto"  # auto | cpu | cuda | mps, for models that can use a GPU
    models_dir: Any = None  # downloaded model weights (comicdesk.ml.weights), when not the default
    dtype: str | None = None  # the CoSMo models' precision (None: the device's)
    model_batch: int | None = None  # the CoSMo models' batch (None: the device's)
    cpu_precision: str = "auto"  # float32 | bfloat16 | auto, the small CPU models
    cpu_choices_file: Any = None  # where the CPU precision timings are kept (None: this process only)
    #: The environment as read at start-up (``Settings.env``), for the weights locator; None: the
    #: process's (a caller that builds a runner without settings)
    env: Any = None
    #: Decode every chunk of the vector store before the run (finds a truncated or scribbled
    #: chunk no reader met yet; reads the whole store): ``comicdesk index`` does, the app's
    #: background analysis checks only that the chunks exist.
    verify_cache: bool = False

    def decoders(self) -> int:
        return self.decode_workers or max(1, min(2, os.cpu_count() or 1))


@dataclass
class RunResult:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    pages: int = 0  # pages through the models this run
    panels: int = 0  # panels committed this run
    cancelled: bool = False
    elapsed: float = 0.0

    @property
    def rate(self) -> float | None:
        return self.pages / self.elapsed if self.elapsed > 0 and self.pages else None


# -- jobs ---------------------------------------------------------------------------------------
_END = object()


@dataclass
class _Job:
    book: Any  # catalog.BookRow
    pass_no: int
    stages: list[StageSpec]  # to run, in order: the work to do plus what it needs re-run
    todo: set[str]  # names of the stages whose work was not done (a failure is recorded on them)
    load_kinds: set[str]  # persisted outputs loaded from the catalogue instead of re-run
    needs_image: bool
    image_size: int | None = None  # long side to decode at (None: full size)
    page_rows: list = field(default_factory=list)  # catalog.PageRow, read when the job is queued
    loaded: dict[int, dict[str, Any]] = field(default_factory=dict)  # per page, ditto
    final: bool = True
    seq: int = 0
    # filled while it runs
    pages: dict[int, PageData] = field(default_factory=dict)
    expected: int | None = None
    through: int = 0  # pages through the page-level stages
    failed: tuple[str, str] | None = None  # (reason, kind)
    finishing: bool = False  # a worker took its book-level stages
    rtl: bool = False
    counted_pages: int = 0
    #: Only these page indexes are handed on (an engine decoding a book in parts: the Ray
    #: engine's decode tasks); None: every page.
    decode_only: range | None = None

    @property
    def book_id(self) -> int:
        return self.book.id


class _JobQueue:
    """Books waiting for a decoder, best first: prioritised books, then pass 1, then pass 2."""

    def __init__(self):
        self._heap: list[tuple[tuple, int, _Job]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._seq = 0
        self.prioritised: dict[int, int] = {}  # book id → rank (latest request first)

    def _key(self, job: _Job) -> tuple:
        rank = self.prioritised.get(job.book_id)
        if rank is not None:
            return (0, -rank, job.pass_no)
        return (1, job.pass_no, job.seq)

    def push(self, job: _Job) -> None:
        with self._cond:
            self._seq += 1
            job.seq = job.seq or self._seq
            heapq.heappush(self._heap, (self._key(job), self._seq, job))
            self._cond.notify()

    def prioritise(self, book_id: int) -> bool:
        with self._cond:
            self.prioritised[book_id] = len(self.prioritised) + 1
            found = any(j.book_id == book_id for _, _, j in self._heap)
            self._heap = [(self._key(j), s, j) for _, s, j in self._heap]
            heapq.heapify(self._heap)
            return found

    def pop(self, stop: threading.Event) -> _Job | None:
        with self._cond:
            while not self._heap:
                if self._closed or stop.is_set():
                    return None
                self._cond.wait(0.1)
            return heapq.heappop(self._heap)[2]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)


class _Budget:
    """Decoded pixels in flight, so gigantic pages cannot pile up in memory."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def acquire(self, n: int, stop: threading.Event) -> bool:
        with self._cond:
            while self.used > 0 and self.used + n > self.limit:
                if stop.is_set():
                    return False
                self._cond.wait(0.1)
            self.used += n
            return True

    def release(self, n: int) -> None:
        if n:
            with self._cond:
                self.used -= n
                self._cond.notify_all()


def cpu_choices_file(cache_root: Path) -> Path:
    """Where the CPU precision timings are remembered (:func:`comicdesk.ml.device.remember_cpu_choices`):
    ``<cache root>/cpu-precision.json``, a machine's fact shared by its libraries, written atomically."""
    return Path(cache_root) / "cpu-precision.json"


def library_dirs(settings, library_id: str) -> dict[str, Any]:
    """The run options a run on this library takes from the settings, as plain values (they also
    travel to the app's analysis process): ``data_dir`` (the page classes apply the head learnt
    from the person's labels; a head stored while the run held the library is applied when it
    ends), ``models_dir`` (downloaded weights), how models run (device, dtype, batch, CPU
    precision: the environment as the settings read it at start-up), where the CPU precision
    timings are kept, and the start-up environment for the weights locator."""
    from comicdesk.ml.weights import default_models_dir

    return {"data_dir": str(settings.library_data_dir(library_id)),
            "models_dir": str(default_models_dir(settings.env, settings.cache_root)),
            "device": settings.device, "dtype": settings.dtype, "model_batch": settings.batch,
            "cpu_precision": settings.cpu_precision,
            "cpu_choices_file": str(cpu_choices_file(settings.cache_root)), "env": dict(settings.env)}


def foreground_options(settings, library_id: str, *, workers: int | None = None, **overrides) -> RunOptions:
    """Run options for an analysis the person waits for (``comicdesk index``, an export that has to
    analyse its books first): normal priority, inference workers per core (at most 4, each holding
    its own models, ~150 MB) unless ``workers`` says, the cores split between them, the library's
    data dir (the head learnt from the person's labels) and models dir. The app's background
    analysis keeps :class:`RunOptions`' defaults instead: one worker, lowered priority — at +10 its
    threads get about a tenth of a core a busy program leaves (measured: a 3-page export went from
    4 s to over 60 s with two busy processes on two cores)."""
    cores = max(1, os.cpu_count() or 1)
    workers = max(1, workers if workers else min(cores, 4))
    values = dict(profile=settings.profile, threads=max(1, min(8, cores // workers)),
                  inference_workers=workers, nice=0, verify_cache=True, **library_dirs(settings, library_id))
    values.update(overrides)
    return RunOptions(**values)


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for the rest of the process (call before the runner's threads
    start; a process that only analyses: ``comicdesk index``, the app's analysis worker).

    glibc gives each thread that allocates its own arena, and freed model activations stay mapped
    in each; with two inference workers, two decoders and a writer that was ~270 MB of peak RSS on
    the pipeline benchmark (1928 → 1655 MiB), for no measurable loss of speed. Elsewhere (macOS,
    Windows, musl) it does nothing. Returns whether the cap was set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-8, int(arenas)))  # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        return False


# -- persisted outputs that later stages may load instead of recomputing -------------------------
def loader(kind: str) -> Callable | None:
    """How to read a persisted output back for a book (None: it is not persisted): its
    declaration's ``load`` (:mod:`comicdesk.pipeline.outputs`: the catalogue's kinds, a
    ``vectors:<model>/<array>`` kind from the vector cache, the library context)."""
    o = outputs.output(kind)
    return o.load if o is not None else None


# -- the runner ---------------------------------------------------------------------------------
class Runner:
    """Analyse the books of one library. ``run`` blocks (its thread is the writer); ``prioritise``,
    ``pause``, ``resume`` and ``cancel`` may be called from any thread."""

    def __init__(self, cache_dir: Path, *, stages: Sequence[StageSpec] | None = None,
                 options: RunOptions | None = None, on_event: Callable[[object], None] | None = None,
                 after_vectors: Callable[..., object] | None = None):
        from comicdesk.pipeline import registry

        self.cache_dir = Path(cache_dir)
        #: ``(cache_dir, catalog, store, *, unstamped_only)``, called while the run still holds
        #: the lock, after it wrote vectors (or, ``unstamped_only=True``, when it had nothing to
        #: analyse): what other layers keep in step with the vectors. The services pass the search
        #: index update (``comicdesk.services.analysis.make_runner``); the pipeline knows no search.
        self.after_vectors = after_vectors
        self.options = options or RunOptions()
        self.stages = list(stages) if stages is not None else registry.stages(self.options.profile)
        registry.validate(self.stages)
        self.on_event = on_event
        self._producers = registry.producers(self.stages)
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._jobs = _JobQueue()
        self._pages: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._budget = _Budget(self.options.max_pending_pixels)
        self._gpu: bool | None = None  # the run's device is a GPU (on_gpu: resolved once)
        # Books between a decoder and the writer: few, so prioritise() takes effect soon.
        self._slots = threading.Semaphore(self.options.decoders() + max(0, self.options.books_ahead))
        self._local = threading.local()  # per inference worker: its models and context
        self._fingerprints: dict[str, str] = {}
        self._former_fps: dict[tuple[str, bool], str | None] = {}
        self._upgrades: list[tuple[Any, StageSpec, Any]] = []  # former records taken for current
        self._threads: list[threading.Thread] = []
        self._thread_error: BaseException | None = None
        self._pages_through = 0
        self._lock = threading.Lock()
        self.state = "idle"

    # -- control (any thread) ----------------------------------------------------------------
    def prioritise(self, book: int | str | os.PathLike) -> None:
        """Analyse this book (an id or a path) next: both its passes, before other books."""
        self._requests.put(book)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- the run (the calling thread is the writer) -------------------------------------------
    def run(self, book_ids: Iterable[int] | None = None) -> RunResult:
        """Analyse these books (all catalogued books when None) until done or cancelled."""
        from comicdesk.library.catalog import Catalog
        from comicdesk.library.errors import LibraryError
        from comicdesk.library.lock import LibraryLock

        if self.state != "idle":
            raise RuntimeError("a Runner runs once; make a new one for the next run")
        t0 = time.monotonic()
        result = RunResult()
        self.state = "waiting"

        def waiting(message: str) -> None:
            self._emit(Progress("waiting", 0, None, item=message))

        try:
            lock = LibraryLock(self.cache_dir, timeout=self.options.lock_timeout, on_wait=waiting)
            lock.acquire()
        except OSError as exc:
            raise LibraryError(f"cannot use the cache folder {self.cache_dir}: {exc.strerror or exc}") from None
        try:
            with Catalog.open(self.cache_dir) as catalog:
                self.catalog = catalog
                self.store = None
                self.state = "running"
                try:
                    self._run(book_ids, result, t0)
                finally:
                    if self.store is not None:
                        self.store.close()
        except (OSError, sqlite3.OperationalError) as exc:
            if not _disk_full(exc):
                raise
            raise RunError(self._full_line()) from None
        finally:
            lock.release()
            self.state = "cancelled" if self._cancel.is_set() else "finished"
        result.cancelled = self._cancel.is_set()
        result.elapsed = time.monotonic() - t0
        return result

    def _run(self, book_ids, result: RunResult, t0: float) -> None:
        from comicdesk.library.atomic import write_text
        from comicdesk.ml.device import remember_cpu_choices

        remember_cpu_choices(self.options.cpu_choices_file, write_text)
        catalog = self.catalog
        self._heal_cache()
        try:
            for s in self.stages:
                self._fingerprint(s)
        except Exception as exc:  # noqa: BLE001 - a model module that does not import
            raise RunError(f"cannot prepare the analysis: {one_line(exc)}") from None
        if book_ids is None:  # the library's order, as a person browses it
            from comicdesk.archive.book import natural_key

            books = sorted(catalog.all_books(), key=lambda b: natural_key(b.path))
        else:
            wanted = list(dict.fromkeys(book_ids))
            books = [b for b in (catalog.book(i) for i in wanted) if b is not None and b.removed_at is None]
        runs = catalog.runs([b.id for b in books])
        self._later: dict[int, list[_Job]] = {}  # book id → jobs of later passes
        self._outstanding = 0
        self._books_total = 0
        self._books_done = 0
        self._pages_total = 0
        self._known: set[int] = set()
        first_jobs: list[_Job] = []
        for book in books:
            jobs = self._plan_book(book, runs.get(book.id, {}), result)
            if jobs:
                first_jobs.append(jobs[0])
                self._later[book.id] = jobs[1:]
        self._write_upgrades()
        self._open_vectors(first_jobs + [j for js in self._later.values() for j in js])
        for job in first_jobs:
            self._push(job)
        self._drain_requests(result)
        if self._outstanding == 0:
            self._emit_progress(t0, force=True)
            if self.store is not None and self.after_vectors is not None:
                # saved indexes from before the cache identity: stamped
                self.after_vectors(self.cache_dir, self.catalog, self.store, unstamped_only=True)
            self._rescore_pending()  # a head that is pending or stale waits for no run with work
            return
        if self.on_gpu():  # larger batches need more pages decoded ahead
            self._budget.limit = max(self._budget.limit, self.options.gpu_pending_pixels)
        self._start_threads()
        try:
            self._write_loop(result, t0)
        except BaseException:
            self._cancel.set()
            raise
        finally:
            if self._outstanding:  # cancelled, or a thread failed: stop the others
                self._cancel.set()
            self._jobs.close()
            for t in self._threads:
                t.join()
            self._threads.clear()
        result.pages = self._pages_through
        if self._thread_error is not None:
            raise self._thread_error
        if not self._cancel.is_set() and self.store is not None and self.options.compact_garbage < 1:
            self.store.compact(min_garbage=self.options.compact_garbage)
        if self.store is not None and self._books_done and self.after_vectors is not None:
            # Search indexes follow the vectors this run wrote (the hook never raises: a failure
            # is a report, and the next query rebuilds what is stale).
            self.after_vectors(self.cache_dir, self.catalog, self.store, unstamped_only=False)
        self._rescore_pending()

    def _heal_cache(self) -> None:
        """Repair the vector store before planning (we hold the lock): damage readers recorded,
        chunk files missing under mapped rows, arrays the catalogue cannot explain and, with
        ``verify_cache``, chunks that do not decode. The books that had rows there count as not
        analysed from here on, so this run analyses them again; one line says so."""
        from comicdesk.cache.vectors import DAMAGE_FILE, VECTORS_DIR, VectorStore, take_lost
        from comicdesk.library.db import HEALTH

        if not self.catalog.vector_arrays():
            (self.cache_dir / DAMAGE_FILE).unlink(missing_ok=True)
            return
        if self.store is None:
            self.store = VectorStore.open(self.cache_dir, catalog=self.catalog, durable=self.options.durable)
        self.store.heal(verify=self.options.verify_cache)
        books: set[int] = set()
        with self.catalog.transaction():
            lost = take_lost(self.catalog)  # this repair's, or one a crash left half done
            for name, damaged in lost.items():
                # Every stage that writes the array does its work again (a pass-2 stage that
                # rewrites it too, or it would keep pass 1's rows); an array no stage of this
                # profile writes: the books are analysed again from scratch.
                m, _, a = name.partition("/")
                makers = [s.name for s in self.stages if any((v.model_id, v.array) == (m, a) for v in s.vectors)]
                self.catalog.forget_runs(damaged, makers or None)
                books.update(int(b) for b in damaged)
        if not books:
            return
        names = sorted(Path(b.path).name for b in (self.catalog.book(i) for i in books) if b is not None)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        arrays = ", ".join(sorted(lost))
        HEALTH.warning(f"the vector cache in {self.cache_dir / VECTORS_DIR} was damaged ({arrays}): "
                       f"analysing {len(books)} book{'s' if len(books) != 1 else ''} again ({shown})")

    def _full_line(self) -> str:
        """The one line for a cache disk that filled up: which folder, how much more is needed."""
        import shutil

        try:
            free = shutil.disk_usage(self.cache_dir).free
        except OSError:
            free = 0
        left = max(0, getattr(self, "_pages_total", 0) - self._pages_through)
        need_mb = max(1, -(-(left * CACHE_BYTES_PER_PAGE + CACHE_SLACK_BYTES) // 2**20))
        return (f"the cache folder {self.cache_dir} is full (no space left on its disk, "
                f"{free / 2**20:.0f} MB free): the analysis needs about {need_mb} MB more — free "
                f"some space and run comicdesk index again (what was analysed is kept)")

    def _rescore_pending(self) -> None:
        """A head the person trained while this run held the lock, or one that is stale: apply or
        retrain it now (we hold the lock)."""
        if not self._cancel.is_set() and self.options.data_dir is not None:
            from comicdesk.library.userdata import UserDataDamaged, say_once
            from comicdesk.pipeline.rescore import rescore_pending

            try:
                rescore_pending(self.cache_dir, Path(self.options.data_dir))
            except UserDataDamaged as exc:  # the person's file is left alone: the analysis stands
                say_once(Path(self.options.data_dir) / "user.sqlite", exc.reason)

    # -- planning ---------------------------------------------------------------------------
    def _fingerprint(self, s: StageSpec) -> str:
        fp = self._fingerprints.get(s.name)
        if fp is None:
            deps = sorted({self._producers[n].name for n in s.needs
                           if n != IMAGE and n in self._producers and self._producers[n] is not s})
            fp = s.resolve_version()
            if deps:
                fp += " (" + ", ".join(f"{d}={self._fingerprint(self._by_name(d))}" for d in deps) + ")"
                if len(fp) > 200:
                    fp = s.resolve_version() + " #" + hashlib.blake2b(fp.encode(), digest_size=8).hexdigest()
            self._fingerprints[s.name] = fp
        return fp

    def _by_name(self, name: str) -> StageSpec:
        return next(s for s in self.stages if s.name == name)

    # Records written by an earlier comicdesk, whose stages were cut differently (docs/pipeline.md,
    # "Records of earlier versions"): recognition needed the panels and assigned the lines itself.
    _WILD = "\x00"  # a former need's fingerprint, whatever it was

    def _host(self, s: StageSpec) -> StageSpec | None:
        """The stage that did ``s``'s work in an earlier comicdesk, while ``s`` is at the version it
        had when it was split off (else None: records from then do not describe its output)."""
        if s.former_host is None:
            return None
        name, version = s.former_host
        if s.resolve_version() != version or not any(x.name == name for x in self.stages):
            return None
        return self._by_name(name)

    def _former_fingerprint(self, s: StageSpec, wild: bool = False) -> str | None:
        """``s``'s fingerprint as the earlier comicdesk computed it, from today's versions: former
        needs are needed again, a stage split off from a host is its host. ``wild``: the former
        needs' fingerprints are left open (:attr:`_WILD`). None: no earlier shape can match (a
        stage split off since has a new version)."""
        cache = self._former_fps
        key = (s.name, wild)
        if key in cache:
            return cache[key]
        host = self._host(s)
        if host is not None:  # it reads what its host read then: never left open
            fp = self._former_fingerprint(host)
        elif s.former_host is not None:
            fp = None
        else:
            deps: dict[str, str | None] = {}
            for n in s.needs + s.former_needs:
                u = self._producers.get(n)
                if n == IMAGE or u is None or u is s:
                    continue
                host = self._host(u)
                if wild and n in s.former_needs and n not in s.needs:
                    value = self._WILD
                elif host is not None:  # a split-off stage: its host's whole former work
                    value = self._former_fingerprint(host)
                else:
                    value = self._former_fingerprint(u, wild)
                name = (host or u).name
                if name not in deps or _strictness(value) > _strictness(deps[name]):
                    deps[name] = value  # a stage needed twice: its strictest reading
            fp = s.resolve_version()
            if any(v is None for v in deps.values()):
                fp = None
            elif deps:
                fp += " (" + ", ".join(f"{d}={deps[d]}" for d in sorted(deps)) + ")"
                if len(fp) > 200 and self._WILD not in fp:
                    fp = s.resolve_version() + " #" + hashlib.blake2b(fp.encode(), digest_size=8).hexdigest()
        cache[key] = fp
        return fp

    def _former_record(self, s: StageSpec, runs: dict, book):
        """A record the earlier comicdesk wrote that stands for ``s``'s current work on this book
        (same content), else None."""
        r = runs.get(s.name)
        host = self._host(s)
        if r is None and host is not None:
            h = runs.get(host.name)
            if h is not None and h.content_key == book.content_key \
                    and h.version == self._former_fingerprint(host):
                return h
            return None
        if r is None or r.content_key != book.content_key:
            return None
        former = self._former_fingerprint(s)
        if former is not None and former != self._fingerprint(s) and r.version == former:
            return r
        # A former need's fingerprint may have changed since (a new detector with this upgrade):
        # the work of a stage that no longer reads it, or reads only such stages, stands.
        wild = self._former_fingerprint(s, wild=True)
        if wild is not None and self._WILD in wild:
            pattern = "(.+)".join(re.escape(part) for part in wild.split(self._WILD))
            if re.fullmatch(pattern, r.version, flags=re.DOTALL):
                return r
        return None

    def _write_upgrades(self) -> None:
        """Rewrite the earlier comicdesk's records that planning took for current ones, under
        today's fingerprints (so a later change of a former need cannot unmatch them)."""
        todo, self._upgrades = self._upgrades, []
        if not todo:
            return
        with self.catalog.transaction():
            for book, s, r in todo:
                self.catalog.set_run(book.id, s.name, self._fingerprint(s), s.pass_no, r.status,
                                     r.content_key, r.error, r.finished_at)

    def _plan_book(self, book, runs: dict, result: RunResult) -> list[_Job]:
        """The jobs (one per pass with work) for a book; reports skips and known failures."""
        self._known.add(book.id)
        if book.error:
            result.failed += 1
            self._emit(BookFailed(book.path, book.error, book.id))
            return []
        will_be_done: set[str] = set()  # pass-1 work of this run, done by the time pass 2 starts

        upgraded: dict[str, Any] = {}

        def current(s: StageSpec):
            if s.name in will_be_done:
                return "done"
            r = runs.get(s.name)
            if r is not None and r.version == self._fingerprint(s) and r.content_key == book.content_key:
                return r.status
            if s.name not in upgraded:
                upgraded[s.name] = self._former_record(s, runs, book)
            r = upgraded[s.name]
            return r.status if r is not None else None

        jobs = []
        for pass_no in (1, 2):
            todo = []
            for s in (x for x in self.stages if x.pass_no == pass_no):
                status = current(s)
                if status == "done":
                    continue
                if status == "failed" and not self.options.retry_failed:
                    result.failed += 1
                    r = runs[s.name]
                    self._emit(BookFailed(book.path, r.error or "analysis failed", book.id))
                    return []
                todo.append(s)
            if not todo:
                continue
            # What the stages need: persisted outputs of done stages are loaded, the rest re-run.
            chosen = {s.name for s in todo}
            load: set[str] = set()
            changed = True
            while changed:
                changed = False
                for s in [x for x in self.stages if x.name in chosen]:
                    for need in s.needs:
                        if need == IMAGE:
                            continue
                        if need in CONTEXT_KINDS:  # library context: always read fresh
                            load.add(need)
                            continue
                        u = self._producers[need]
                        if u.name in chosen:
                            continue
                        if current(u) == "done" and loader(need) is not None:
                            load.add(need)
                        else:
                            chosen.add(u.name)
                            changed = True
            stages = [s for s in self.stages if s.name in chosen]
            # A kind some stage of the job produces comes from that stage, unless the stage also
            # needs it (it refines the stored value: pass 2 adds text to panel embeddings).
            load = {k for k in load if not any(k in s.produces and k not in s.needs for s in stages)}
            needs_image = any(IMAGE in s.needs for s in stages)
            sizes = [s.image_size for s in stages if IMAGE in s.needs]
            job = _Job(book, pass_no, stages, {s.name for s in todo}, load, needs_image)
            job.image_size = None if not sizes or None in sizes else max(sizes)
            jobs.append(job)
            will_be_done.update(s.name for s in stages)
        for j in jobs[:-1]:
            j.final = False
        self._upgrades.extend(
            (book, self._by_name(name), r) for name, r in upgraded.items() if r is not None)
        if not jobs:
            result.skipped += 1
            page_rows = self.catalog.pages(book.id)
            self._emit(BookAnalysed(book.path, book.id, "skipped", 0, True, len(page_rows),
                                    self.catalog.count_panels(book.id), sum(1 for p in page_rows if p.bad)))
            return []
        self._books_total += 1
        self._pages_total += len(jobs) * (book.pages or 0)
        return jobs

    def _push(self, job: _Job) -> None:
        """Queue a job, with the book's pages and persisted outputs as they are now (a pass-2 job
        sees what its pass 1 committed)."""
        job.page_rows = self.catalog.pages(job.book_id)
        self._pages_total += len(job.page_rows) - (job.book.pages or 0)
        job.loaded = {}
        reader = self._reader()  # this job's: it sees what earlier jobs committed
        for kind in sorted(job.load_kinds):
            values = outputs.load(kind, reader, job.book_id)
            for page, value in values.items():
                job.loaded.setdefault(page, {})[kind] = value
        self._outstanding += 1
        self._jobs.push(job)

    def _drain_requests(self, result: RunResult) -> None:
        """Handle prioritise() calls (book ids or paths) on the writer's connection."""
        while True:
            try:
                ref = self._requests.get_nowait()
            except queue.Empty:
                return
            if isinstance(ref, int):
                row = self.catalog.book(ref)
            else:
                given = Path(ref).expanduser().absolute()
                row = self.catalog.book_by_path(given) or self.catalog.book_by_path(given.resolve())
            if row is None or row.removed_at is not None:
                continue
            self._jobs.prioritise(row.id)
            if row.id not in self._known:  # not part of this run: plan it now
                jobs = self._plan_book(row, self.catalog.runs([row.id]).get(row.id, {}), result)
                self._write_upgrades()
                if jobs:
                    self._open_vectors(jobs)
                    self._later[row.id] = jobs[1:]
                    self._push(jobs[0])

    #: Books committed before the library's page hashes are read again for repeat counts: one
    #: read of a 1M-page library takes about a second, and a count a few books stale changes
    #: nothing that matters (the next run sees them all).
    REPEATS_REFRESH = 50

    def _library_hashes(self, book_id: int) -> list:
        """The library's page hashes for ``page_repeats``, read once per :data:`REPEATS_REFRESH`
        committed books (the book's own hashes always fresh)."""
        from comicdesk.library.repeats import hashed_pages

        cached = getattr(self, "_hashes", None)
        if cached is None or self._books_done - cached[0] >= self.REPEATS_REFRESH:
            cached = self._hashes = (self._books_done, hashed_pages(self.catalog))
        return [r for r in cached[1] if r[0] != book_id] + hashed_pages(self.catalog, [book_id])

    def _vector_store(self):
        if self.store is None:
            from comicdesk.cache.vectors import VectorStore

            self.store = VectorStore.open(self.cache_dir, catalog=self.catalog, durable=self.options.durable)
        return self.store

    def _reader(self) -> "outputs.CacheReader":
        """A reader of this library's stored outputs (:mod:`comicdesk.pipeline.outputs`), on the
        writer's connection."""
        return outputs.CacheReader(self.catalog, self.store, open_store=self._vector_store,
                                   library_hashes=self._library_hashes)

    def _open_vectors(self, jobs: list[_Job]) -> None:
        stages = [s for j in jobs for s in j.stages]
        if any(s.vectors for s in stages):
            outputs.ensure_arrays(self._vector_store(), stages)

    # -- threads ----------------------------------------------------------------------------
    def _start_threads(self) -> None:
        for i in range(self.options.decoders()):
            t = threading.Thread(target=self._guard, args=(self._decode_loop,), daemon=True,
                                 name=f"comicdesk-decode-{i}")
            self._threads.append(t)
        for i in range(max(1, self.options.inference_workers)):
            self._threads.append(threading.Thread(target=self._guard, args=(self._infer_loop,), daemon=True,
                                                  name=f"comicdesk-infer-{i}"))
        for t in self._threads:
            t.start()

    def _guard(self, loop) -> None:
        lower_thread_priority(self.options.nice)
        try:
            loop()
        except BaseException as exc:  # noqa: BLE001 - handed to the writer, which stops the run
            self._thread_error = exc if isinstance(exc, ComicdeskError) else RunError(
                f"the analysis stopped: {one_line(exc)}")
            self._cancel.set()

    def _wait_running(self) -> bool:
        while not self._running.wait(0.1):
            if self._cancel.is_set():
                return False
        return not self._cancel.is_set()

    # -- decoding ---------------------------------------------------------------------------
    def _decode_loop(self) -> None:
        while self._wait_running():
            if not self._slots.acquire(timeout=0.1):
                continue
            job = self._jobs.pop(self._cancel)
            if job is None:
                self._slots.release()
                return
            try:
                self._decode(job)
            except _Failed as f:
                self._pages.put((job, _Failed(f.reason, f.kind)))
            except Exception as exc:  # noqa: BLE001 - a reader bug fails this book only
                self._pages.put((job, _Failed(one_line(exc), "internal")))

    def _decode(self, job: _Job) -> None:
        rows = {p.index: p for p in job.page_rows}
        if not job.needs_image:
            for p in job.page_rows:
                if job.decode_only is None or p.index in job.decode_only:
                    self._pages.put((job, self._page_from_row(job, p)))
            self._pages.put((job, _END))
            return
        from comicdesk.archive.base import DEFAULT_LIMITS
        from comicdesk.archive.book import open_book
        from comicdesk.archive import images
        from comicdesk.library import identity

        book = job.book
        path = Path(book.path)
        limits = self.options.limits or DEFAULT_LIMITS
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise _Failed(GONE, "missing") from None
        except OSError as exc:
            raise _Failed(one_line(exc), "unreadable") from None
        if book.format != "folder" and (st.st_size, st.st_mtime_ns) != (book.size, book.mtime_ns):
            try:
                key = identity.content_key(path)
            except OSError as exc:
                raise _Failed(one_line(exc), "unreadable") from None
            if key != book.content_key:
                raise _Failed(CHANGED, "changed")
        try:
            opened = open_book(path, limits)
        except ComicdeskError as exc:
            raise _Failed(exc.reason, exc.kind) from None
        except FileNotFoundError:
            raise _Failed(GONE, "missing") from None
        except OSError as exc:
            raise _Failed(one_line(exc), "unreadable") from None
        with opened:
            from comicdesk.library.db import clean_text

            names = [clean_text(p.name) for p in opened.pages]
            if len(names) != len(rows) or any(rows[i].name != n for i, n in enumerate(names) if i in rows):
                raise _Failed(CHANGED, "changed")
            info = opened.comicinfo()
            job.rtl = bool(info is not None and info.manga_right_to_left)
            for index, data in opened.iter_page_bytes(job.decode_only):
                if not self._wait_running():
                    return
                if job.failed is not None:
                    return
                row = rows[index]
                page = PageData(book.id, index, row.name, None, None, None, rtl=job.rtl,
                                outputs=dict(job.loaded.get(index, {})))
                if isinstance(data, Exception):
                    page.bad, page.error = True, getattr(data, "reason", None) or str(data)
                else:
                    page.content_hash = identity.page_hash(data)
                    try:
                        image, size = images.decode_reduced(data, limits.max_image_pixels,
                                                            min_side=job.image_size)
                        page.image = image
                        page.width, page.height = size
                    except ComicdeskError as exc:
                        page.bad, page.error = True, exc.reason
                    except Exception as exc:  # noqa: BLE001 - the page keeps its slot, marked bad
                        page.bad, page.error = True, one_line(exc)
                    del data
                cost = _pixels(page)
                if not self._budget.acquire(cost, self._cancel):
                    return
                self._pages.put((job, page))
        self._pages.put((job, _END))

    def _page_from_row(self, job: _Job, row) -> PageData:
        return PageData(job.book_id, row.index, row.name, None, row.width, row.height, row.bad, row.error,
                        rtl=job.rtl, content_hash=row.content_hash,
                        outputs=dict(job.loaded.get(row.index, {})))

    # -- inference --------------------------------------------------------------------------
    def _infer_loop(self) -> None:
        ctx = StageContext(profile=self.options.profile, threads=max(1, self.options.threads),
                           device=self.options.device, dtype=self.options.dtype,
                           batch=self.options.model_batch, cpu_precision=self.options.cpu_precision,
                           env=self.options.env,
                           data_dir=Path(self.options.data_dir) if self.options.data_dir else None,
                           models_dir=str(self.options.models_dir) if self.options.models_dir else None)
        self._local.ctx = ctx
        self._local.models = {}
        page_stages = [s for s in self.stages if s.level == "page"]
        while self._wait_running():
            batch = self._take_batch()
            if batch is None:
                return
            pages: list[tuple[_Job, PageData]] = []
            ends: list[_Job] = []
            for job, item in batch:
                if item is _END:
                    ends.append(job)
                elif isinstance(item, _Failed):
                    self._fail(job, item.reason, item.kind)
                else:
                    pages.append((job, item))
            for s in page_stages:
                wants_image = IMAGE in s.needs
                todo = [(j, p) for j, p in pages
                        if j.failed is None and not p.bad and s in j.stages
                        and (p.image is not None or not wants_image)]
                if todo:
                    self._run_page_stage(s, todo)
            for job, page in pages:
                if page.image is not None:
                    self._budget.release(_pixels(page))
                    page.image = None
            finished = []
            with self._lock:  # other workers may hold pages of the same books
                for job, page in pages:
                    job.pages[page.index] = page
                    job.through += 1
                    self._pages_through += 1
                    job.counted_pages += 1
                for job in ends:
                    job.expected = len(job.page_rows)
                for job in {id(j): j for j, _ in pages + [(e, None) for e in ends]}.values():
                    if job.failed is None and job.expected is not None and job.through >= job.expected \
                            and not job.finishing:
                        job.finishing = True  # exactly one worker runs its book-level stages
                        finished.append(job)
            for job in finished:
                self._finish_book(job)

    def on_gpu(self) -> bool:
        """Whether the run's device (``RunOptions.device``) resolves to a GPU (cuda or mps): then
        the inference batches are ``gpu_batch_size`` pages. Resolved once per runner, from the
        options only; a device that is not here counts as the CPU (its models' load says why)."""
        if self._gpu is None:
            asked = (self.options.device or "auto").strip().lower()
            gpu = False
            if asked.split(":", 1)[0] != "cpu":
                from comicdesk.ml.device import GPU_KINDS, DeviceError, device_kind, resolve_device

                try:
                    gpu = device_kind(resolve_device(asked)) in GPU_KINDS
                except DeviceError:
                    gpu = False
            self._gpu = gpu
        return self._gpu

    def _batch_pages(self) -> int:
        """Most pages one inference batch takes."""
        return max(1, self.options.gpu_batch_size if self.on_gpu() else self.options.batch_size)

    def _stage_pages(self, s: StageSpec) -> int:
        """Most pages one call of stage ``s`` gets: one unless it is batchable; on a GPU its
        ``gpu_batch_size`` (else its ``batch_size``) within the run's GPU batch; on the CPU its
        ``batch_size`` within the run's ``batch_size``."""
        if not s.batchable:
            return 1
        if self.on_gpu():
            return max(1, min(s.gpu_batch_size or s.batch_size, self.options.gpu_batch_size))
        return max(1, min(s.batch_size, self.options.batch_size))

    def _take_batch(self) -> list | None:
        items = []
        deadline = None
        limit = self._batch_pages()
        while len(items) < limit:
            try:
                timeout = 0.1 if not items else max(0.0, deadline - time.monotonic())
                item = self._pages.get(timeout=timeout) if timeout > 0 else self._pages.get_nowait()
            except queue.Empty:
                if items:
                    break
                if self._cancel.is_set():
                    return None
                if self._all_decoded():
                    return None
                continue
            items.append(item)
            if deadline is None:
                deadline = time.monotonic() + 0.005  # a moment to let other books' pages join
        return items

    def _all_decoded(self) -> bool:
        return self._jobs._closed and self._pages.empty() and not any(
            t.is_alive() for t in self._threads if t.name.startswith("comicdesk-decode"))

    def _model(self, s: StageSpec) -> Callable:
        models = self._local.models  # this worker's own
        model = models.get(s.name)
        if model is None:
            try:
                model = s.load(self._local.ctx)
            except Exception as exc:  # noqa: BLE001 - no book can be analysed without it
                raise RunError(f"cannot load the {s.name} stage: {one_line(exc)}") from None
            models[s.name] = model
        return model

    def _run_page_stage(self, s: StageSpec, todo: list[tuple[_Job, PageData]]) -> None:
        model = self._model(s)
        size = self._stage_pages(s)
        for i in range(0, len(todo), size):
            self._call_pages(s, model, todo[i:i + size])

    def _call_pages(self, s: StageSpec, model, part: list[tuple[_Job, PageData]]) -> None:
        part = [(j, p) for j, p in part if j.failed is None]
        if not part:
            return
        try:
            outs = model([p for _, p in part])
            if not isinstance(outs, (list, tuple)) or len(outs) != len(part):
                raise ValueError(f"returned {len(outs) if hasattr(outs, '__len__') else outs!r} "
                                 f"results for {len(part)} pages")
        except Exception as exc:  # noqa: BLE001 - isolate the page that fails
            if len(part) > 1:
                for one in part:
                    self._call_pages(s, model, [one])
                return
            job, page = part[0]
            self._fail(job, f"{s.name} failed on page {page.index} ({page.name}): {one_line(exc)}", "stage")
            return
        for (job, page), out in zip(part, outs):
            page.outputs.update(out or {})
            problem = outputs.check(s, page)  # each kind's declared shape
            if problem:
                self._fail(job, problem, "stage")

    def _finish_book(self, job: _Job) -> None:
        book_stages = [s for s in job.stages if s.level == "book"]
        if book_stages:
            data = BookData(job.book_id, job.book.path, job.rtl,
                            [job.pages[i] for i in sorted(job.pages)])
            for s in book_stages:
                model = self._model(s)
                try:
                    outs = model(data)
                    if len(outs) != len(data.pages):
                        raise ValueError(f"returned {len(outs)} results for {len(data.pages)} pages")
                except Exception as exc:  # noqa: BLE001
                    self._fail(job, f"{s.name} failed: {one_line(exc)}", "stage")
                    return
                for page, out in zip(data.pages, outs):
                    page.outputs.update(out or {})
                    problem = outputs.check(s, page)
                    if problem:
                        self._fail(job, problem, "stage")
                        return
        self._results.put(("done", job))

    def _fail(self, job: _Job, reason: str, kind: str) -> None:
        with self._lock:
            if job.failed is not None:
                return
            job.failed = (reason, kind)
        self._results.put(("failed", job))

    # -- writing (the calling thread) ---------------------------------------------------------
    def _write_loop(self, result: RunResult, t0: float) -> None:
        last_emit = 0.0
        while self._outstanding > 0:
            self._drain_requests(result)
            try:
                kind, job = self._results.get(timeout=0.1)
            except queue.Empty:
                if self._thread_error is not None:
                    return
                if self._cancel.is_set() and not any(t.is_alive() for t in self._threads) \
                        and self._results.empty():
                    return
                if time.monotonic() - last_emit > 0.25:
                    self._emit_progress(t0)
                    last_emit = time.monotonic()
                continue
            self._outstanding -= 1
            self._slots.release()
            if kind == "done":
                self._commit(job, result)
            else:
                self._record_failure(job, result)
            self._emit_progress(t0, force=True)
            last_emit = time.monotonic()
            if self._outstanding == 0:
                self._jobs.close()

    def _commit(self, job: _Job, result: RunResult) -> None:
        book = job.book
        pages = [job.pages[i] for i in sorted(job.pages)]
        # One writer, one transaction per book (comicdesk.pipeline.outputs.commit_book); the
        # workers checked each output's shape as it came (_call_pages, _finish_book).
        panel_count = self.commit_results(book, pages, job.stages, decoded=job.needs_image, validate=False)
        if job.needs_image:
            for p in pages:
                if p.bad:
                    self._emit(PageFailed(book.path, book.id, p.index, p.name, p.error or "bad page"))
        later = self._later.get(book.id) or []
        final = not later
        if later:
            self._push(later.pop(0))
        if any(PANELS in s.produces for s in job.stages):
            result.panels += panel_count
        if final:
            result.done += 1
            self._books_done += 1
        self._emit(BookAnalysed(book.path, book.id, "done", job.pass_no, final, len(job.page_rows),
                                panel_count, sum(1 for p in pages if p.bad) if job.needs_image else
                                sum(1 for p in job.page_rows if p.bad)))

    def commit_results(self, book, pages: Sequence[PageData], stages: Sequence[StageSpec], *,
                       decoded: bool, validate: bool = True) -> int:
        """Commit one finished book's results on this run's catalogue and vector store (the writer
        thread, holding the library lock): :func:`comicdesk.pipeline.outputs.commit_book` with
        this runner's fingerprints. ``book``: its catalogue row; ``pages``: every page in order,
        outputs filled; ``stages``: those that ran for it; ``decoded``: the pages carry decode
        results to write. Returns the book's panel count. Raises
        :class:`~comicdesk.pipeline.outputs.OutputError` (nothing written) when ``validate`` and an
        output is off its declared shape."""
        return outputs.commit_book(self.catalog, self.store, book, pages, stages,
                                   {s.name: self._fingerprint(s) for s in stages},
                                   decoded=decoded, validate=validate)

    def _record_failure(self, job: _Job, result: RunResult) -> None:
        reason, kind = job.failed
        book = job.book
        if kind not in PASSING_FAILURES:
            now = time.time()
            with self.catalog.transaction():
                for s in (x for x in job.stages if x.name in job.todo):
                    self.catalog.set_run(book.id, s.name, self._fingerprint(s), s.pass_no, "failed",
                                         book.content_key, reason, now)
        # Pages it will not go through (and later passes) leave the totals.
        with self._lock:
            self._pages_total -= len(job.page_rows) - job.counted_pages
        for later in self._later.pop(book.id, []):
            self._pages_total -= later.book.pages or 0
        result.failed += 1
        self._books_done += 1
        self._emit(BookFailed(book.path, reason, book.id))

    # -- events ----------------------------------------------------------------------------
    def _emit(self, event: object) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _emit_progress(self, t0: float, force: bool = False) -> None:
        with self._lock:
            done = self._pages_through
        elapsed = time.monotonic() - t0
        rate = done / elapsed if elapsed > 0 and done else None
        total = max(self._pages_total, done)
        eta = (total - done) / rate if rate else None
        state = "cancelling" if self._cancel.is_set() else ("paused" if self.paused else "running")
        self._emit(AnalysisProgress("index", done, total, item="", rate=rate, eta_s=eta,
                                    books_done=self._books_done, books_total=self._books_total,
                                    state=state))


def _strictness(former: str | None) -> int:
    """None (cannot match) over a whole former fingerprint over one left open."""
    return 2 if former is None else (0 if Runner._WILD in former else 1)


def _pixels(page: PageData) -> int:
    return page.image.width * page.image.height if page.image is not None else 0


class _Failed(Exception):
    def __init__(self, reason: str, kind: str):
        super().__init__(reason)
        self.reason = flat(reason)
        self.kind = kind


__all__ = ["RunError", "RunOptions", "RunResult", "Runner", "limit_malloc_arenas", "lower_thread_priority"]
