"""A library's analysis in the background, as a front end drives it (no Qt here).

:class:`BackgroundAnalysis` runs one library's analysis — in a child process
(:mod:`comicdesk.services.analysis_child`) so its threads never hold the front end's GIL, or, where
no child process can be started or a ``runner_factory`` is given (tests), in this process on the
calling thread — and hands every event the runner sends to ``on_event`` on that thread.

Its controls work from any thread, whether or not the runner has started yet:
:meth:`~BackgroundAnalysis.prioritise`, :meth:`~BackgroundAnalysis.pause`,
:meth:`~BackgroundAnalysis.resume`, :meth:`~BackgroundAnalysis.cancel`. Before the runner runs they
are remembered and given to it when it starts (the books to put first, a pause, a cancel); after,
they go straight to the runner, or over the child's command queue.

The app's :class:`comicdesk.qt.jobs.AnalysisJob` is a thin Qt-side wrapper around it: it turns the
events into the Jobs panel's states and the outcome into a line.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

log = logging.getLogger("comicdesk.services")


class AnalysisCancelled(Exception):
    """The analysis was cancelled before its runner started running."""


class BackgroundAnalysis:
    """One library's analysis (``cache_dir``: the library's cache) with prioritise / pause /
    resume / cancel from any thread; :meth:`run` (on the thread that relays the events) returns
    the runner's ``RunResult``.

    ``settings``, ``threads`` and ``device`` make the run options (:meth:`options`, through
    :func:`comicdesk.services.analysis.background_options`). ``first``: the books to analyse
    first. ``runner_factory(cache_dir, on_event=...)``: an object with the runner's
    ``prioritise/pause/resume/cancel/run``, run in this process (tests)."""

    def __init__(self, cache_dir: Path, settings, on_event: Callable[[object], None], *,
                 first: str | None = None, threads: int = 0, device: str = "auto",
                 runner_factory: Callable[..., object] | None = None):
        self.cache_dir = Path(cache_dir)
        self.settings = settings
        self.on_event = on_event
        self.threads = threads
        self.device = device
        self.runner_factory = runner_factory
        #: the runner runs in this process (a factory was given, or no child could be started)
        self.in_process = runner_factory is not None
        self._first: list[str] = [str(first)] if first else []
        self._lock = threading.Lock()
        self._runner = None  # in process: the runner once made
        self._commands = None  # in a child: its command queue while it runs
        self._resume = threading.Event()
        self._resume.set()
        self._cancel = threading.Event()

    # -- state ---------------------------------------------------------------------------------
    @property
    def commands(self):
        """The child's command queue while a child runs, else None."""
        return self._commands

    @property
    def runner(self):
        """The runner, once made, when it runs in this process; else None."""
        return self._runner

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def options(self) -> dict:
        """The run options as plain values (they travel to the child process)."""
        from comicdesk.services.analysis import background_options

        return background_options(self.settings, self.cache_dir.name, threads=self.threads,
                                  device=self.device)

    # -- controls (any thread) -----------------------------------------------------------------
    def _tell(self, op: str, *args) -> bool:
        """Pass a command on to the runner (here or in the child); False when none runs yet."""
        with self._lock:
            if self._runner is not None:
                getattr(self._runner, op)(*args)
                return True
            if self._commands is not None:
                try:
                    self._commands.put((op, *args))
                except (OSError, ValueError):  # the child is gone
                    pass
                return True
            return False

    def prioritise(self, book) -> None:
        """Analyse ``book`` (a path) next; before the run starts, among the first."""
        if not self._tell("prioritise", str(book)):
            with self._lock:
                self._first.append(str(book))

    def pause(self) -> None:
        self._resume.clear()
        self._tell("pause")

    def resume(self) -> None:
        self._resume.set()
        self._tell("resume")

    def cancel(self) -> None:
        self._cancel.set()
        self._resume.set()
        self._tell("cancel")

    # -- the run -------------------------------------------------------------------------------
    def run(self):
        """Run the analysis; returns its ``RunResult`` (``cancelled`` set when it was stopped).
        Raises :class:`AnalysisCancelled` when cancelled before the runner ran, and
        :class:`~comicdesk.core.errors.ComicdeskError` with one line when it failed."""
        if self.in_process:
            return self._run_here()
        try:
            return self._run_in_child()
        except OSError as exc:  # no child processes here (sandbox): run in this process
            log.warning("analysis in a child process failed to start (%s); running it here", exc)
            self.in_process = True
            return self._run_here()

    def _checkpoint(self) -> None:
        """Block while paused; raise AnalysisCancelled once cancelled."""
        if not self._resume.is_set():
            self._resume.wait()
        if self._cancel.is_set():
            raise AnalysisCancelled()

    def _run_here(self):
        if self.runner_factory is not None:
            runner = self.runner_factory(self.cache_dir, on_event=self.on_event)
        else:
            from comicdesk.services.analysis import make_runner

            runner = make_runner(self.cache_dir, options=self.options(), on_event=self.on_event)
        with self._lock:
            self._runner = runner
            for book in self._first:
                runner.prioritise(book)
            if not self._resume.is_set():
                runner.pause()
        self._checkpoint()
        return runner.run()

    def _run_in_child(self):
        """The runner in a child process; returns its RunResult (raises ComicdeskError)."""
        from comicdesk.services import analysis_child

        with self._lock:
            first = list(self._first)

        def attach(commands) -> None:
            with self._lock:
                self._commands = commands
                if commands is not None:
                    if not self._resume.is_set():
                        commands.put(("pause",))
                    if self._cancel.is_set():
                        commands.put(("cancel",))

        return analysis_child.run_child(self.cache_dir, self.options(), self.on_event, first=first,
                                        attach=attach)


__all__ = ["AnalysisCancelled", "BackgroundAnalysis"]
