"""The desktop app (PySide6 + qasync) — the only layer that imports Qt.

Entry point: :func:`run_gui`, called by ``comicdesk [gui] [PATH|BOOK] [--screenshot FILE]``.
Importing this package imports no Qt; :mod:`comicdesk.qt.app` does, when the app starts.

Modules: ``app`` (start-up, event loop, screenshot), ``main_window`` (views and flow),
``bridge`` (worker results and progress onto the main thread), ``jobs`` (background scan/analysis with
pause/resume/cancel) and ``jobs_panel``, ``models`` + ``delegates`` + ``thumbnails`` (the
virtualised grids), ``library_view``, ``book_view``, ``reader`` + ``reading`` (pages, spreads,
right-to-left, continuous scroll), ``welcome``, ``settings_dialog``,
``prefs`` (app-wide choices), ``logs`` (the log file), ``search_panel`` (similar panels/pages and
page text), ``labelling`` (re-scoring after a relabel), ``export_dialog``, ``models_dialog``.
Decisions: ``docs/app.md``. What the windows show comes from the Qt-free services
(``comicdesk.services.session``: one open library, its I/O thread, catalogue reader, the person's
data; ``comicdesk.services.analysis_child``: the analysis in a child process).
"""

from __future__ import annotations


def run_gui(path: str | None, settings, *, screenshot: str | None = None, cache_given: bool = True,
            profile_given: bool = True) -> int:
    from comicdesk.qt.compat import guard_immortals

    guard_immortals()  # before the first Qt call (see comicdesk.qt.compat)
    from comicdesk.qt.app import prepare_platform

    prepare_platform(bool(screenshot))
    from comicdesk.qt.app import run

    return run(path, settings, screenshot=screenshot, cache_given=cache_given,
               profile_given=profile_given)
