"""Helpers for the app's tests."""

from __future__ import annotations

import zipfile
from pathlib import Path

COMICINFO = """<?xml version="1.0" encoding="utf-8"?>
<ComicInfo>{fields}</ComicInfo>
"""

WAIT_MS = 20_000


def make_book(dest: Path, pages: list[Path], *, series=None, number=None, title=None, writer=None,
              manga: bool = False, page_types: list[str | None] | None = None) -> Path:
    """A CBZ of these page images; ``page_types``: ComicInfo ``<Page Type>`` per page (None: no
    Page element), which the catalogue reads as the page's class (source ``comicinfo``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fields = ""
    for tag, value in (("Title", title), ("Series", series), ("Number", number), ("Writer", writer)):
        if value:
            fields += f"<{tag}>{value}</{tag}>"
    if manga:
        fields += "<Manga>YesAndRightToLeft</Manga>"
    if page_types:
        fields += "<Pages>" + "".join(f'<Page Image="{i}" Type="{t}"/>' for i, t in enumerate(page_types)
                                      if t) + "</Pages>"
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for i, page in enumerate(pages):
            zf.write(page, f"{i + 1:03d}{page.suffix}")
        if fields:
            zf.writestr("ComicInfo.xml", COMICINFO.format(fields=fields))
    return dest


def new_window(qtbot, settings, prefs=None):
    from comicdesk.qt.main_window import MainWindow
    from comicdesk.qt.prefs import Prefs, load_prefs

    if prefs is None:  # background analysis only where a test asks for it
        prefs = load_prefs(settings.data_root) if settings.data_root.exists() else Prefs(analyse=False)
    win = MainWindow(settings, prefs)
    qtbot.addWidget(win)
    win.resize(1100, 800)
    win.show()
    qtbot.waitExposed(win)
    return win


def open_and_wait(qtbot, win, path) -> None:
    """Open a path and wait until its first screen is complete (scan done, covers in)."""
    with qtbot.waitSignal(win.first_screen_ready, timeout=WAIT_MS):
        win.open_path(path)


def wait_reader(qtbot, win) -> None:
    qtbot.waitUntil(lambda: win.reader.count > 0 and all(win.reader.has_image(i) for i in win.reader.shown()),
                    timeout=WAIT_MS)


def titles(model) -> list[str]:
    return [model.item(r).title for r in range(model.rowCount())]


def write_analysis(settings, library_root: Path, books: list[Path], *, dim: int = 16, seed: int = 3):
    """Panels (3 per page, in reading order) and panel vectors for ``books``, written straight
    into the library's cache as the pipeline would (the real models are tested elsewhere). Book 1
    page 2 panel 1 is a near copy of book 0 page 0 panel 0. Returns ``(cache dir, book ids)``."""
    import numpy as np

    from comicdesk.cache.vectors import VectorStore
    from comicdesk.library.service import locate_library

    cache = settings.library_cache_dir(locate_library(library_root, settings, register=False).id)
    store = VectorStore.open(cache, durable=False)
    cat = store.catalog
    ids = [cat.book_by_path(b).id for b in books]
    with cat.transaction():
        for book_id in ids:
            sizes = {p.index: (p.width or 100, p.height or 150) for p in cat.pages(book_id)}
            cat.replace_panels(book_id, {pg: [(0, 0, w // 2, h // 2), (w // 2, 0, w - w // 2, h // 2),
                                              (0, h // 2, w, h - h // 2)] for pg, (w, h) in sizes.items()})
    rng = np.random.default_rng(seed)
    keys = [(b, pg, n) for b in ids for pg in sorted(p.index for p in cat.pages(b)) for n in range(3)]
    vecs = rng.standard_normal((len(keys), dim)).astype(np.float32)
    if len(ids) > 1:
        vecs[keys.index((ids[1], 2, 1))] = vecs[keys.index((ids[0], 0, 0))] + 0.01
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.ensure_array("standard-1", "panel_emb", dim, normalised=True)
    store.append("standard-1", "panel_emb", vecs, keys)
    store.close()
    return cache, ids
