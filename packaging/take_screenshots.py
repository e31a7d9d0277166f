"""Take the README's screenshots of the app, in a real X11 window under Xvfb:

    xvfb-run -a -s "-screen 0 1400x1000x24" .venv/bin/python packaging/take_screenshots.py [OUT_DIR]

Writes ``welcome.png``, ``library.png``, ``book.png``, ``reader.png``, ``jobs.png``, then, once
the library is analysed for real (standard profile), ``book-classes.png``, ``reader-panels.png``,
``similar-panels.png`` and ``export.png`` to OUT_DIR (default ``docs/screenshots/``). Everything
runs on the bundled sample library (copied to a temporary folder, with one damaged file added for
the Jobs panel) with temporary cache and data folders, so nothing of yours is touched.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "sample-library"
CBZ = "Captain Science/Captain Science #001 (1950).cbz"
SCIENCE = "Science Comics/Science Comics #001 (1946).cbz"


def main(out: Path) -> None:
    from comicdesk.qt.compat import guard_immortals

    guard_immortals()
    from PySide6.QtWidgets import QApplication

    from comicdesk.core.settings import Settings
    from comicdesk.qt.app import _make_app
    from comicdesk.qt.main_window import MainWindow
    from comicdesk.qt.prefs import Prefs

    app = _make_app()
    if app.platformName() == "offscreen":
        print("note: no X display; run under xvfb-run for real windows", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.gettempdir()) / "comicdesk-screenshots"  # a stable name: it shows in them
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    lib = tmp / "Sample Library"
    shutil.copytree(SAMPLE, lib)
    settings = Settings.resolve(tmp / "cache", tmp / "data", env={})

    def wait(cond, timeout=60.0, what="") -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}")
            app.processEvents()
            time.sleep(0.01)

    def settle(seconds=0.4) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def shot(win, name: str) -> None:
        settle()
        path = out / name
        win.grab().save(str(path), "PNG")
        print(f"wrote {path}")

    def new_window(prefs: Prefs) -> MainWindow:
        win = MainWindow(settings, prefs, persist_prefs=True)
        win.resize(1200, 820)
        win.show()
        settle(0.3)
        return win

    # Welcome, with a recent list.
    prefs = Prefs(analyse=False, recent=[str(lib), "/home/reader/Comics", "/media/nas/Calibre Library"])
    win = new_window(prefs)
    win.show_welcome()
    settle(0.6)
    shot(win, "welcome.png")

    # Library, after reading the first book to page 3 ("Continue reading").
    ready = []
    win.first_screen_ready.connect(lambda: ready.append(1))
    win.open_path(lib)
    wait(lambda: ready, what="the library")
    book = next(b for b in win.library.model.books() if b.path.endswith(".cbz"))
    win.read(book, 2)
    wait(lambda: win.reader.count and win.reader.has_image(2), what="the reader")
    win.reader.save_position()
    wait(lambda: win.library.shelf_model.rowCount() > 0, what="continue reading")
    win.show_library()
    wait(lambda: win.first_screen_done(), what="covers")
    shot(win, "library.png")

    # Book view.
    win.show_book(next(b for b in win.library.model.books() if b.path.endswith(".cbz")))
    wait(lambda: win.book.model.rowCount() == 5 and win.first_screen_done(), what="page thumbnails")
    shot(win, "book.png")

    # Reader: a two-page spread.
    win.read(book, 1)
    wait(lambda: win.reader.count, what="the book")
    win.reader.set_double(True)
    win.reader.go_to(1)
    wait(lambda: all(win.reader.has_image(i) for i in win.reader.shown()), what="the spread")
    shot(win, "reader.png")
    win.close()
    win.shutdown()

    # Jobs: a library with a damaged file, analysed in the background.
    (lib / "Damaged").mkdir()
    (lib / "Damaged" / "truncated.cbz").write_bytes((lib / CBZ).read_bytes()[:4000])
    win = new_window(Prefs(analyse=True))
    finished = []
    win.jobs.finished.connect(lambda ev: finished.append(ev.state.kind))
    win.open_path(lib)
    wait(lambda: "analyse" in finished or "scan" in finished and not win.prefs.analyse, timeout=240,
         what="the analysis")
    win.jobs_dock.show()
    win.show_library()
    settle(0.8)
    shot(win, "jobs.png")
    win.jobs_dock.hide()

    # Part 2, on the analysed library: page classes, panels, similar panels, export.
    book = next(b for b in win.library.model.books() if b.path.endswith(CBZ))

    # Book view: badges and chips; one page labelled by the person.
    win.show_book(book)
    wait(lambda: win.book.model.rowCount() == 5 and win.first_screen_done(), what="page thumbnails")
    done = []
    win.rescorer.finished.connect(lambda *_a: done.append(1))
    win.book.relabel([4], "back_cover")
    wait(lambda: done, what="the re-score")
    wait(lambda: win.book.model.all_pages()[4].source == "user", what="the label")
    win.book.grid.setCurrentIndex(win.book.model.index(4))
    shot(win, "book-classes.png")

    # Reader with the panel overlay, on a real scan (Science Comics #1, 480 px wide pages; the
    # Captain Science pages are 160 px thumbnails).
    science = next(b for b in win.library.model.books() if b.path.endswith(SCIENCE))
    page = 5  # a story page with six panels: a row of three, a stack of two beside a tall one
    win.read(science, page)
    reader = win.reader
    wait(lambda: reader.count and all(reader.has_image(i) for i in reader.shown()), what="the page")
    wait(lambda: bool(reader.panels.get(page)), what="the panels")
    reader.set_show_panels(True)
    shot(win, "reader-panels.png")

    # Similar panels: the sidebar on the second panel of the page.
    crops = win.search_panel
    win.find_similar(reader.book_id, page, 1, reader.meta.title)
    wait(lambda: crops.status.text() != "Searching…", what="similar panels")
    if not crops.hits:
        raise SystemExit(f"no similar panels: {crops.status.text()}")
    wait(lambda: crops.crops_done >= min(6, len(crops.hits)), what="the crops")
    reader.set_highlight(page, reader.panels[page][1])
    shot(win, "similar-panels.png")

    # Export dialog, after a story-only export.
    dlg = win.open_export([book])
    dlg.output.setText(str(tmp / "Exports" / "Captain Science #001 (story only).cbz"))
    results = []
    dlg.finished_export.connect(results.append)
    dlg.start()
    wait(lambda: results, what="the export")
    shot(dlg, "export.png")
    dlg.close()
    win.close()
    win.shutdown()
    QApplication.processEvents()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots")
