"""Issue 20 in the app's own data access (``services.session.LibrarySession``): what a damaged
cache or user data file does to a library that is open in the window."""

from __future__ import annotations

import shutil

import pytest
from cache_library import World

from comicdesk.core.settings import Settings
from comicdesk.library.service import locate_library
from comicdesk.library.userdata import USER_FILE, UserDataDamaged
from comicdesk.services.session import LibraryInfo, LibrarySession


def session_for(w: World) -> LibrarySession:
    settings = Settings.resolve(w.cache_root, w.data_root, env={})
    target = locate_library(w.root, settings, register=False)
    return LibrarySession(settings, LibraryInfo(w.root, target.id, "folder", None, None))


@pytest.fixture
def w(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, monkeypatch, capsys, books=5, pages=16)
    world.index()
    return world


def test_similar_in_the_app_says_which_books_it_left_out(w):
    rows = w.book_rows("standard-1", "page_image")
    damaged = sorted(i for i, rs in rows.items() if any(r >= 64 for r in rs))
    healthy = [i for i in range(5) if i not in damaged]
    assert damaged and healthy
    (w.cache / "vectors.zarr" / "standard-1" / "page_image" / "c" / "1" / "0").unlink()
    shutil.rmtree(w.cache / "index")  # the page index is built again, from the damaged store
    s = session_for(w)
    try:
        book_id = s.book_id_for(str(w.books[healthy[0]].resolve()))
        assert book_id is not None
        hits = s.similar(book_id, 1, None, k=100)
        assert hits and min(h.score for h in hits) > 0.5
        assert "left out" in hits.notice and "damaged" in hits.notice
        for i in damaged:
            assert w.books[i].name in hits.notice
        again = s.similar(book_id, 1, None, k=100)  # said with the query that met it, not forever
        assert again.notice == ""
    finally:
        s.close()


def test_a_damaged_user_data_file_lists_the_library_and_refuses_labels(w):
    s = session_for(w)
    try:
        s.data_dir.mkdir(parents=True, exist_ok=True)
        (s.data_dir / USER_FILE).write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
        before = (s.data_dir / USER_FILE).read_bytes()
        books = s.load_books()
        assert len(books) == 5  # the library still lists (it failed with 'Cannot read the catalogue')
        assert s.user_problem and str(s.data_dir / USER_FILE) in s.user_problem
        with pytest.raises(UserDataDamaged):
            s.set_labels(books[0].content_key, [0], "story")
        s.set_position(books[0].content_key, 2)  # reading goes on (kept in memory)
        assert (s.data_dir / USER_FILE).read_bytes() == before  # never written
    finally:
        s.close()
