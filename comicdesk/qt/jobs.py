"""Background jobs for the app: scanning a library now, analysis (``comicdesk.pipeline``) later.

A job runs on the jobs thread, never on the UI thread. It speaks only the Qt-free events of
:mod:`comicdesk.core.events` — ``Progress`` and ``BookFailed`` — wrapped here in a
:class:`JobState` snapshot, and posts them through the app's one
:class:`~comicdesk.qt.bridge.Bridge`, which delivers them on the main thread; the
:class:`JobsController` turns them into Qt signals for the Jobs panel and the library view.

Pause, resume and cancel work through the progress callback: the scanner calls it after every
book, so a paused job blocks there (the books already handed to workers finish, nothing new
starts) and a cancelled one raises :class:`JobCancelled` there. The scanner rolls back the batch
it was writing and keeps every batch already committed, so the next scan carries on.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from comicdesk.core.errors import ComicdeskError
from comicdesk.core.events import BookFailed, Progress
from comicdesk.core.settings import Settings
from comicdesk.core.threads import lower_thread_priority
from comicdesk.services.analysis_job import AnalysisCancelled, BackgroundAnalysis
from comicdesk.services.threads import EagerThreadPool

log = logging.getLogger("comicdesk.qt")

#: Niceness of the app's own background threads that run Python (the scan, re-scoring). Zero:
#: lowered, they got worse for everyone once other programs kept the cores busy — a starved thread
#: holds the GIL while descheduled, so the UI waits for it. Scanning 100 books beside two busy
#: programs on two cores (``tests/bench/bench_gui.py --books 100 --pages 4 --skip-index --busy 2``):
#: at +10 1.5-1.9 s with UI gaps of 124-278 ms; at 0 0.5-0.7 s with 31-32 ms (idle: 0.33 s, 15-18 ms).
IN_PROCESS_NICE = 0

#: what a job's stage counts
UNITS = {"scan": "books", "waiting": "books", "index": "pages", "analyse": "pages", "analysis": "pages"}
#: the most progress updates per second the panel shows (the scanner reports every book)
MAX_UPDATES_PER_S = 20


class JobCancelled(Exception):
    """Raised inside a job's progress callback to stop it."""


@dataclass(frozen=True)
class JobState:
    """A snapshot of one job, for display. ``status``: queued, running, paused, waiting, done,
    cancelled, failed, offline."""

    id: int
    kind: str  # "scan" | "analyse"
    title: str  # "Scanning Comics"
    status: str = "queued"
    stage: str = ""
    done: int = 0
    total: int | None = None
    rate: float | None = None
    eta_s: float | None = None
    item: str = ""
    message: str = ""
    started: float = 0.0
    finished: float | None = None

    @property
    def unit(self) -> str:
        return UNITS.get(self.stage or self.kind, "items")

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running", "paused", "waiting")

    def describe(self) -> str:
        """'12 / 20 books · 34 books/s · about 5 s left' (one line)."""
        if self.status == "waiting":
            return self.message or "waiting for another comicdesk process"
        if self.total is None and self.status in ("running", "paused"):
            return self.item or "looking for books"
        parts = []
        if self.total is not None:
            parts.append(f"{self.done} / {self.total} {self.unit}")
        if self.rate and self.status == "running":
            parts.append(f"{self.rate:.1f} {self.unit}/s" if self.rate < 10 else f"{self.rate:.0f} {self.unit}/s")
        if self.eta_s is not None and self.status == "running" and self.total and self.done < self.total:
            parts.append(f"about {format_duration(self.eta_s)} left")
        if self.message:
            parts.append(self.message)
        return " · ".join(parts)


@dataclass(frozen=True)
class JobFailedBook:
    """A ``BookFailed`` event with the job it came from."""

    job_id: int
    event: BookFailed


@dataclass(frozen=True)
class JobBookAnalysed:
    """A ``BookAnalysed`` event (one book's pass committed) with the job it came from: the
    windows show that book's results at once (pass 1's first, pass 2's replacing them)."""

    job_id: int
    event: object  # comicdesk.core.events.BookAnalysed


@dataclass(frozen=True)
class JobFinished:
    job_id: int
    state: JobState
    result: object = None  # ScanResult for a scan


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"


_ids = itertools.count(1)


