"""Take the README's screenshots of page classes, panels, similar panels and the export dialog, in
a real X11 window under Xvfb (a script, not a test):

    xvfb-run -a -s "-screen 0 1400x1000x24" .venv/bin/python tests/qt/shoot_part2.py [OUT_DIR]

Writes ``book-classes.png``, ``reader-panels.png``, ``similar-panels.png`` and ``export.png`` to
OUT_DIR (default ``docs/screenshots/``). The bundled sample library is copied to a temporary
folder and analysed for real (standard profile: page classes, panels, panel vectors), with
temporary cache and data folders, so nothing of yours is touched.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "sample-library"


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
    tmp = Path(tempfile.gettempdir()) / "comicdesk-screenshots"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    lib = tmp / "Sample Library"
    shutil.copytree(SAMPLE, lib)
    settings = Settings.resolve(tmp / "cache", tmp / "data", env={})

    def wait(cond, timeout=180.0, what="") -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}")
            app.processEvents()
            time.sleep(0.01)

    def settle(seconds=0.5) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def shot(widget, name: str) -> None:
        settle()
        path = out / name
        widget.grab().save(str(path), "PNG")
        print(f"wrote {path}")

    win = MainWindow(settings, Prefs(analyse=True), persist_prefs=False)
    win.resize(1200, 820)
    win.show()
    settle(0.3)
    finished = []
    win.jobs.finished.connect(lambda ev: finished.append(ev.state.kind))
    win.open_path(lib)
    wait(lambda: "analyse" in finished, what="the analysis")
    book = next(b for b in win.library.model.books() if b.path.endswith(".cbz"))

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

    # Reader with the panel overlay.
    page = 4  # the sample page with the most panels
    win.read(book, page)
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
