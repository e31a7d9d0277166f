"""A person opens a book (page thumbnails), reads it (next/previous by keys and clicks, spreads,
right to left, continuous scroll, zoom) and finds their place again after a restart."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from qthelpers import WAIT_MS, make_book, new_window, open_and_wait, wait_reader

from comicdesk.qt.models import ItemRole


def _book(win, title):
    return next(b for b in win.library.model.books() if b.title == title)


def test_open_a_book_shows_page_thumbnails(qtbot, window, library):
    open_and_wait(qtbot, window, library)
    book = _book(window, "Story 4")
    window.show_book(book)
    view = window.book
    qtbot.waitUntil(lambda: view.model.rowCount() == 5, timeout=WAIT_MS)
    assert window.stack.currentWidget() is view
    qtbot.waitUntil(lambda: all(view.model.index(r).data(Qt.ItemDataRole.DecorationRole) is not None
                                for r in range(5)), timeout=WAIT_MS)
    assert [view.model.index(r).data() for r in range(5)] == ["1", "2", "3", "4", "5"]
    assert "Captain Science #4" in view.details.text() and "5 pages" in view.details.text()
    # activating page 3 opens the reader there
    view.grid.setCurrentIndex(view.model.index(2))
    view.grid.activated.emit(view.model.index(2))
    wait_reader(qtbot, window)
    assert window.stack.currentWidget() is window.reader and window.reader.page == 2
    qtbot.keyClick(window.reader, Qt.Key.Key_Escape)
    assert window.stack.currentWidget() is view  # back where the person came from


def test_reader_keys_clicks_and_spreads(qtbot, window, library):
    open_and_wait(qtbot, window, library)
    window.read(_book(window, "Story 1"))
    r = window.reader
    wait_reader(qtbot, window)
    assert (r.page, r.shown(), r.count) == (0, (0,), 5)
    qtbot.keyClick(r, Qt.Key.Key_Right)
    assert r.page == 1
    qtbot.keyClick(r, Qt.Key.Key_PageDown)  # nothing to scroll at fit-page: next page
    assert r.page == 2
    qtbot.keyClick(r, Qt.Key.Key_Left)
    assert r.page == 1
    qtbot.keyClick(r, Qt.Key.Key_End)
    assert r.page == 4
    qtbot.keyClick(r, Qt.Key.Key_Right)  # past the end: stays
    assert r.page == 4
    qtbot.keyClick(r, Qt.Key.Key_Home)
    assert r.page == 0
    vp = r.scroll.viewport()
    qtbot.mouseClick(r.canvas, Qt.MouseButton.LeftButton, pos=r.canvas.mapFrom(vp, QPoint(vp.width() - 10, vp.height() // 2)))
    assert r.page == 1  # a click on the right goes forward
    qtbot.mouseClick(r.canvas, Qt.MouseButton.LeftButton, pos=r.canvas.mapFrom(vp, QPoint(10, vp.height() // 2)))
    assert r.page == 0

    qtbot.keyClick(r, Qt.Key.Key_D)  # double-page spreads: the cover alone, then pairs
    assert r.double and r.shown() == (0,)
    qtbot.keyClick(r, Qt.Key.Key_Right)
    assert r.shown() == (1, 2)
    wait_reader(qtbot, window)
    left, right = sorted(r.canvas.placements, key=lambda p: p.x)
    assert (left.index, right.index) == (1, 2) and left.x + left.w <= right.x
    qtbot.keyClick(r, Qt.Key.Key_Right)
    assert r.shown() == (3, 4)
    qtbot.keyClick(r, Qt.Key.Key_Left)
    assert r.shown() == (1, 2)
    qtbot.keyClick(r, Qt.Key.Key_O)  # shift: the cover pairs with page 2
    assert r.shown() == (0, 1)

    qtbot.keyClick(r, Qt.Key.Key_O)
    qtbot.keyClick(r, Qt.Key.Key_R)  # right to left: page 2 on the right, the left arrow goes on
    r.go_to(1)
    assert r.rtl and r.shown() == (2, 1)
    left, right = sorted(r.canvas.placements, key=lambda p: p.x)
    assert (left.index, right.index) == (2, 1)
    qtbot.keyClick(r, Qt.Key.Key_Left)
    assert r.shown() == (4, 3)
    qtbot.keyClick(r, Qt.Key.Key_Right)
    assert r.shown() == (2, 1)


def test_manga_opens_right_to_left_and_the_choice_is_remembered(qtbot, window, library):
    open_and_wait(qtbot, window, library)
    manga = _book(window, "Manga Volume")
    window.read(manga)
    wait_reader(qtbot, window)
    r = window.reader
    assert r.rtl  # ComicInfo: Manga=YesAndRightToLeft
    qtbot.keyClick(r, Qt.Key.Key_Left)
    assert r.page == 1
    qtbot.keyClick(r, Qt.Key.Key_R)  # the person turns it off for this book
    assert not r.rtl
    qtbot.keyClick(r, Qt.Key.Key_Escape)
    window.read(manga)
    wait_reader(qtbot, window)
    qtbot.waitUntil(lambda: r.meta is not None, timeout=WAIT_MS)
    assert not r.rtl


def test_a_wide_page_stands_alone_in_a_spread(qtbot, window, tmp_path, pages, wide_page):
    root = tmp_path / "Wide"
    make_book(root / "wide.cbz", [pages[0], pages[1], wide_page, pages[2], pages[3]])
    open_and_wait(qtbot, window, root)
    window.read(window.library.model.item(0))
    wait_reader(qtbot, window)
    r = window.reader
    r.set_double(True)
    qtbot.waitUntil(lambda: r.sizes and r.sizes[2] == (320, 160), timeout=WAIT_MS)
    assert r.groups == [(0,), (1,), (2,), (3, 4)]


def test_continuous_scroll_zoom_and_fit(qtbot, window, library):
    open_and_wait(qtbot, window, library)
    window.read(_book(window, "Story 5"))
    wait_reader(qtbot, window)
    r = window.reader
    r.set_fit("width")
    wide = r.canvas.placements[0].w
    assert abs(wide - r.scroll.viewport().width()) <= 2
    r.set_fit("height")
    assert abs(r.canvas.placements[0].h - r.scroll.viewport().height()) <= 2
    h = r.canvas.placements[0].h
    qtbot.keyClick(r, Qt.Key.Key_Plus)
    assert r.canvas.placements[0].h > h * 1.2
    qtbot.keyClick(r, Qt.Key.Key_0)
    assert abs(r.canvas.placements[0].h - h) <= 1

    qtbot.keyClick(r, Qt.Key.Key_C)
    assert r.continuous and len(r.canvas.placements) == 5
    tops = [p.y for p in r.canvas.placements]
    assert tops == sorted(tops)
    r.go_to(3)
    assert r.page == 3
    qtbot.waitUntil(lambda: r.has_image(3), timeout=WAIT_MS)
    r.scroll.verticalScrollBar().setValue(0)
    assert r.page == 0  # the page follows the scroll position


def test_position_survives_a_restart(qtbot, settings, library):
    from comicdesk.qt.prefs import load_prefs

    win = new_window(qtbot, settings)
    try:
        open_and_wait(qtbot, win, library)
        win.read(_book(win, "Story 6"))
        wait_reader(qtbot, win)
        for _ in range(3):
            qtbot.keyClick(win.reader, Qt.Key.Key_Right)
        assert win.reader.page == 3
        with qtbot.waitSignal(win.reader.position_saved, timeout=WAIT_MS):
            qtbot.keyClick(win.reader, Qt.Key.Key_Escape)
        assert win.library.shelf.isVisible()  # "Continue reading" appears at once
        win.close()
    finally:
        win.shutdown()

    prefs = load_prefs(settings.data_root)
    assert prefs.last == str(library)
    win2 = new_window(qtbot, settings, prefs)
    try:
        with qtbot.waitSignal(win2.first_screen_ready, timeout=WAIT_MS):
            win2.start()  # no path: the last library
        shelf = win2.library.shelf_model
        assert win2.library.shelf.isVisible() and shelf.rowCount() == 1
        item = shelf.index(0).data(ItemRole)
        assert item.title == "Story 6" and item.position == 3
        win2.library.shelf.clicked.emit(shelf.index(0))  # continue reading
        wait_reader(qtbot, win2)
        assert win2.reader.page == 3
    finally:
        win2.close()
        win2.shutdown()


def test_opening_a_book_file_goes_straight_to_the_reader(qtbot, window, library):
    path = library / "Captain Science" / "Captain Science #002 (1950).cbz"
    window.open_path(path)
    wait_reader(qtbot, window)
    assert window.stack.currentWidget() is window.reader
    assert window.reader.meta.title == "Story 2" and window.reader.count == 5
    qtbot.waitUntil(lambda: window.scan_job is not None and not window.scan_job.state.active, timeout=WAIT_MS)
    qtbot.keyClick(window.reader, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.library.model.total() == 1, timeout=WAIT_MS)  # only this book was scanned


def test_welcome_screen_without_a_last_library(qtbot, window):
    with qtbot.waitSignal(window.first_screen_ready, timeout=WAIT_MS):
        window.start()
    assert window.stack.currentWidget() is window.welcome
    assert window.welcome.b_folder.isVisible() and not window.welcome.recent.isVisible()


def test_book_details_say_format_and_pages_once(qtbot, window):
    """A book whose series line says what its title says ("Science Comics #001" of the series
    "Science Comics" #1): the details under the title name the format and pages once."""
    from comicdesk.services.session import BookItem

    view = window.book
    view._describe(BookItem(id=1, path="/lib/Science Comics #001 (1946).cbz", title="Science Comics #1",
                            series="Science Comics", number="1", pages=36, format="zip"))
    lines = view.details.text().splitlines()
    assert lines == ["ZIP · 36 pages", "/lib/Science Comics #001 (1946).cbz"]
    view._describe(BookItem(id=2, path="/lib/c.cbz", title="Story 4", series="Captain Science",
                            number="4", pages=5, format="zip", authors=("Ann",)))
    assert view.details.text().splitlines() == ["Captain Science #4", "by Ann", "ZIP · 5 pages", "/lib/c.cbz"]