class Job:
    """Base of the app's jobs: pause/resume/cancel flags and throttled posting (Qt-free)."""

    kind = "job"

    def __init__(self, title: str, post: Callable[[object], None]):
        self.id = next(_ids)
        self.state = JobState(self.id, self.kind, title)
        self._post = post
        self._resume = threading.Event()
        self._resume.set()
        self._cancel = threading.Event()

    # -- control (any thread) -----------------------------------------------------------------
    def pause(self) -> None:
        if self.state.active:
            self._resume.clear()
            self._update(status="paused", force=True)

    def resume(self) -> None:
        if self.state.status == "paused":
            self._update(status="running", force=True)
        self._resume.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._resume.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- inside the job ------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Block while paused; raise JobCancelled once cancelled."""
        if not self._resume.is_set():
            self._resume.wait()
        if self._cancel.is_set():
            raise JobCancelled()

    def _update(self, force: bool = False, **changes) -> None:
        """Post the new state. Every update is posted (a queued signal is cheap); the controller
        coalesces them on the main thread, so the last state before a pause is never lost."""
        self.state = replace(self.state, **changes)
        self._post(self.state)

    def run(self) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def _finish(self, status: str, message: str, result=None) -> None:
        self._update(status=status, message=message, finished=time.time(), rate=None, eta_s=None,
                     force=True)
        self._post(JobFinished(self.id, self.state, result))


class ScanJob(Job):
    """``scan_library(path)`` with progress, pause/resume/cancel and failed books as events."""

    kind = "scan"

    def __init__(self, path: str | Path, settings: Settings, post: Callable[[object], None],
                 title: str | None = None, options=None):
        super().__init__(title or f"Scanning {Path(path).name}", post)
        self.path = Path(path)
        self.settings = settings
        self.options = options
        self.result = None

    def _progress(self, ev: Progress) -> None:
        if ev.stage == "waiting":  # inside the lock wait: never raise there
            self._update(status="waiting", stage="waiting", message=ev.item, force=True)
            return
        status = "paused" if not self._resume.is_set() else "running"
        final = ev.total is not None and ev.done >= ev.total
        self._update(status=status, stage=ev.stage, done=ev.done, total=ev.total, rate=ev.rate,
                     eta_s=ev.eta_s, item=ev.item, message="", force=final or ev.total is None)
        self.checkpoint()

    def run(self) -> None:
        from comicdesk.services.library import scan_library

        self._update(status="running", stage="scan", started=time.time(), force=True)
        try:
            self.checkpoint()
            result = scan_library(self.path, self.settings, progress=self._progress, options=self.options)
        except JobCancelled:
            self._finish("cancelled", "cancelled; what was read is kept")
            return
        except ComicdeskError as exc:
            self._finish("failed", exc.reason)
            return
        except Exception as exc:  # noqa: BLE001 - one line for the person, details in the log
            log.exception("scan of %s failed", self.path)
            self._finish("failed", f"internal error: {type(exc).__name__}: {exc}")
            return
        self.result = result
        for rec in result.books:
            if rec.error:
                self._post(JobFailedBook(self.id, BookFailed(rec.path, rec.error)))
        if result.offline:
            self._finish("offline", result.offline_reason or "offline", result)
        else:
            c = result.counts()
            bits = [f"{c['books']} book{'s' if c['books'] != 1 else ''}"]
            bits += [f"{c[k]} {k}" for k in ("added", "changed", "moved", "removed", "failed") if c[k]]
            self._finish("done", ", ".join(bits), result)


def analysis_available() -> bool:
    """The pipeline's runner is installed (``comicdesk.pipeline.runner``)."""
    import importlib.util

    try:
        return importlib.util.find_spec("comicdesk.pipeline.runner") is not None
    except (ImportError, ValueError):
        return False


class AnalysisJob(Job):
    """Analysis of one library by :class:`comicdesk.pipeline.runner.Runner`: progress in pages/s,
    pause/resume/cancel passed on to the runner, the open book first (:meth:`prioritise`).

    The orchestration — the runner in a child process (:mod:`comicdesk.services.analysis_child`) so
    its threads never hold the UI process's GIL, or on this job's thread where no child process can
    be started or a ``runner_factory`` is given (tests), and the controls relayed to whichever
    runs — is :class:`comicdesk.services.analysis_job.BackgroundAnalysis` (``self.analysis``); this
    job turns its events into the Jobs panel's states and its outcome into a line."""

    kind = "analyse"

    def __init__(self, cache_dir: Path, settings: Settings, post: Callable[[object], None],
                 title: str = "Analysing pages", first: str | None = None, threads: int = 0,
                 runner_factory: Callable[..., object] | None = None, device: str = "auto"):
        super().__init__(title, post)
        self.analysis = BackgroundAnalysis(cache_dir, settings, self._event, first=first, threads=threads,
                                           device=device, runner_factory=runner_factory)
        self.cache_dir = self.analysis.cache_dir
        self.settings = settings
        self.result = None

    @property
    def in_process(self) -> bool:
        """The runner runs on this job's thread (a factory was given, or no child could start)."""
        return self.analysis.in_process

    @property
    def _commands(self):
        """The child's command queue while it runs (None otherwise)."""
        return self.analysis.commands

    # -- control: also the runner's --------------------------------------------------------------
    def prioritise(self, book: str) -> None:
        self.analysis.prioritise(book)

    def pause(self) -> None:
        super().pause()
        self.analysis.pause()

    def resume(self) -> None:
        super().resume()
        self.analysis.resume()

    def cancel(self) -> None:
        super().cancel()
        self.analysis.cancel()

    # -- the run -----------------------------------------------------------------------------------
    def _event(self, ev) -> None:
        from comicdesk.core.events import AnalysisProgress, BookAnalysed

        if isinstance(ev, BookAnalysed):
            if ev.status == "done":  # "skipped": nothing new to show
                self._post(JobBookAnalysed(self.id, ev))
        elif isinstance(ev, AnalysisProgress):
            status = {"paused": "paused", "cancelling": "running"}.get(ev.state, "running")
            books = f"{ev.books_done} / {ev.books_total} books" if ev.books_total else ""
            final = ev.total is not None and ev.done >= ev.total
            self._update(status=status, stage=ev.stage or "index", done=ev.done, total=ev.total,
                         rate=ev.rate, eta_s=ev.eta_s, item=ev.item, message=books, force=final)
        elif isinstance(ev, BookFailed):
            self._post(JobFailedBook(self.id, ev))
        elif isinstance(ev, Progress) and ev.stage == "waiting":
            self._update(status="waiting", stage="waiting", message=ev.item, force=True)

    def _options(self) -> dict:
        return self.analysis.options()

    def run(self) -> None:
        self._update(status="running", stage="index", started=time.time(), force=True)
        try:
            self.checkpoint()
            result = self.analysis.run()
        except (JobCancelled, AnalysisCancelled):
            self._finish("cancelled", "cancelled; finished books are kept")
            return
        except ComicdeskError as exc:
            self._finish("failed", exc.reason)
            return
        except Exception as exc:  # noqa: BLE001 - one line for the person, details in the log
            log.exception("analysis of %s failed", self.cache_dir)
            self._finish("failed", f"internal error: {type(exc).__name__}: {exc}")
            return
        self.result = result
        if getattr(result, "cancelled", False) or self.cancelled:
            self._finish("cancelled", "cancelled; finished books are kept", result)
            return
        bits = [f"{result.done} analysed"]
        if result.skipped:
            bits.append(f"{result.skipped} already done")
        if result.failed:
            bits.append(f"{result.failed} failed")
        if result.rate:
            bits.append(f"{result.rate:.1f} pages/s")
        self._finish("done", ", ".join(bits), result)


