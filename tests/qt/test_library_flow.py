"""A person opens a folder: the grid shows every book with its cover, search and sort work,
damaged books are listed with their reason, nothing in the library changes."""

from __future__ import annotations

import threading

from helpers import scan_as_older, tree_digest
from PySide6.QtCore import Qt
from qthelpers import WAIT_MS, open_and_wait, titles

from comicdesk.qt.models import ErrorRole, ItemRole, SubtitleRole


def test_open_folder_shows_every_book_with_covers(qtbot, window, library):
    before = tree_digest(library)
    open_and_wait(qtbot, window, library)

    assert window.stack.currentWidget() is window.library
    model = window.library.model
    assert model.total() == 14  # 7 + 4 + manga + damaged + folder book
    shown = titles(model)
    assert shown[:3] == ["Story 1", "Story 2", "Story 3"]  # series, then number
    assert "Captain Science 099" in shown and "damaged" in shown
    # every visible readable book has its cover; the damaged one says why instead
    grid = window.library.grid
    vp = grid.viewport().rect()
    visible = [model.index(r) for r in range(model.rowCount()) if grid.visualRect(model.index(r)).intersects(vp)]
    assert len(visible) >= 6
    for ix in visible:
        book = ix.data(ItemRole)
        if book.error:
            assert "damaged" in book.path and ix.data(ErrorRole)
        else:
            pm = ix.data(Qt.ItemDataRole.DecorationRole)
            assert pm is not None and not pm.isNull(), book.title
    # the second line is the series and number
    row = model.row_of(next(b.id for b in model.books() if b.title == "Story 2"))
    assert model.index(row).data(SubtitleRole) == "Captain Science #2"
    # the failure is in the Jobs panel with its reason
    panel = window.jobs_panel
    assert panel.failure_count() == 1
    item = panel.failed.topLevelItem(0)
    assert item.text(0) == "damaged.cbz" and item.text(1)
    assert window.library.count.text() == "14 books"
    assert tree_digest(library) == before  # nothing in the library was touched


def test_search_and_sort(qtbot, window, library):
    open_and_wait(qtbot, window, library)
    lib = window.library
    lib.search.setText("space  ADV")
    qtbot.waitUntil(lambda: lib.model.rowCount() == 4, timeout=WAIT_MS)
    assert all(t.startswith("Space Adventures") for t in titles(lib.model))
    assert lib.count.text() == "4 of 14 books"
    lib.search.setText("orlando")  # the writer from ComicInfo
    qtbot.waitUntil(lambda: lib.model.rowCount() == 7, timeout=WAIT_MS)
    lib.search.setText("no such book")
    qtbot.waitUntil(lambda: lib.model.rowCount() == 0, timeout=WAIT_MS)
    assert lib.empty.isVisible() and "No books match" in lib.empty.text()
    lib.search.clear()
    qtbot.waitUntil(lambda: lib.model.rowCount() == 14, timeout=WAIT_MS)
    lib.set_sort("title")
    shown = titles(lib.model)
    assert shown == sorted(shown, key=str.casefold)
    lib.set_sort("author")
    assert titles(lib.model)[:7] == [f"Story {n}" for n in range(1, 8)]  # the only author first


def test_number_order_is_natural(qtbot, window, tmp_path, pages):
    from qthelpers import make_book

    root = tmp_path / "Nat"
    for n in ("10", "2", "1", "2.5"):
        make_book(root / f"x{n}.cbz", pages[:1], series="Saga", number=n, title=f"Saga {n}")
    open_and_wait(qtbot, window, root)
    assert titles(window.library.model) == ["Saga 1", "Saga 2", "Saga 2.5", "Saga 10"]


def test_the_ui_thread_never_touches_disk_or_books(qtbot, window, library, monkeypatch):
    """Catalogue, user data, archives and thumbnails are only ever opened on worker threads."""
    import comicdesk.archive.book as book_mod
    import comicdesk.library.catalog as catalog_mod
    import comicdesk.library.userdata as userdata_mod

    main = threading.main_thread()
    seen: list[str] = []

    def spy(cls_or_mod, name):
        original = getattr(cls_or_mod, name)

        def wrapped(*a, **k):
            if threading.current_thread() is main:
                seen.append(name)
            return original(*a, **k)
        monkeypatch.setattr(cls_or_mod, name, wrapped)

    spy(catalog_mod.Catalog, "__init__")
    spy(userdata_mod.UserData, "__init__")
    spy(book_mod.Book, "__init__")
    open_and_wait(qtbot, window, library)
    book = next(b for b in window.library.model.books() if b.title == "Story 3")
    window.show_book(book)
    qtbot.waitUntil(lambda: window.book.model.rowCount() == 5, timeout=WAIT_MS)
    window.read(book, 1)
    qtbot.waitUntil(lambda: window.reader.count == 5 and window.reader.has_image(1), timeout=WAIT_MS)
    assert seen == []


