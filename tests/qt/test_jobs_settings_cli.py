"""Background jobs (progress, pause/resume/cancel, failures), settings and cache clearing, the
command line's `gui` entry, and the reading rules without Qt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from qthelpers import WAIT_MS, make_book, open_and_wait

from comicdesk.core.events import Progress
from comicdesk.library.service import ScanOptions
from comicdesk.qt import reading
from comicdesk.qt.jobs import JobFinished, JobsController, JobState, format_duration


@pytest.fixture
def controller(qtbot):
    from comicdesk.qt.bridge import Bridge

    bridge = Bridge()
    ctl = JobsController(bridge)
    yield ctl
    ctl.shutdown(wait=True)


def _slow_library(root, pages, n=12):
    for i in range(n):
        make_book(root / f"book{i:02d}.cbz", pages[:2], title=f"Book {i}")
    return root


def test_scan_job_reports_progress_and_can_pause_resume_cancel(qtbot, controller, settings, tmp_path, pages,
                                                               monkeypatch):
    import comicdesk.library.scanner as scanner

    root = _slow_library(tmp_path / "lib", pages)
    real = scanner.read_book

    def slow(*a, **k):  # about 12 × 0.1 s: long enough to pause in the middle
        time.sleep(0.1)
        return real(*a, **k)
    monkeypatch.setattr(scanner, "read_book", slow)
    states: list[JobState] = []
    controller.changed.connect(states.append)
    job = controller.scan(root, settings, options=ScanOptions(executor="inline"))
    qtbot.waitUntil(lambda: job.state.done >= 2, timeout=WAIT_MS)
    job.pause()
    qtbot.waitUntil(lambda: states[-1].status == "paused", timeout=WAIT_MS)
    frozen = job.state.done
    qtbot.wait(500)
    assert job.state.done <= frozen + 1  # at most the book in hand finishes
    assert job.state.status == "paused"
    job.resume()
    qtbot.waitUntil(lambda: job.state.done >= frozen + 2, timeout=WAIT_MS)
    with qtbot.waitSignal(controller.finished, timeout=WAIT_MS) as sig:
        job.cancel()
    ev: JobFinished = sig.args[0]
    assert ev.state.status == "cancelled" and ev.state.done < 12
    seen = [s for s in states if s.status == "running" and s.total]
    assert seen and seen[-1].total == 12 and seen[-1].rate
    assert "books" in seen[-1].describe()


def test_scan_job_lists_failures_and_finishes(qtbot, controller, settings, library):
    failures = []
    controller.book_failed.connect(failures.append)
    with qtbot.waitSignal(controller.finished, timeout=WAIT_MS) as sig:
        controller.scan(library, settings)
    assert sig.args[0].state.status == "done"
    assert [os.path.basename(f.event.path) for f in failures] == ["damaged.cbz"]
    assert failures[0].event.reason


def test_describe_and_durations():
    s = JobState(1, "scan", "Scanning", status="running", stage="scan", done=12, total=20, rate=3.5, eta_s=75)
    assert s.describe() == "12 / 20 books · 3.5 books/s · about 1 min 15 s left"
    assert format_duration(3725) == "1 h 02 min"
    assert JobState(2, "scan", "x", status="running", stage="index", done=1, total=9).unit == "pages"
    assert Progress("scan", 1, 2).stage == "scan"


def test_clearing_the_cache_keeps_the_persons_data(qtbot, window, library, settings):
    from comicdesk.services.cache_tools import cache_size, clear_cache

    open_and_wait(qtbot, window, library)
    book = next(b for b in window.library.model.books() if b.title == "Story 2")
    window.read(book, 2)
    qtbot.waitUntil(lambda: window.reader.count == 5, timeout=WAIT_MS)
    with qtbot.waitSignal(window.reader.position_saved, timeout=WAIT_MS):
        window.reader.save_position()
    lib_cache = window.session.cache_dir
    user_file = window.session.data_dir / "user.sqlite"
    assert (lib_cache / "catalog.sqlite").is_file() and user_file.is_file()
    before = user_file.read_bytes()
    assert cache_size(settings.cache_root) > 0
    result = clear_cache(settings.cache_root, settings.data_root)
    assert result.cleared and result.freed > 0
    assert not (lib_cache / "catalog.sqlite").exists() and not (lib_cache / "thumbs").exists()
    assert user_file.read_bytes() == before


def test_clearing_never_enters_a_data_folder_inside_the_cache(tmp_path):
    from comicdesk.services.cache_tools import clear_cache

    cache = tmp_path / "cache"
    victim = cache / "libraries" / "abc"
    data = victim / "data"  # someone pointed the data folder inside a library's cache
    data.mkdir(parents=True)
    (data / "user.sqlite").write_bytes(b"mine")
    other = cache / "libraries" / "def"
    other.mkdir()
    (other / "catalog.sqlite").write_bytes(b"x" * 100)
    result = clear_cache(cache, data)
    assert (data / "user.sqlite").read_bytes() == b"mine"
    assert not (other / "catalog.sqlite").exists()
    assert any("data folder" in s for s in result.skipped)


def test_prefs_round_trip_and_damage(tmp_path):
    from comicdesk.qt.prefs import Prefs, load_prefs, prefs_path, save_prefs

    p = Prefs()
    for i in range(15):
        p.add_recent(f"/lib/{i}")
    p.reader_fit = "width"
    save_prefs(tmp_path, p)
    q = load_prefs(tmp_path)
    assert q.recent[0] == "/lib/14" and len(q.recent) == 10 and q.last == "/lib/14" and q.reader_fit == "width"
    prefs_path(tmp_path).write_text("{not json")
    assert load_prefs(tmp_path) == Prefs()
    assert (tmp_path / "app.json.damaged").exists()


def test_reading_rules():
    assert reading.spreads(5, double=False) == [(0,), (1,), (2,), (3,), (4,)]
    assert reading.spreads(6, double=True) == [(0,), (1, 2), (3, 4), (5,)]
    assert reading.spreads(6, double=True, shift=True) == [(0, 1), (2, 3), (4, 5)]
    sizes = [(100, 150), (100, 150), (300, 150), (100, 150), (100, 150), (100, 150)]
    assert reading.spreads(6, sizes, double=True) == [(0,), (1,), (2,), (3, 4), (5,)]
    assert reading.display_order((3, 4), rtl=True) == (4, 3)
    places, w, h = reading.place_group((3, 4), sizes, 1000, 600, fit="page", zoom=1.0, rtl=True)
    assert [p.index for p in sorted(places, key=lambda p: p.x)] == [4, 3]
    assert all(p.h == 600 for p in places) and (w, h) == (1000, 600)
    places, w, h = reading.place_group((0,), sizes, 1000, 600, fit="width", zoom=1.0, rtl=False)
    assert places[0].w == 1000 and h == 1500  # taller than the window: scrolls
    strip, w, h = reading.place_strip(3, sizes, 800, 600, fit="width", zoom=0.5)
    assert [p.w for p in strip] == [400, 400, 400] and strip[1].y > strip[0].y + strip[0].h


def _cli(*args, env_extra=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "comicdesk", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_cli_screenshot_renders_the_first_screen(tmp_path, library):
    from PySide6.QtGui import QImage

    out = tmp_path / "shots" / "first.png"
    proc = _cli("gui", library, "--screenshot", out, "--cache-dir", tmp_path / "c", "--data-dir", tmp_path / "d")
    assert proc.returncode == 0, proc.stderr
    img = QImage(str(out))
    assert not img.isNull() and (img.width(), img.height()) == (1200, 820)
    assert f"screenshot written to {out}" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0  # one line, no Qt noise
    # the grid is not empty: many distinct colours where the covers are
    colours = {img.pixel(x, y) for x in range(20, 600, 7) for y in range(80, 330, 7)}
    assert len(colours) > 50
    # a screenshot does not touch the person's recent list
    assert not (tmp_path / "d" / "app.json").exists()


def test_cli_gui_bad_input_is_one_line(tmp_path):
    proc = _cli("gui", tmp_path / "nope", "--screenshot", tmp_path / "x.png", "--data-dir", tmp_path / "d",
                "--cache-dir", tmp_path / "c")
    assert proc.returncode == 1 and proc.stderr.strip() == f"comicdesk: {tmp_path / 'nope'}: no such file or folder"
    lib = tmp_path / "lib"  # the cache and data folders outside it (inside is refused)
    lib.mkdir()
    proc = _cli(lib, "--data-dir", tmp_path / "d", "--cache-dir", tmp_path / "c")  # no display, no screenshot
    assert proc.returncode == 1 and "no display" in proc.stderr and proc.stderr.count("\n") == 1


def test_cli_imports_no_qt_until_the_app_starts():
    code = ("import sys, comicdesk.cli as c\n"
            "p = c.build_parser(); a = p.parse_args(c.normalise_argv(['somewhere']))\n"
            "print(json.dumps([a.command, 'PySide6' in sys.modules, 'qasync' in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout) == ["gui", False, False], proc.stderr


def test_opening_a_library_analyses_it_in_the_background(qtbot, settings, library):
    from comicdesk.qt.jobs import analysis_available
    from comicdesk.qt.prefs import Prefs
    from qthelpers import new_window

    assert analysis_available()  # part of comicdesk: never skipped
    win = new_window(qtbot, settings, Prefs(analyse=True))
    try:
        finished = []
        win.jobs.finished.connect(finished.append)
        open_and_wait(qtbot, win, library)
        # The real analysis, every stage (models load in the worker process): allow a slow CI box.
        qtbot.waitUntil(lambda: any(f.state.kind == "analyse" for f in finished), timeout=240_000)
        ev = next(f for f in finished if f.state.kind == "analyse")
        assert ev.state.status == "done", ev.state.message
        assert ev.result.done == 13 and "13 analysed" in ev.state.message  # all but the damaged book
        assert "Analysing" in win.jobs_panel.title.text()
    finally:
        win.close()
        win.shutdown()


class FakeRunner:
    """Records what the app asks of the runner; runs until cancelled."""

    instances: list["FakeRunner"] = []

    def __init__(self, cache_dir, on_event=None):
        import threading

        self.cache_dir, self.on_event = cache_dir, on_event
        self.calls: list[tuple] = []
        self.stop = threading.Event()
        FakeRunner.instances.append(self)

    def prioritise(self, book):
        self.calls.append(("prioritise", str(book)))

    def pause(self):
        self.calls.append(("pause",))

    def resume(self):
        self.calls.append(("resume",))

    def cancel(self):
        self.calls.append(("cancel",))
        self.stop.set()

    def run(self, book_ids=None):
        from comicdesk.core.events import AnalysisProgress
        from comicdesk.pipeline.runner import RunResult

        self.calls.append(("run",))
        self.on_event(AnalysisProgress("index", 3, 30, rate=12.0, eta_s=2.0, books_done=1, books_total=5))
        self.stop.wait(20)
        return RunResult(done=1, cancelled=self.stop.is_set())


def test_the_open_book_is_analysed_first_and_jobs_can_be_paused(qtbot, settings, library):
    from comicdesk.qt.prefs import Prefs
    from qthelpers import new_window, wait_reader

    FakeRunner.instances.clear()
    win = new_window(qtbot, settings, Prefs(analyse=True))
    win.runner_factory = FakeRunner
    try:
        book = library / "Captain Science" / "Captain Science #003 (1950).cbz"
        win.open_path(book)
        wait_reader(qtbot, win)
        qtbot.waitUntil(lambda: bool(FakeRunner.instances) and ("run",) in FakeRunner.instances[0].calls,
                        timeout=WAIT_MS)
        runner = FakeRunner.instances[0]
        assert runner.calls[0] == ("prioritise", str(book))  # before the run starts
        qtbot.waitUntil(lambda: win.jobs_panel.current is not None and win.jobs_panel.current.total == 30,
                        timeout=WAIT_MS)
        assert win.jobs_panel.info.text() == "3 / 30 pages · 12 pages/s · about 2 s left · 1 / 5 books"
        win.jobs_panel.pause.click()
        assert ("pause",) in runner.calls and win.jobs_panel.pause.text() == "Resume"
        win.jobs_panel.pause.click()
        assert ("resume",) in runner.calls
        with qtbot.waitSignal(win.jobs.finished, timeout=WAIT_MS) as sig:
            win.jobs_panel.cancel.click()
        assert sig.args[0].state.status == "cancelled"
    finally:
        win.close()
        win.shutdown()


def test_the_binding_cannot_free_none_true_or_false(qtbot):
    """shiboken6 6.12 on Python 3.11 takes a reference from None for each Qt call returning None
    and from True for each signal emitted; without comicdesk.qt.compat's guard this loop aborts
    the interpreter ("deallocating None" / "deallocating True or False")."""
    from PySide6.QtCore import QObject, Signal

    from comicdesk.qt.compat import guard_immortals

    class Emitter(QObject):
        fired = Signal(object)

    guard_immortals()
    orphan, em = QObject(), Emitter()
    em.fired.connect(lambda _v: None)
    for i in range(50_000):
        assert orphan.parent() is None
        em.fired.emit(i)
    if sys.version_info < (3, 12):
        assert min(sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)) > 2 ** 39


def test_analysis_gets_the_device_the_data_dir_and_the_models_dir(settings, tmp_path, monkeypatch):
    from comicdesk.qt.jobs import AnalysisJob

    monkeypatch.delenv("COMICDESK_MODELS_DIR", raising=False)
    cache = settings.library_cache_dir("lib-1")
    job = AnalysisJob(cache, settings, lambda ev: None, threads=2, device="cuda")
    opts = job._options()
    assert opts["device"] == "cuda" and opts["threads"] == 2
    assert opts["data_dir"] == str(settings.library_data_dir("lib-1"))  # the person's head lives there
    assert opts["models_dir"] == str(settings.cache_root / "models")
    from comicdesk.pipeline.runner import RunOptions

    assert RunOptions(**opts).device == "cuda"  # what the worker process builds from them
