"""The app acts on a page class only when it is sure (issue 16, item 4; the rule is
comicdesk.core.pages): a model's unsure label is a guess on its badge ("ad?"), stays in the Story
chip and in the reader's story-only mode, and the export dialog says how many pages it will keep
because of it (and can leave them out too). Model outputs are written straight into the cache."""

from __future__ import annotations

import time
import zipfile

import pytest
from PySide6.QtCore import Qt
from qthelpers import WAIT_MS, make_book, open_and_wait, wait_reader

from comicdesk.core import pages as core_pages
from comicdesk.core.pages import PAGE_CLASSES


def probs(**kw) -> dict[str, float]:
    out = {c: 0.0 for c in PAGE_CLASSES}
    out.update(kw)
    return out


# cover (sure), story, an ad the model is sure of, an "ad" it is not (p(not story) = 0.6), story
OUTPUTS = {0: ("cover", probs(cover=0.95, story=0.05)), 1: ("story", probs(story=0.97, advertisement=0.03)),
           2: ("advertisement", probs(advertisement=0.9, cover=0.05, story=0.05)),
           3: ("advertisement", probs(advertisement=0.5, art=0.1, story=0.4)),
           4: ("story", probs(story=0.93, **{"first-page": 0.05}, text=0.02))}


@pytest.fixture(autouse=True)
def _sure_at(monkeypatch):
    monkeypatch.setattr(core_pages, "SURE_AT", 0.9)


@pytest.fixture
def guessed(tmp_path, pages):
    root = tmp_path / "Comics"
    book = make_book(root / "Guess.cbz", pages, title="Guess")
    return root, book


def write_outputs(settings, root, book) -> None:
    from comicdesk.library.catalog import Catalog
    from comicdesk.library.service import locate_library

    cache = settings.library_cache_dir(locate_library(root, settings, register=False).id)
    with Catalog.open(cache) as cat:
        row = cat.book_by_path(book)
        with cat.transaction():
            for page, (label, p) in OUTPUTS.items():
                cat.set_page_output(row.id, page, "standard-1", "test", label, p, "model", time.time())


def show(qtbot, win, title):
    item = next(b for b in win.library.model.books() if b.title == title)
    with qtbot.waitSignal(win.book.loaded, timeout=WAIT_MS):
        win.show_book(item)
    return item


def test_unsure_pages_are_guesses_and_story_only_keeps_them(qtbot, window, settings, guessed):
    from comicdesk.qt.delegates import badge_text

    root, book = guessed
    open_and_wait(qtbot, window, root)
    write_outputs(settings, root, book)
    show(qtbot, window, "Guess")
    view = window.book
    model = view.model
    all_pages = model.all_pages()
    assert [badge_text(p) for p in all_pages] == [("cover", False), ("story", False), ("ad", False),
                                                  ("ad?", True), ("story", False)]
    assert [p.sure for p in all_pages] == [True, True, True, False, True]
    assert "a guess" in model.index(3).data(Qt.ItemDataRole.ToolTipRole)
    assert "a guess" not in model.index(2).data(Qt.ItemDataRole.ToolTipRole)
    # The Story chip hides only what it is sure is not story; the Ads chip shows both ads.
    assert view.chips["story"].text() == "Story only (3)"
    view.chips["story"].click()
    assert model.shown_indexes() == [1, 3, 4]
    view.chips["ads"].click()
    assert model.shown_indexes() == [2, 3]
    view.chips["all"].click()
    view.grid.grab()  # the greyed "ad?" badge paints

    # Reading story-only skips the cover and the sure ad, not the guessed one.
    window.read(view.book, 1)
    wait_reader(qtbot, window)
    reader = window.reader
    qtbot.waitUntil(lambda: bool(reader.labels), timeout=WAIT_MS)
    assert reader.labels[3] == ("advertisement", False, False) and reader.labels[2][2] is True
    messages = []
    reader.message.connect(messages.append)
    reader.act_story.trigger()
    assert reader.visible_pages() == [1, 3, 4] and reader.unsure_kept() == [3]
    assert messages and "2 pages skipped" in messages[-1] and "1 shown" in messages[-1]
    reader.next()
    assert reader.page == 3
    reader.next()
    assert reader.page == 4


def test_the_badge_follows_sure_at(monkeypatch):
    from comicdesk.qt.delegates import badge_text
    from comicdesk.services.session import PageItem

    page = PageItem(0, "0.jpg", 10, 10, label="advertisement", source="model",
                    probs=probs(advertisement=0.7, cover=0.1, story=0.2))  # p(not story) = 0.8
    monkeypatch.setattr(core_pages, "SURE_AT", 0.75)
    assert badge_text(page) == ("ad", False) and page.sure
    monkeypatch.setattr(core_pages, "SURE_AT", 0.85)
    assert badge_text(page) == ("ad?", True) and not page.sure
    # A model's label without probabilities is a guess; ComicInfo's never is.
    assert badge_text(PageItem(0, "0.jpg", 10, 10, label="cover", source="model")) == ("cover?", True)
    assert badge_text(PageItem(0, "0.jpg", 10, 10, label="cover", source="comicinfo")) == ("cover", False)


def test_the_export_dialog_counts_unsure_pages_and_can_drop_them(qtbot, window, settings, guessed, tmp_path):
    root, book = guessed
    open_and_wait(qtbot, window, root)
    write_outputs(settings, root, book)
    item = show(qtbot, window, "Guess")
    dlg = window.open_export([item])
    assert dlg.presets["story-only"].isChecked()
    qtbot.waitUntil(lambda: dlg.unsure_pages is not None and bool(dlg.unsure_note.text()), timeout=WAIT_MS)
    assert dlg.unsure_pages == {str(book): [3]}
    assert dlg.unsure_note.text().startswith("1 page will be kept because the model is not sure")
    assert dlg.drop_unsure.isVisible() and not dlg.drop_unsure.isChecked()

    out = tmp_path / "exports" / "Guess.cbz"
    dlg.output.setText(str(out))
    with qtbot.waitSignal(dlg.finished_export, timeout=WAIT_MS) as got:
        dlg.export_button.click()
    (res,) = got.args[0]
    assert res.status == "written" and res.kept_unsure == [3] and res.pages_kept == 3
    assert dlg.report.topLevelItem(0).text(2) == "3 kept, 2 left out, 1 kept unsure"
    assert "1 page kept because not sure" in dlg.status.text()

    dlg.drop_unsure.setChecked(True)
    with qtbot.waitSignal(dlg.finished_export, timeout=WAIT_MS) as got:
        dlg.start()
    (res,) = got.args[0]
    assert res.status == "written" and res.kept_unsure == [] and res.pages_kept == 2
    with zipfile.ZipFile(out) as zf:
        assert len([n for n in zf.namelist() if n != "ComicInfo.xml"]) == 2

    # No ads: p(ad) alone decides; a preset where nothing is unsure hides the offer.
    dlg.set_preset("custom", list(PAGE_CLASSES))
    qtbot.waitUntil(lambda: dlg.unsure_pages == {str(book): []}, timeout=WAIT_MS)
    assert not dlg.unsure_note.isVisible() and not dlg.drop_unsure.isVisible() and not dlg.drop_unsure.isChecked()
    dlg.close()