class JobsController(QObject):
    """Runs jobs one after another on one background thread; relays their events as signals."""

    changed = Signal(object)  # JobState
    book_failed = Signal(object)  # JobFailedBook
    book_analysed = Signal(object)  # JobBookAnalysed: one book's results are in the cache
    finished = Signal(object)  # JobFinished

    def __init__(self, bridge, parent: QObject | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self.jobs: dict[int, Job] = {}
        self.failures: list[JobFailedBook] = []
        # Not lowered (IN_PROCESS_NICE): a thread of this process that the OS starves still holds
        # the GIL while descheduled, and the UI thread waits for it. The analysis it relays runs in
        # a child process, which is lowered.
        self._executor = EagerThreadPool(max_workers=1, thread_name_prefix="comicdesk-jobs",
                                            initializer=lower_thread_priority, initargs=(IN_PROCESS_NICE,))
        self._latest: dict[int, JobState] = {}
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(1000 // MAX_UPDATES_PER_S)
        self._flush.timeout.connect(self._emit_latest)
        bridge.event.connect(self._on_event)

    # -- starting -----------------------------------------------------------------------------
    def scan(self, path: str | Path, settings: Settings, title: str | None = None, options=None) -> ScanJob:
        job = ScanJob(path, settings, self.bridge.post, title, options)
        return self.start(job)

    def start(self, job: Job) -> Job:
        self.jobs[job.id] = job
        self.changed.emit(job.state)
        self._executor.submit(job.run)
        return job

    # -- control ------------------------------------------------------------------------------
    def active(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state.active]

    def pause_all(self) -> None:
        for j in self.active():
            j.pause()

    def resume_all(self) -> None:
        for j in self.jobs.values():
            j.resume()

    def cancel_all(self) -> None:
        for j in self.active():
            j.cancel()

    def clear_failures(self) -> None:
        self.failures.clear()

    def shutdown(self, wait: bool = True) -> None:
        """Cancel everything (the app is closing); optionally wait for the jobs thread."""
        self.cancel_all()
        self._executor.shutdown(wait=wait, cancel_futures=True)

    # -- events (main thread) -----------------------------------------------------------------
    def _on_event(self, ev) -> None:
        if isinstance(ev, JobState):
            if ev.id in self.jobs:
                self._latest[ev.id] = ev
                if not ev.active or ev.status == "paused":
                    self._emit_latest()  # an outcome or a pause shows at once
                elif not self._flush.isActive():
                    self._flush.start()
        elif isinstance(ev, JobFailedBook):
            self.failures.append(ev)
            self.book_failed.emit(ev)
        elif isinstance(ev, JobBookAnalysed):
            if ev.job_id in self.jobs:
                self.book_analysed.emit(ev)
        elif isinstance(ev, JobFinished):
            self._latest.pop(ev.job_id, None)
            self._emit_latest()
            self.changed.emit(ev.state)
            self.finished.emit(ev)

    def _emit_latest(self) -> None:
        self._flush.stop()
        latest, self._latest = self._latest, {}
        for state in latest.values():
            self.changed.emit(state)


__all__ = ["AnalysisJob", "Job", "JobBookAnalysed", "JobCancelled", "JobFailedBook", "JobFinished", "JobState", "JobsController",
           "ScanJob", "format_duration"]
