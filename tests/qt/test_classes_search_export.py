"""Part 2 flows: page classes as badges and filters, relabelling (shown at once, kept across a
restart), story-only reading, the panel overlay and guided view, "find similar panels" → the
sidebar → the hit opened, the export dialog writing a cleaned CBZ, the models dialog.

Labels come from ComicInfo page types and the person's labels, panels and vectors are written
straight into the cache (:func:`qthelpers.write_analysis`): no model runs here."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from qthelpers import (
    WAIT_MS,
    make_book,
    new_window,
    open_and_wait,
    wait_reader,
    write_analysis,
)

from comicdesk.qt.models import ItemRole

TYPES = ["FrontCover", "Story", "Advertisement", "Story", "Advertisement"]


@pytest.fixture
def classed(tmp_path, pages) -> tuple[Path, list[Path]]:
    """Three books: the first with a cover, story pages and two ads (ComicInfo page types)."""
    root = tmp_path / "Comics"
    books = [make_book(root / "Saga 01.cbz", pages, series="Saga", number="1", title="Saga One",
                       page_types=TYPES),
             make_book(root / "Saga 02.cbz", pages, series="Saga", number="2", title="Saga Two",
                       page_types=["FrontCover", "Story", "Story", "Story", "BackCover"]),
             make_book(root / "Other.cbz", pages[:3], title="Other")]
    return root, books


def show_book(qtbot, win, title: str):
    item = next(b for b in win.library.model.books() if b.title == title)
    with qtbot.waitSignal(win.book.loaded, timeout=WAIT_MS):
        win.show_book(item)
    return item


def shown(view) -> list[int]:
    return view.model.shown_indexes()


def test_badges_and_story_only_hides_ad_pages(qtbot, window, classed):
    root, _books = classed
    open_and_wait(qtbot, window, root)
    show_book(qtbot, window, "Saga One")
    view = window.book
    model = view.model
    labels = [(p.label, p.source) for p in model.all_pages()]
    assert labels == [("cover", "comicinfo"), ("story", "comicinfo"), ("advertisement", "comicinfo"),
                      ("story", "comicinfo"), ("advertisement", "comicinfo")]
    assert "ad" in model.index(2).data(Qt.ItemDataRole.ToolTipRole) and "ComicInfo" in \
        model.index(2).data(Qt.ItemDataRole.ToolTipRole)
    assert view.chips["ads"].text() == "Ads (2)" and view.chips["story"].text() == "Story only (2)"

    view.chips["story"].click()
    assert shown(view) == [1, 3]  # the ads and the cover are gone
    assert view.shown_label.text() == "2 of 5 pages"
    view.chips["ads"].click()
    assert shown(view) == [2, 4]
    view.set_filter("class:cover")
    assert shown(view) == [0] and view.more.isChecked() and view.more.text().startswith("cover")
    view.chips["all"].click()
    assert shown(view) == [0, 1, 2, 3, 4]
    view.grid.grab()  # the badges paint

    # reading with "Story only" skips the cover and the ads
    window.read(view.book, 1)
    wait_reader(qtbot, window)
    reader = window.reader
    qtbot.waitUntil(lambda: bool(reader.labels), timeout=WAIT_MS)
    reader.act_story.trigger()
    assert reader.story_only and reader.visible_pages() == [1, 3]
    assert reader.page == 1
    reader.next()
    assert reader.page == 3
    reader.next()  # the last story page: the ad after it is not shown
    assert reader.page == 3
    reader.go_to(0)  # a cover asked for: the next story page
    assert reader.page == 1


def test_relabel_shows_at_once_and_survives_a_restart(qtbot, settings, classed):
    from comicdesk.library.userdata import UserData

    root, _books = classed
    win = new_window(qtbot, settings)
    try:
        open_and_wait(qtbot, win, root)
        item = show_book(qtbot, win, "Saga Two")
        view = win.book
        sel = view.grid.selectionModel()
        sel.clearSelection()
        for page in (1, 3):
            sel.select(view.model.index(view.model.row_of(page)), sel.SelectionFlag.Select)
        menu = view.context_menu(view.model.index(view.model.row_of(3)))
        action = next(a for a in menu.findChildren(type(menu.actions()[0])) if a.objectName() == "label:advertisement")
        with qtbot.waitSignal(win.rescorer.finished, timeout=WAIT_MS):
            with qtbot.waitSignal(view.labels_saved, timeout=WAIT_MS):
                action.trigger()
                # at once, before anything was written
                assert [(p.label, p.source) for p in view.model.all_pages()][1:4] == [
                    ("advertisement", "user"), ("story", "comicinfo"), ("advertisement", "user")]
                assert view.chips["ads"].text() == "Ads (2)"
        view.chips["ads"].click()
        assert shown(view) == [1, 3]
        # marked as the person's: the tooltip says so, and the menu offers to clear it
        tip = view.model.index(0).data(Qt.ItemDataRole.ToolTipRole)
        assert "your label" in tip
        assert "saved" in win.statusBar().currentMessage()
    finally:
        win.close()
        win.shutdown()
    with UserData(settings.library_data_dir(win.session.info.id), readonly=True) as user:
        assert user.labels(item.content_key) == {1: "advertisement", 3: "advertisement"}

    # a restart: a new window reads them back from the data dir
    win2 = new_window(qtbot, settings)
    try:
        open_and_wait(qtbot, win2, root)
        show_book(qtbot, win2, "Saga Two")
        pages = win2.book.model.all_pages()
        assert [(p.label, p.source) for p in pages] == [
            ("cover", "comicinfo"), ("advertisement", "user"), ("story", "comicinfo"),
            ("advertisement", "user"), ("back_cover", "comicinfo")]
        # clearing the person's label brings ComicInfo's back
        view = win2.book
        view.grid.selectionModel().clearSelection()
        menu = view.context_menu(view.model.index(view.model.row_of(1)))
        clear = next(a for a in menu.findChildren(type(menu.actions()[0])) if a.objectName() == "label:none")
        assert clear.isEnabled()
        with qtbot.waitSignal(win2.rescorer.finished, timeout=WAIT_MS):
            clear.trigger()
        qtbot.waitUntil(lambda: view.model.all_pages()[1].label == "story", timeout=WAIT_MS)
        assert view.model.all_pages()[1].source == "comicinfo"
    finally:
        win2.close()
        win2.shutdown()


def test_right_click_a_panel_fills_the_sidebar_and_a_click_opens_the_hit(qtbot, window, settings, classed):
    root, books = classed
    open_and_wait(qtbot, window, root)
    _cache, ids = write_analysis(settings, root, books[:2])
    item = next(b for b in window.library.model.books() if b.title == "Saga One")
    window.read(item, 0)
    wait_reader(qtbot, window)
    reader = window.reader
    qtbot.waitUntil(lambda: bool(reader.panels.get(0)), timeout=WAIT_MS)
    assert reader.book_id == ids[0]

    # the overlay: three boxes in reading order on the page
    reader.act_panels.trigger()
    assert reader.show_panels
    reader.canvas.grab()
    point = reader.panel_point(0, 0)
    assert reader.panel_at(point) == (0, 0)
    menu = reader.context_menu(point)
    find = next(a for a in menu.actions() if a.objectName() == "similar-panels")
    panel = window.search_panel
    with qtbot.waitSignal(panel.searched, timeout=WAIT_MS) as got:
        find.trigger()
    assert got.args[0] > 0 and window.search_dock.isVisible()
    top = panel.hits[0]
    assert (top.book_id, top.page, top.panel) == (ids[1], 2, 1) and top.score > 0.95
    assert top.title == "Saga Two" and top.box is not None
    assert panel.results.count() == len(panel.hits)
    assert "Saga Two" in panel.results.item(0).text() and "page 3, panel 2" in panel.results.item(0).text()
    qtbot.waitUntil(lambda: panel.crops_done > 0, timeout=WAIT_MS)  # crops of the panels come in

    # a click on the first result opens that page with the panel highlighted
    rect = panel.results.visualItemRect(panel.results.item(0))
    qtbot.mouseClick(panel.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: reader.meta is not None and reader.meta.path == str(books[1]) and reader.count > 0,
                    timeout=WAIT_MS)
    assert reader.page == 2 and reader.highlight == (2, tuple(top.box))
    wait_reader(qtbot, window)
    reader.canvas.grab()

    # filters: other books only leaves the query's book out
    panel.query = ("similar", ids[1], 2, 1, "Saga Two")
    with qtbot.waitSignal(panel.searched, timeout=WAIT_MS):
        panel.other_books.setChecked(True)
    assert panel.hits and all(h.book_id != ids[1] for h in panel.hits)
    # story only: every hit is on a story page (ComicInfo types of Saga One)
    with qtbot.waitSignal(panel.searched, timeout=WAIT_MS):
        panel.story_only.setChecked(True)
    assert panel.hits and {h.page for h in panel.hits} <= {1, 3}

    # similar pages on a page without page vectors: one clear line, no crash
    with qtbot.waitSignal(panel.searched, timeout=WAIT_MS):
        window.find_similar(ids[0], 0, None, "Saga One")
    assert panel.hits == [] and "run comicdesk index" in panel.status.text()


def test_guided_view_goes_panel_by_panel(qtbot, window, settings, classed):
    root, books = classed
    open_and_wait(qtbot, window, root)
    write_analysis(settings, root, books[:1])
    item = next(b for b in window.library.model.books() if b.title == "Saga One")
    window.read(item, 1)
    wait_reader(qtbot, window)
    reader = window.reader
    qtbot.waitUntil(lambda: bool(reader.panels.get(1)), timeout=WAIT_MS)
    whole = reader.canvas.placements[0]
    reader.act_guided.trigger()
    assert reader.guided and reader.panel == 0
    zoomed = reader.canvas.placements[0]
    assert zoomed.index == 1 and zoomed.w > whole.w  # a panel fills the view
    assert "panel 1/3" in reader.where.text()
    reader.next()
    assert (reader.page, reader.panel) == (1, 1) and "panel 2/3" in reader.where.text()
    reader.next()
    reader.next()  # past the last panel: the next page, its first panel
    assert (reader.page, reader._panel_number(3)) == (2, 0)
    reader.previous()  # back: the previous page's last panel
    assert (reader.page, reader._panel_number(3)) == (1, 2)
    reader.act_guided.trigger()
    assert not reader.guided and reader.canvas.placements[0].w == whole.w


def test_text_search_box_finds_page_text(qtbot, window, settings, classed):
    from comicdesk.library.catalog import Catalog
    from comicdesk.library.service import locate_library

    root, books = classed
    open_and_wait(qtbot, window, root)
    cache = settings.library_cache_dir(locate_library(root, settings, register=False).id)
    with Catalog.open(cache) as cat, cat.transaction():
        book_id = cat.book_by_path(books[1]).id
        cat.replace_text_boxes(book_id, {3: ([(0, 0, 40, 10), (0, 20, 40, 10)], [0.9, 0.9], 0.1)})
        cat.set_text(book_id, {3: [(0, "The ROCKET lands", 0.9, 0), (1, "on the moon", 0.9, 0)]})
    window.focus_text_search()
    panel = window.search_panel
    panel.text.setText("rocket moon")
    with qtbot.waitSignal(panel.searched, timeout=WAIT_MS):
        qtbot.keyClick(panel.text, Qt.Key.Key_Return)
    assert [(h.book_id, h.page, h.panel) for h in panel.hits] == [(book_id, 3, None)]
    assert "rocket lands on the moon" in panel.hits[0].text.casefold()
    with qtbot.waitSignal(panel.searched, timeout=WAIT_MS):
        panel.search_text("dragon")
    assert panel.hits == [] and "dragon" in panel.status.text()


def test_export_from_the_dialog_writes_the_file(qtbot, window, classed, tmp_path):
    from helpers import tree_digest

    root, _books = classed
    open_and_wait(qtbot, window, root)
    item = show_book(qtbot, window, "Saga One")
    before = tree_digest(root)
    out = tmp_path / "exports" / "Saga One clean.cbz"
    dlg = window.open_export([item])
    assert dlg.presets["story-only"].isChecked() and dlg.export_button.isEnabled()
    dlg.output.setText(str(out))
    with qtbot.waitSignal(dlg.finished_export, timeout=WAIT_MS) as got:
        dlg.export_button.click()
    results = got.args[0]
    assert [r.status for r in results] == ["written"], results[0].error
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    assert [n for n in names if n != "ComicInfo.xml"] == ["001.jpg", "002.jpg"]  # the two story pages
    assert dlg.report.topLevelItemCount() == 1 and dlg.report.topLevelItem(0).text(1) == "written"
    assert dlg.report.topLevelItem(0).text(2) == "2 kept, 3 left out"
    assert dlg.progress.value() == 1 and dlg.status.text().startswith("Done: 1 written")
    assert tree_digest(root) == before  # the library is never touched

    # chosen classes, mark only: every page written, the dropped ones marked Deleted
    dlg.set_preset("custom", ["cover", "story"])
    dlg.mark_only.setChecked(True)
    with qtbot.waitSignal(dlg.finished_export, timeout=WAIT_MS) as got:
        dlg.start()
    res = got.args[0][0]
    assert res.status == "written" and res.pages_kept == 5 and res.pages_marked == 2
    with zipfile.ZipFile(out) as zf:
        info = zf.read("ComicInfo.xml").decode()
    assert info.count("Deleted") == 2

    # an output inside the library is refused, in one line, nothing written
    dlg.set_preset("no-ads")
    dlg.mark_only.setChecked(False)
    dlg.output.setText(str(root / "inside.cbz"))
    with qtbot.waitSignal(dlg.finished_export, timeout=WAIT_MS) as got:
        dlg.start()
    assert got.args[0][0].status == "failed" and "library" in got.args[0][0].error
    assert not (root / "inside.cbz").exists()
    dlg.close()


def test_exporting_two_books_of_the_same_name_into_a_folder_keeps_both(qtbot, window, tmp_path, pages):
    root = tmp_path / "Comics"
    make_book(root / "a" / "Issue.cbz", pages, title="Issue A", page_types=TYPES)
    make_book(root / "b" / "Issue.cbz", pages[:3], title="Issue B")
    open_and_wait(qtbot, window, root)
    items = sorted(window.library.model.books(), key=lambda b: b.title)
    assert [b.title for b in items] == ["Issue A", "Issue B"]
    out = tmp_path / "exports"
    dlg = window.open_export(items)
    dlg.set_preset("no-ads")
    dlg.output.setText(str(out))
    # Book B has no page types: the export analyses it first (models load), ~4 s on an idle 2-core
    # machine and over 20 s when its cores are busy with other work — a wider wait than others'.
    with qtbot.waitSignal(dlg.finished_export, timeout=3 * WAIT_MS) as got:
        dlg.start()
    assert [r.status for r in got.args[0]] == ["written", "written"], [r.error for r in got.args[0]]
    written = sorted(p.name for p in out.glob("*.cbz"))
    assert written == ["Issue (2).cbz", "Issue.cbz"]
    with zipfile.ZipFile(out / "Issue.cbz") as zf:  # A, first: 5 pages less its 2 ads
        assert len([n for n in zf.namelist() if n != "ComicInfo.xml"]) == 3
    with zipfile.ZipFile(out / "Issue (2).cbz") as zf:  # B, not the A export replaced
        assert 1 <= len([n for n in zf.namelist() if n != "ComicInfo.xml"]) <= 3
    dlg.close()


class FakeLocator:
    """Stands in for comicdesk.ml.weights.Locator: nothing is on disk until 'downloaded'."""

    def __init__(self, models_dir: Path, *, block: bool = False):
        self.models_dir = models_dir
        self.endpoint = None
        self.have: set[str] = set()
        self.asked: list[tuple[str, bool]] = []
        self.block = block
        self.started = threading.Event()

    def find(self, name):
        from comicdesk.ml.weights import Located

        return Located(name, self.models_dir / name, "models-dir", 1000) if name in self.have else None

    def download(self, name, *, consent, progress=None):
        from comicdesk.ml.weights import Located, WeightsError

        self.asked.append((name, consent))
        total = 4000
        for done in range(0, total + 1, 1000):
            if progress is not None:
                try:
                    progress("weights.bin", done, total)
                except Exception as exc:  # the locator turns anything raised while writing into this
                    raise WeightsError(f"the download of weights.bin was cut ({type(exc).__name__})") from None
            self.started.set()
            while self.block and done:  # a slow network after the first MB: wait for the cancel
                try:
                    progress("weights.bin", done, total)
                except Exception:
                    raise WeightsError("the download of weights.bin was cut; run it again to resume") from None
                threading.Event().wait(0.01)
        self.have.add(name)
        return Located(name, self.models_dir / name, "models-dir", total)


def test_models_dialog_asks_consent_shows_progress_and_cancels(qtbot, window, tmp_path):
    from comicdesk.qt.models_dialog import COSMO_MODELS, ModelsDialog

    loc = FakeLocator(tmp_path / "models")
    loc.have.add("panel-encoder-v1")
    dlg = ModelsDialog(window.settings, window.bridge, window, locator=loc)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: len(dlg.rows) == len(COSMO_MODELS), timeout=WAIT_MS)
    assert [m.name for m in dlg.missing()] == ["cosmo-v4", "siglip-so400m", "qwen3-embedding-0.6b"]
    assert "GB" in dlg.consent_text.text() and str(loc.models_dir) in dlg.consent_text.text()
    assert not dlg.download_button.isEnabled()  # nothing without consent
    dlg.start()
    assert loc.asked == []
    dlg.consent.setChecked(True)
    assert dlg.download_button.isEnabled()
    with qtbot.waitSignal(dlg.finished_download, timeout=WAIT_MS) as got:
        dlg.download_button.click()
    assert got.args == ["done"] and [n for n, _c in loc.asked] == ["cosmo-v4", "siglip-so400m", "qwen3-embedding-0.6b"]
    assert all(consent for _n, consent in loc.asked)
    assert dlg.progress.value() == 1000 and "ready" in dlg.status.text()
    qtbot.waitUntil(lambda: not dlg.missing(), timeout=WAIT_MS)
    assert not dlg.consent.isEnabled()

    # cancel: the download stops, and says the partial file is kept for next time
    slow = FakeLocator(tmp_path / "models2", block=True)
    dlg2 = ModelsDialog(window.settings, window.bridge, window, locator=slow, names=("cosmo-v4",))
    qtbot.addWidget(dlg2)
    qtbot.waitUntil(lambda: bool(dlg2.rows), timeout=WAIT_MS)
    dlg2.consent.setChecked(True)
    dlg2.start()
    assert dlg2.running and dlg2.close_button.text() == "Cancel"
    assert slow.started.wait(5)
    qtbot.waitUntil(lambda: dlg2.progress.value() > 0, timeout=WAIT_MS)
    with qtbot.waitSignal(dlg2.finished_download, timeout=WAIT_MS) as got:
        dlg2.close_button.click()
    assert got.args == ["cancelled"] and "resumes" in dlg2.status.text()
    assert not dlg2.running and dlg2.missing()


def test_library_selection_exports_several_books_into_a_folder(qtbot, window, classed, tmp_path):
    root, _books = classed
    open_and_wait(qtbot, window, root)
    lib = window.library
    sel = lib.grid.selectionModel()
    for r in range(lib.model.rowCount()):
        if lib.model.item(r).title in ("Saga One", "Saga Two"):
            sel.select(lib.model.index(r), sel.SelectionFlag.Select)
    assert {b.title for b in lib.selected_books()} == {"Saga One", "Saga Two"}
    window.stack.setCurrentWidget(lib)
    window.export_current()
    dlg = window.export_dialog
    assert dlg is not None and len(dlg.books) == 2
    dlg.output.setText(str(tmp_path / "out"))
    dlg.set_preset("no-ads")
    with qtbot.waitSignal(dlg.finished_export, timeout=WAIT_MS) as got:
        dlg.start()
    assert [r.status for r in got.args[0]] == ["written", "written"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.cbz")) == ["Saga 01.cbz", "Saga 02.cbz"]
    with zipfile.ZipFile(tmp_path / "out" / "Saga 01.cbz") as zf:
        assert len([n for n in zf.namelist() if n != "ComicInfo.xml"]) == 3  # the two ads left out
    dlg.close()


def test_a_reload_keeps_the_books_the_person_selected(qtbot, window, classed):
    """A reload of the grid (the scan found a book, the analysis ended) keeps a multi-selection and
    never selects the current book on its own (an export then took a book nobody chose)."""
    root, _books = classed
    open_and_wait(qtbot, window, root)
    lib = window.library
    sel = lib.grid.selectionModel()
    other = next(r for r in range(lib.model.rowCount()) if lib.model.item(r).title == "Other")
    sel.setCurrentIndex(lib.model.index(other), sel.SelectionFlag.NoUpdate)
    sel.clearSelection()
    for r in range(lib.model.rowCount()):
        if lib.model.item(r).title in ("Saga One", "Saga Two"):
            sel.select(lib.model.index(r), sel.SelectionFlag.Select)
    books = lib.model.books()
    lib.set_books(list(reversed(books)))  # a reload, in another order
    assert {b.title for b in lib.selected_books()} == {"Saga One", "Saga Two"}
    assert lib.model.item(lib.grid.currentIndex().row()).title == "Other"


def test_item_role_still_gives_the_page(qtbot, window, classed):
    """The filtered model maps rows to pages (thumbnails land on the right row)."""
    root, _books = classed
    open_and_wait(qtbot, window, root)
    show_book(qtbot, window, "Saga One")
    view = window.book
    view.set_filter("ads")
    assert [view.model.index(r).data(ItemRole).index for r in range(view.model.rowCount())] == [2, 4]
    qtbot.waitUntil(lambda: all(view.model.index(r).data(Qt.ItemDataRole.DecorationRole) is not None
                                for r in range(view.model.rowCount())), timeout=WAIT_MS)
    assert view.grid.visualRect(view.model.index(1)).isValid()


def test_the_sidebar_shows_folded_copies_and_the_query_in_other_copies(qtbot, window):
    from comicdesk.services.session import HitList, SearchHit

    panel = window.search_panel
    panel.query = ("similar", 1, 0, 2, "Saga One")
    hits = HitList([SearchHit(2, "/lib/Saga Two.cbz", "Saga Two", 3, 1, (0, 0, 10, 10), 0.93, "story",
                              copies=("/lib/Saga Two.cbr",)),
                    SearchHit(3, "/lib/Other.cbz", "Other", 0, 0, (0, 0, 10, 10), 0.80)])
    hits.same_as_query = 2
    panel._show(hits, "")
    assert "+1 copy" in panel.results.item(0).text() and "Saga Two.cbr" in panel.results.item(0).toolTip()
    assert "copy" not in panel.results.item(1).text()
    assert panel.status.text() == "2 results · this panel is also in 2 other copies"


def test_an_unsure_model_label_reads_as_a_guess_and_the_persons_never_does(monkeypatch):
    from comicdesk.core import pages as core_pages
    from comicdesk.qt.delegates import badge_text
    from comicdesk.services.session import PageItem

    monkeypatch.setattr(core_pages, "SURE_AT", 0.9)  # the rule's threshold, whatever it ships as

    def page(label, source, p):
        return PageItem(0, "0.jpg", 10, 10, label=label, source=source,
                        probs={label: p, "story": 1 - p} if p is not None else None)

    assert badge_text(page("advertisement", "model", 0.43)) == ("ad?", True)
    assert badge_text(page("advertisement", "model", 0.91)) == ("ad", False)
    assert badge_text(page("advertisement", "user", 0.2)) == ("✎ ad", False)
    assert badge_text(page("advertisement", "comicinfo", None)) == ("ad", False)


def test_similar_panels_answer_under_the_apps_own_event_loop(qtbot, window, settings, classed):
    """The same search as above, but under the event loop `comicdesk` itself runs (pytest-qt runs
    Qt's): with `qasync.run` the search thread's first Zarr read waited forever."""
    import asyncio
    import time

    from comicdesk.qt.app import run_event_loop

    root, books = classed
    open_and_wait(qtbot, window, root)
    _cache, ids = write_analysis(settings, root, books[:2])
    panel = window.search_panel
    answered = []
    panel.searched.connect(lambda n, *a: answered.append(n))

    async def main():
        window.find_similar(ids[0], 0, 0, "Saga One")
        deadline = time.monotonic() + 30
        while not answered:
            assert time.monotonic() < deadline, "similar panels: no answer after 30 s"
            await asyncio.sleep(0.05)

    run_event_loop(main())
    hits = [(h.book_id, h.page, h.panel) for h in panel.hits]
    assert answered[0] == len(hits) > 0
    assert hits[0] == (ids[1], 2, 1)  # as in the test above: the same panel in the other book
    qtbot.waitUntil(lambda: panel.crops_done > 0, timeout=WAIT_MS)  # the crops' work is over here