def test_offline_library_is_shown_as_such(qtbot, window, library, settings):
    open_and_wait(qtbot, window, library)
    moved = library.with_name("Comics-unplugged")
    library.rename(moved)  # the disk went away
    with qtbot.waitSignal(window.books_loaded, timeout=WAIT_MS):
        window.open_path(library)
    qtbot.waitUntil(lambda: window.scan_job is not None and not window.scan_job.state.active, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.library.banner.isVisible(), timeout=WAIT_MS)
    assert "Offline" in window.library.banner.text()
    qtbot.waitUntil(lambda: window.library.model.total() == 14, timeout=WAIT_MS)  # nothing removed
    assert window.scan_job.state.status == "offline"


def test_bad_paths_give_one_line(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.open_failed, timeout=WAIT_MS) as sig:
        window.open_path(tmp_path / "missing")
    assert "no such file or folder" in sig.args[0] and "\n" not in sig.args[0]
    assert window.stack.currentWidget() is window.welcome
    (tmp_path / "plain").mkdir()
    with qtbot.waitSignal(window.open_failed, timeout=WAIT_MS) as sig:
        window.open_path(tmp_path / "plain", calibre=True)
    assert "not a Calibre library" in sig.args[0]


def test_empty_folder_says_so(qtbot, window, tmp_path):
    (tmp_path / "empty").mkdir()
    with qtbot.waitSignal(window.first_screen_ready, timeout=WAIT_MS):
        window.open_path(tmp_path / "empty")
    assert window.library.model.total() == 0
    assert window.library.empty.isVisible()


def test_open_a_calibre_library_shows_its_metadata(qtbot, window, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "library"))
    from libhelpers import CS, make_calibre

    root = make_calibre(tmp_path / "Calibre Library", [
        {"title": "Space Opera", "authors": ["Ann Author"], "series": "Stars", "series_index": 2.0,
         "files": {"CBZ": f"{CS}.cbz"}, "cover": True},
        {"title": "A Novel", "authors": ["Bo Writer"], "files": {"EPUB": None}},  # listed, missing
    ])
    from helpers import captain_science_pages
    from qthelpers import make_book

    # the same book without ComicInfo.xml, so the names come from Calibre
    make_book(root / "Ann Author" / "Space Opera (1)" / "Space Opera - Ann Author.cbz", captain_science_pages())
    before = tree_digest(root)
    with qtbot.waitSignal(window.first_screen_ready, timeout=WAIT_MS):
        window.open_path(root, calibre=True)
    books = {b.title: b for b in window.library.model.books()}
    assert set(books) == {"Space Opera", "A Novel"}
    opera = books["Space Opera"]
    assert opera.authors == ("Ann Author",) and opera.calibre_id == 1 and opera.subtitle == "Stars #2"
    assert "missing" in books["A Novel"].error
    row = window.library.model.row_of(opera.id)
    assert "Calibre #1" in window.library.model.index(row).data(Qt.ItemDataRole.ToolTipRole)
    assert tree_digest(root) == before  # Calibre's folder and database untouched


def test_dropping_a_folder_or_a_book_opens_it(qtbot, window, library):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    def drop(path):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                        Qt.KeyboardModifier.NoModifier)
        window.dropEvent(ev)

    with qtbot.waitSignal(window.first_screen_ready, timeout=WAIT_MS):
        drop(library)
    assert window.library.model.total() == 14
    drop(library / "Loose" / "Captain Science 099")  # a folder of images is a book
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.reader and window.reader.count == 5,
                    timeout=WAIT_MS)


def test_a_cache_from_an_older_comicdesk_opens_while_the_scan_upgrades_it(qtbot, window, library, settings):
    """A person who updated comicdesk opens their library: the app's first listing finds the older
    catalogue while the scan (a writer) holds the lock to upgrade it. The listing waits for the
    scan instead of failing with 'Cannot read the catalogue' (a fresh machine's setup stopped so)."""
    from comicdesk.library import catalog as catalog_mod
    from comicdesk.library import db
    from comicdesk.library.catalog import Catalog
    from comicdesk.library.lock import LibraryLock

    res = scan_as_older(library, settings, 3)  # the cache an older comicdesk left
    cache = settings.library_cache_dir(res.library_id)
    lock = LibraryLock(cache)
    lock.acquire()  # the writer is busy: the app's scan waits for it, the listing must not fail
    try:
        window.open_path(str(library))
        qtbot.waitUntil(lambda: window.session is not None and window.scan_job is not None, timeout=WAIT_MS)
        listed = window.session.io.submit(window.session.load_books).result(timeout=30)
        assert listed == []  # nothing to list yet, and no error
        qtbot.wait(300)
        assert window.last_error == ""
    finally:
        lock.release()
    qtbot.waitUntil(lambda: window.library.model.total() == 14, timeout=WAIT_MS)
    assert window.last_error == ""
    with Catalog.open(cache, readonly=True) as cat:
        assert db.schema_version(cat.conn) == len(catalog_mod.MIGRATIONS)
