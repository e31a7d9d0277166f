"""Scanning a folder library: what is a book, formats by magic bytes, names, rescans."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import captain_science_pages, rarfile_dir, tree_digest
from libhelpers import INLINE, image_folder, make_cbz

from comicdesk.library import scanner
from comicdesk.library.catalog import Catalog
from comicdesk.library.service import ScanOptions, scan_library
from comicdesk.library.userdata import UserData


def by_name(result) -> dict:
    return {Path(b.path).name: b for b in result.books}


def catalog_for(settings, result) -> Catalog:
    return Catalog.open(settings.library_cache_dir(result.library_id), readonly=True)


def test_cold_scan_finds_every_format_and_leaves_the_library_untouched(library, settings):
    before = tree_digest(library)
    result = scan_library(library, settings, options=INLINE)
    assert tree_digest(library) == before
    books = by_name(result)
    assert set(books) == {"Captain Science #001 (1950) The Beginning.cbz",
                          "Captain Science #002 (1950) Second Story.cbz", "rar-book.cbr",
                          "sevenzip-book.cb7", "tar-book.cbt", "pdf-book.pdf", "Captain Science 003"}
    formats = {name: b.format for name, b in books.items()}
    assert formats == {"Captain Science #001 (1950) The Beginning.cbz": "zip",
                       "Captain Science #002 (1950) Second Story.cbz": "zip", "rar-book.cbr": "rar",
                       "sevenzip-book.cb7": "7z", "tar-book.cbt": "tar", "pdf-book.pdf": "pdf",
                       "Captain Science 003": "folder"}
    assert all(b.error is None for b in books.values()), [(b.path, b.error) for b in books.values()]
    assert books["Captain Science 003"].pages == 5
    assert books["Captain Science #002 (1950) Second Story.cbz"].pages == 3
    assert all(Path(b.path).is_absolute() for b in result.books)
    assert (result.added, result.changed, result.moved, result.removed, result.unchanged) == (7, 0, 0, 0, 0)
    assert result.failed == 0 and not result.offline
    # Page headers were read: every page has its pixel size.
    with catalog_for(settings, result) as cat:
        row = cat.book_by_path(books["Captain Science #002 (1950) Second Story.cbz"].path)
        pages = cat.pages(row.id)
        assert [p.index for p in pages] == [0, 1, 2]
        assert all(p.width and p.height and not p.bad for p in pages)
        assert pages[0].name == "CaptainScience#1_01.jpg"
        assert all(p.content_hash is None for p in pages)  # not hashed during a scan


def test_names_come_from_comicinfo_then_the_file_name(library, settings):
    books = by_name(scan_library(library, settings, options=INLINE))
    tagged = books["Captain Science #001 (1950) The Beginning.cbz"]  # has ComicInfo.xml
    assert (tagged.title, tagged.series, tagged.number) == ("The Beginning; The End", "Captain Science", "1")
    untagged = books["Captain Science #002 (1950) Second Story.cbz"]
    assert (untagged.title, untagged.series, untagged.number) == ("Second Story", "Captain Science", "002")
    folder = books["Captain Science 003"]
    assert (folder.series, folder.number, folder.title) == ("Captain Science", "003", "Captain Science 003")


def test_noop_rescan_opens_nothing(library, settings, monkeypatch):
    scan_library(library, settings, options=INLINE)

    def no_reading(*a, **k):
        raise AssertionError("a no-op rescan must not open any book")

    monkeypatch.setattr(scanner, "read_book", no_reading)
    monkeypatch.setattr("comicdesk.library.identity.content_key", no_reading)
    result = scan_library(library, settings, options=INLINE)
    assert (result.added, result.changed, result.moved, result.removed, result.unchanged) == (0, 0, 0, 0, 7)
    assert len(result.books) == 7


def test_touched_changed_moved_removed(library, settings):
    first = scan_library(library, settings, options=INLINE)
    key_of = {Path(b.path).name: b.content_key for b in first.books}
    id_of = {Path(b.path).name: b.id for b in first.books}
    one = library / "Captain Science" / "Captain Science #001 (1950) The Beginning.cbz"
    two = library / "Captain Science" / "Captain Science #002 (1950) Second Story.cbz"
    # The person labels a page of the first book (keyed by content key) ...
    with UserData(settings.library_data_dir(first.library_id)) as user:
        user.set_label(key_of[one.name], 0, "cover")

    os.utime(library / "Formats" / "tar-book.cbt", ns=(1, 1_000_000_000))  # touched
    make_cbz(two, captain_science_pages()[:2])  # changed: new content at the same path
    moved_to = library / "Elsewhere" / "renamed.cbz"
    moved_to.parent.mkdir()
    os.rename(one, moved_to)  # moved
    os.unlink(library / "Formats" / "pdf-book.pdf")  # removed

    second = scan_library(library, settings, options=INLINE)
    books = by_name(second)
    assert (second.added, second.changed, second.moved, second.removed) == (0, 1, 1, 1)
    assert second.unchanged == 4  # three untouched + the touched one (same content)
    assert "pdf-book.pdf" not in books
    assert books["renamed.cbz"].id == id_of[one.name]  # the same catalogue row: analysis kept
    assert books["renamed.cbz"].content_key == key_of[one.name]
    assert books["renamed.cbz"].status == "moved"
    assert books["Captain Science #002 (1950) Second Story.cbz"].pages == 2
    assert books["Captain Science #002 (1950) Second Story.cbz"].status == "changed"
    assert books["tar-book.cbt"].status == "unchanged"
    with catalog_for(settings, second) as cat:
        assert len(cat.pages(books["renamed.cbz"].id)) == 5
        assert len(cat.pages(books["Captain Science #002 (1950) Second Story.cbz"].id)) == 2
        assert cat.book_by_path(library / "Formats" / "tar-book.cbt").mtime_ns == 1_000_000_000
    # ... and the label follows the moved book.
    with UserData(settings.library_data_dir(second.library_id), readonly=True) as user:
        assert user.labels(books["renamed.cbz"].content_key) == {0: "cover"}

    third = scan_library(library, settings, options=INLINE)  # and now everything is stable
    assert (third.added, third.changed, third.moved, third.removed, third.unchanged) == (0, 0, 0, 0, 6)


def test_a_move_between_two_partial_scans_keeps_the_book(library, settings):
    first = scan_library(library, settings, options=INLINE)
    old_id = by_name(first)["rar-book.cbr"].id
    os.rename(library / "Formats" / "rar-book.cbr", library / "Loose" / "rar-book.cbr")
    # Scanning only Formats sees the book gone ...
    part = scan_library(library / "Formats", settings, options=INLINE)
    assert part.removed == 1 and part.scope == (library / "Formats").resolve()
    assert all(Path(b.path).parent.name == "Formats" for b in part.books)
    # ... scanning Loose finds it again: a move, same row.
    part = scan_library(library / "Loose", settings, options=INLINE)
    assert part.moved == 1 and part.added == 0
    assert by_name(part)["rar-book.cbr"].id == old_id


def test_removed_book_put_back_keeps_its_row(library, settings):
    first = scan_library(library, settings, options=INLINE)
    book = library / "Formats" / "sevenzip-book.cb7"
    old_id = by_name(first)[book.name].id
    kept = library.parent / "aside.cb7"
    os.rename(book, kept)
    assert scan_library(library, settings, options=INLINE).removed == 1
    os.rename(kept, book)
    again = scan_library(library, settings, options=INLINE)
    assert again.added == 1 and by_name(again)[book.name].id == old_id


def test_two_copies_are_two_books_and_a_copy_is_not_a_move(library, settings):
    src = library / "Captain Science" / "Captain Science #001 (1950) The Beginning.cbz"
    first = scan_library(library, settings, options=INLINE)
    shutil.copyfile(src, library / "copy.cbz")
    second = scan_library(library, settings, options=INLINE)
    assert (second.added, second.moved) == (1, 0)
    books = by_name(second)
    assert books["copy.cbz"].content_key == books[src.name].content_key
    assert books["copy.cbz"].id != books[src.name].id
    # Both copies move at once: each claims one of the two rows.
    ids = {books["copy.cbz"].id, books[src.name].id}
    (library / "Moved").mkdir()
    os.rename(src, library / "Moved" / "a.cbz")
    os.rename(library / "copy.cbz", library / "Moved" / "b.cbz")
    third = scan_library(library, settings, options=INLINE)
    assert (third.moved, third.added, third.removed) == (2, 0, 0)
    assert {by_name(third)["a.cbz"].id, by_name(third)["b.cbz"].id} == ids
    assert len(first.books) == 7


def test_what_is_and_is_not_a_book(tmp_path, settings, monkeypatch):
    root = tmp_path / "lib"
    pages = captain_science_pages()
    # A folder of images next to nothing else: a book (sidecar metadata allowed).
    image_folder(root / "Series" / "Issue 1")
    (root / "Series" / "Issue 1" / "ComicInfo.xml").write_text("<ComicInfo/>")
    # Images next to a sub-folder or a container are not books themselves.
    shutil.copyfile(pages[0], root / "Series" / "folder.jpg")
    make_cbz(root / "Other" / "real.cbz")
    shutil.copyfile(pages[1], root / "Other" / "cover.jpg")
    # A ZIP with an unknown extension is found by its magic bytes; random bytes are not a book.
    make_cbz(root / "Other" / "no-extension")
    (root / "Other" / "notes.dat").write_bytes(b"just some bytes, not a comic" * 10)
    (root / "Other" / "readme.txt").write_bytes(b"PK\x03\x04 looks like a zip but is a .txt")
    # Hidden files and folders, NAS litter and export folders are never scanned.
    make_cbz(root / ".hidden" / "x.cbz")
    make_cbz(root / "@eaDir" / "x.cbz")
    make_cbz(root / "Other" / ".dotfile.cbz")
    make_cbz(root / "Exported" / "clean.cbz")
    (root / "Exported" / ".comicdesk-export").write_text("")
    make_cbz(root / "Exported" / "deeper" / "clean2.cbz")
    # Multi-volume RAR: only the first volume is a book.
    vols = root / "Volumes"
    vols.mkdir()
    for name in ("rar3-vols.part1.rar", "rar3-vols.part2.rar", "rar3-vols.part3.rar",
                 "rar3-old.rar", "rar3-old.r00", "rar3-old.r01"):
        shutil.copyfile(rarfile_dir() / name, vols / name)

    before = tree_digest(root)
    result = scan_library(root, settings, options=INLINE)
    assert tree_digest(root) == before
    rel = sorted(str(Path(b.path).relative_to(root.resolve())) for b in result.books)
    assert rel == ["Other/no-extension", "Other/real.cbz", "Series/Issue 1",
                   "Volumes/rar3-old.rar", "Volumes/rar3-vols.part1.rar"]
    books = {str(Path(b.path).relative_to(root.resolve())): b for b in result.books}
    assert books["Other/no-extension"].format == "zip" and books["Other/no-extension"].error is None
    assert books["Series/Issue 1"].format == "folder" and books["Series/Issue 1"].pages == 5
    # The rarfile volumes hold text files, not pages: a clear error, still one book each.
    assert books["Volumes/rar3-vols.part1.rar"].format == "rar"
    assert books["Volumes/rar3-vols.part1.rar"].error

    # Files found not to be books are remembered: a rescan does not sniff them again.
    sniffed = []
    real_read_book = scanner.read_book
    monkeypatch.setattr(scanner, "read_book", lambda job, *a: sniffed.append(job.cand.path) or real_read_book(job, *a))
    again = scan_library(root, settings, options=INLINE)
    assert sniffed == [] and again.unchanged == 5
    # Naming a folder inside an export folder does not scan it either.
    inside = scan_library(root / "Exported" / "deeper", settings, options=INLINE)
    assert inside.books == [] and "export folder" in inside.warnings[0]


def test_symlink_loops_end_and_linked_folders_count_once(tmp_path, settings):
    root = tmp_path / "lib"
    make_cbz(root / "a" / "book.cbz")
    os.symlink(root, root / "a" / "loop")  # a loop back to the root
    os.symlink(root / "a", root / "alias")  # the same folder twice
    os.symlink(root / "a" / "missing.cbz", root / "dangling.cbz")
    before = tree_digest(root)
    result = scan_library(root, settings, options=INLINE)
    assert tree_digest(root) == before
    assert len(result.books) == 1 and result.books[0].error is None


def test_cache_and_data_dirs_inside_the_library_are_not_scanned(tmp_path):
    from comicdesk.core.settings import Settings

    root = tmp_path / "lib"
    make_cbz(root / "book.cbz")
    inside = Settings.resolve(root / ".." / "lib" / "cachedir", root / "datadir", env={})
    first = scan_library(root, inside, options=INLINE)
    second = scan_library(root, inside, options=INLINE)
    assert [Path(b.path).name for b in second.books] == ["book.cbz"]
    assert second.unchanged == 1 and first.added == 1


def test_scanning_one_book_inside_a_library_uses_that_library(library, settings):
    full = scan_library(library, settings, options=INLINE)
    book = library / "Formats" / "tar-book.cbt"
    one = scan_library(book, settings, options=INLINE)
    assert one.library_id == full.library_id and one.root == library.resolve()
    assert [b.path for b in one.books] == [str(book.resolve())]
    assert one.unchanged == 1 and one.removed == 0
    # The rest of the library is untouched by the one-book scan.
    assert len(scan_library(library, settings, options=INLINE).books) == 7


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_pools_give_the_same_catalogue(library, settings, executor):
    result = scan_library(library, settings, options=ScanOptions(executor=executor, workers=2))
    assert len(result.books) == 7 and result.failed == 0
    assert {b.format for b in result.books} == {"zip", "rar", "7z", "tar", "pdf", "folder"}


def test_a_book_that_kills_its_worker_fails_alone(library, settings, monkeypatch):
    real = scanner.read_book

    def crashing(job, *args):
        if "sevenzip-book" in job.cand.path:
            os._exit(3)  # what a segfault in a C decoder looks like from outside
        return real(job, *args)

    monkeypatch.setattr(scanner, "read_book", crashing)
    options = ScanOptions(executor="process", workers=2, start_method="fork")
    result = scan_library(library, settings, options=options)
    books = by_name(result)
    assert len(books) == 7
    assert books["sevenzip-book.cb7"].error == "the reader crashed on this book (damaged or hostile file?)"
    assert all(b.error is None for name, b in books.items() if name != "sevenzip-book.cb7")
