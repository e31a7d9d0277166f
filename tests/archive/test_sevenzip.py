"""SevenZipReader: real CB7 fixture, generated solid / non-solid / encrypted / damaged / hostile
archives, and decompression bombs (declared and lying sizes)."""

from __future__ import annotations

import os
import shutil
import time
import tracemalloc
from pathlib import Path

import py7zr
import pytest
from helpers import book_entries, comicbox_dir, one_line, tree_digest
from sz_support import (
    encode_7z_number,
    folder_count,
    open_handles_to,
    patch_index,
    utf16,
    write_7z,
)

from comicdesk.archive import open_book, sniff_format
from comicdesk.archive.base import Limits
from comicdesk.archive.sevenzip import SevenZipReader
from comicdesk.core.errors import (
    BookError,
    CorruptArchive,
    NoImages,
    PageError,
    PasswordProtected,
    TooLarge,
)

FIXTURE = comicbox_dir() / "Captain Science #001.cb7"
MB = 1_000_000


# -- the real fixture ---------------------------------------------------------------------------
def test_fixture_cb7_opens_with_five_pages_equal_to_the_jpegs(jpegs):
    with open_book(FIXTURE) as book:
        assert book.format == "7z"
        assert [p.name.rsplit("/", 1)[-1] for p in book.pages] == [n for n, _ in jpegs]
        for i, (_, data) in enumerate(jpegs):
            assert book.page_bytes(i) == data
        assert dict(book.iter_page_bytes()) == {i: d for i, (_, d) in enumerate(jpegs)}
        assert book.comicinfo_bytes().lstrip().startswith(b"<")
        assert book.pages[0].size == len(jpegs[0][1])  # declared size listed


def test_fixture_is_sniffed_by_content():
    assert sniff_format(FIXTURE) == "7z"
    assert SevenZipReader.sniff(FIXTURE, FIXTURE.read_bytes()[:64])
    assert not SevenZipReader.sniff(FIXTURE, b"PK\x03\x04" + bytes(60))


# -- generated archives ---------------------------------------------------------------------------
@pytest.mark.parametrize("solid", [True, False], ids=["solid", "non-solid"])
def test_generated_archive_reads_every_page_in_one_pass(tmp_path, jpegs, solid):
    path = write_7z(tmp_path / "book.cb7", book_entries(jpegs), solid=solid)
    assert folder_count(path) == (1 if solid else 6)
    reader = SevenZipReader(path)
    members = reader.members()
    assert [m.name for m in members] == [n for n, _ in book_entries(jpegs)]
    assert [m.size for m in members] == [len(d) for _, d in book_entries(jpegs)]

    passes = []
    real_pass = reader._pass
    reader._pass = lambda ids: passes.append(list(ids)) or real_pass(ids)
    got = dict((m.name, d) for m, d in reader.read_many(reversed(members)))
    assert len(passes) == 1, "read_many must decompress the archive once"
    assert got == dict(book_entries(jpegs))
    # single reads, out of order, each exact
    for m in reversed(members):
        assert reader.read(m) == dict(book_entries(jpegs))[m.name]
    reader.close()
    reader.close()  # safe twice

    with open_book(path) as book:
        assert [p.name for p in book.pages] == [f"Captain Science 001/{n}" for n, _ in jpegs]
        assert [book.page_bytes(i) for i in range(5)] == [d for _, d in jpegs]


@pytest.mark.parametrize("method", ["COPY", "BZIP2", "DEFLATE", "ZSTD", "PPMD", "BROTLI", "LZMA"])
def test_every_codec_py7zr_writes_reads_back_exactly(tmp_path, jpegs, method):
    # Deflate and Zstandard go through the bounded-input-block path (see the module docstring).
    filters = [{"id": getattr(py7zr, f"FILTER_{method}")}]
    path = write_7z(tmp_path / f"{method}.cb7", book_entries(jpegs), filters=filters)
    reader = SevenZipReader(path)
    got = {m.name: d for m, d in reader.read_many(reader.members())}
    assert got == dict(book_entries(jpegs))
    reader.close()


def test_reading_a_solid_archive_page_after_page_is_not_quadratic(tmp_path, jpegs):
    entries = [(f"p{i:02d}.jpg", jpegs[i % 5][1]) for i in range(16)]
    path = write_7z(tmp_path / "solid.cb7", entries)
    reader = SevenZipReader(path)
    members = reader.members()
    passes = []
    real_pass = reader._pass
    reader._pass = lambda ids: passes.append(list(ids)) or real_pass(ids)
    assert reader.read(members[0]) == entries[0][1]
    assert passes == [[members[0].key]]  # the first page is read alone
    got = [reader.read(m) for m in members[1:]]
    assert got == [d for _, d in entries[1:]]
    # a read that skipped S bytes decodes up to S bytes more: misses at pages 1, 3, 7, 15
    assert len(passes) <= 5, f"{len(passes)} passes for 16 pages read one by one"
    before = len(passes)
    assert reader.read(members[9]) == entries[9][1] and reader.read_head(members[9], 4) == entries[9][1][:4]
    assert len(passes) == before  # a page read again (header, then bytes) is not decoded again
    reader.close()


def test_non_solid_pass_holds_one_decoder_at_a_time(tmp_path, jpegs):
    """py7zr caches a decoder (with its LZMA dictionary) per folder; the reader drops each when its
    folder is done, so memory does not grow with the number of folders."""
    entries = [(f"p{i:02d}.jpg", jpegs[i % 5][1]) for i in range(8)]
    path = write_7z(tmp_path / "many.cb7", entries, solid=False)
    assert folder_count(path) == 8
    reader = SevenZipReader(path)
    members = reader.members()
    tracemalloc.start()
    try:
        got = {m.name: d for m, d in reader.read_many(members)}
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert got == dict(entries)
    assert peak < 40 * MB, f"peak {peak / MB:.0f} MB for 8 pages of 4 KB"
    reader.close()


def test_cbz_named_file_that_is_really_7z_opens_as_7z(tmp_path, jpegs):
    built = write_7z(tmp_path / "x.7z", jpegs)
    path = tmp_path / "Mislabelled.cbz"
    shutil.move(built, path)
    with open_book(path) as book:
        assert book.format == "7z"
        assert book.page_bytes(4) == jpegs[4][1]


def test_non_ascii_names_are_kept(tmp_path, jpegs):
    names = ["第1話/ページ02.jpg", "第1話/ページ10.jpg", "Ünïcødé/página 1.jpg"]
    path = write_7z(tmp_path / "manga.cb7", [(n, jpegs[i][1]) for i, n in enumerate(names)])
    with open_book(path) as book:
        assert sorted(p.name for p in book.pages) == sorted(names)
        # natural order within the folder: 2 before 10
        order = [p.name for p in book.pages if p.name.startswith("第1話")]
        assert order == ["第1話/ページ02.jpg", "第1話/ページ10.jpg"]
        by_name = {p.name: book.page_bytes(p.index) for p in book.pages}
    assert by_name == {n: jpegs[i][1] for i, n in enumerate(names)}


def test_directories_and_symlinks_are_not_members(tmp_path, jpegs):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "page01.jpg").write_bytes(jpegs[0][1])
    os.symlink("/etc/passwd", src / "page00.jpg")
    path = tmp_path / "links.cb7"
    with py7zr.SevenZipFile(path, "w") as arc:
        arc.writeall(src, "book")
    with py7zr.SevenZipFile(path) as arc:  # the archive really holds a link and directories
        kinds = {f.filename: (f.is_symlink, f.is_directory) for f in arc.files}
    assert kinds["book/page00.jpg"] == (True, False) and kinds["book/sub"] == (False, True)
    reader = SevenZipReader(path)
    assert [m.name for m in reader.members()] == ["book/sub/page01.jpg"]
    with open_book(path) as book:
        assert len(book) == 1 and book.page_bytes(0) == jpegs[0][1]


def test_empty_archive_has_no_pages(tmp_path):
    path = tmp_path / "empty.cb7"
    with py7zr.SevenZipFile(path, "w"):
        pass
    assert SevenZipReader(path).members() == []
    with pytest.raises(NoImages, match="empty"):
        open_book(path)


# -- passwords --------------------------------------------------------------------------------------
@pytest.mark.parametrize("header_encryption", [False, True], ids=["encrypted-data", "encrypted-index"])
def test_password_protected(tmp_path, jpegs, header_encryption):
    path = write_7z(tmp_path / "locked.cb7", jpegs, password="secret", header_encryption=header_encryption)
    with pytest.raises(PasswordProtected) as err:
        open_book(path)
    assert one_line(err.value) == "password-protected 7z archive"
    reader = SevenZipReader(path)
    with pytest.raises(PasswordProtected):
        reader.members()
    reader.close()


# -- damage -----------------------------------------------------------------------------------------
def _sources(tmp_path, jpegs):
    return {
        "fixture": FIXTURE.read_bytes(),
        "solid": write_7z(tmp_path / "s.7z", jpegs).read_bytes(),
        "non-solid": write_7z(tmp_path / "n.7z", jpegs, solid=False).read_bytes(),
    }


def test_truncated_copies_are_corrupt_with_one_line(tmp_path, jpegs):
    for label, data in _sources(tmp_path, jpegs).items():
        for cut in (len(data) - 1, len(data) // 2, 100, 31, 6):
            path = tmp_path / f"{label}-{cut}.cb7"
            path.write_bytes(data[:cut])
            with pytest.raises(CorruptArchive) as err:
                open_book(path)
            reason = one_line(err.value)
            assert "7z" in reason and "truncated" in reason, (label, cut, reason)


def test_damaged_data_in_a_non_solid_archive_spoils_only_that_page(tmp_path, jpegs):
    data = bytearray(write_7z(tmp_path / "n.7z", jpegs, solid=False).read_bytes())
    with py7zr.SevenZipFile(tmp_path / "n.7z") as arc:
        packpos = arc.afterheader + arc.header.main_streams.packinfo.packpositions[2]
    for i in range(packpos + 40, packpos + 80):  # inside the third page's stream
        data[i] ^= 0xFF
    path = tmp_path / "damaged.cb7"
    path.write_bytes(bytes(data))
    with open_book(path) as book:
        results = dict(book.iter_page_bytes())
        assert isinstance(results[2], PageError)
        assert "damaged 7z" in one_line(results[2])
        assert [results[i] for i in (0, 1, 3, 4)] == [jpegs[i][1] for i in (0, 1, 3, 4)]
        with pytest.raises(PageError):
            book.page_bytes(2)
        assert book.page_bytes(3) == jpegs[3][1]


def test_damaged_data_in_a_solid_archive_is_a_clear_error(tmp_path, jpegs):
    data = bytearray(write_7z(tmp_path / "s.7z", jpegs).read_bytes())
    for i in range(200, 240):
        data[i] ^= 0xFF
    path = tmp_path / "damaged.cb7"
    path.write_bytes(bytes(data))
    reader = SevenZipReader(path)
    members = reader.members()
    outcomes = [r for _, r in reader.read_many(members)]
    assert len(outcomes) == 5
    errors = [r for r in outcomes if isinstance(r, Exception)]
    assert errors and all(isinstance(e, CorruptArchive) for e in errors)
    for e in errors:
        one_line(e)
    with pytest.raises(CorruptArchive):
        reader.read(members[-1])


# -- hostile names ----------------------------------------------------------------------------------
def test_unsafe_names_are_skipped_with_a_warning_and_nothing_is_written(tmp_path, jpegs, monkeypatch):
    lib = tmp_path / "lib"
    work = lib / "deep" / "work"
    work.mkdir(parents=True)
    built = write_7z(tmp_path / "b.7z", [("xx/evil.jpg", jpegs[0][1]), ("xabs.jpg", jpegs[1][1]),
                                         ("page1.jpg", jpegs[2][1]), ("page2.jpg", jpegs[3][1])],
                     plain_index=True)
    data = patch_index(built.read_bytes(), utf16("xx/evil"), utf16("../evil"))
    data = patch_index(data, utf16("xabs"), utf16("/abs"))
    built.unlink()
    path = lib / "hostile.cb7"
    path.write_bytes(data)
    with py7zr.SevenZipFile(path) as arc:  # the archive really carries the hostile names
        assert {"../evil.jpg", "/abs.jpg"} <= set(arc.getnames())

    monkeypatch.chdir(work)
    before = tree_digest(tmp_path)
    reader = SevenZipReader(path)
    assert [m.name for m in reader.members()] == ["page1.jpg", "page2.jpg"]
    assert len(reader.warnings) == 1 and "unsafe path" in reader.warnings[0]
    with open_book(path) as book:
        assert [book.page_bytes(i) for i in range(len(book))] == [jpegs[2][1], jpegs[3][1]]
        assert any("unsafe path" in w for w in book.warnings)
        dict(book.iter_page_bytes())
    reader.close()
    assert tree_digest(tmp_path) == before
    assert not (lib / "deep" / "evil.jpg").exists() and not Path("/abs.jpg").exists()


# -- bombs --------------------------------------------------------------------------------------------
BOMB_SIZE = 50 * MB
SMALL_PAGE = b"\xff\xd8" + bytes(1000)


@pytest.fixture(scope="module")
def lzma_bomb(tmp_path_factory) -> bytes:
    """An LZMA2 archive with a page and a 50 MB entry of zeros, plain index (so it can be edited)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.cb7"
    write_7z(path, [("page.jpg", SMALL_PAGE), ("bomb.jpg", bytes(BOMB_SIZE))],
             filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}], plain_index=True)
    return path.read_bytes()


def test_declared_bomb_is_refused_quickly_with_bounded_memory(tmp_path, lzma_bomb):
    path = tmp_path / "bomb.cb7"
    path.write_bytes(lzma_bomb)
    reader = SevenZipReader(path, Limits(max_member_bytes=MB))
    bomb = next(m for m in reader.members() if m.name == "bomb.jpg")
    assert bomb.size == BOMB_SIZE
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TooLarge) as err:
            reader.read(bomb)
        results = dict((m.name, r) for m, r in reader.read_many(reader.members()))
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - started < 2.0
    assert peak < 30 * MB  # the page's dictionary, never the 50 MB
    assert "limit" in one_line(err.value)
    assert isinstance(results["bomb.jpg"], TooLarge)
    assert results["page.jpg"].startswith(b"\xff\xd8")  # the rest of the book still reads
    with open_book(path, Limits(max_member_bytes=MB)) as book:
        with pytest.raises(PageError, match="limit"):
            book.page_bytes(0)  # bomb.jpg sorts first


def test_archive_declaring_too_much_in_total_is_refused(tmp_path, lzma_bomb):
    path = tmp_path / "bomb.cb7"
    path.write_bytes(lzma_bomb)
    with pytest.raises(TooLarge) as err:
        SevenZipReader(path, Limits(max_total_bytes=10 * MB)).members()
    assert "safety limit" in one_line(err.value)


@pytest.fixture(scope="module")
def deflate_bomb(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("dbomb") / "bomb.cb7"
    write_7z(path, [("bomb.jpg", bytes(BOMB_SIZE))], filters=[{"id": py7zr.FILTER_DEFLATE}], plain_index=True)
    return path.read_bytes()


@pytest.mark.parametrize("codec", ["lzma2", "deflate"])
def test_data_larger_than_declared_cannot_blow_memory(tmp_path, lzma_bomb, deflate_bomb, codec):
    """The index is edited to declare 1 MB for an entry that really inflates to 50 MB. The read
    must fail (checksum) or be refused, without ever holding the 50 MB."""
    # The folder's unpacked size is what the index stores; the last entry's size is derived from it.
    source, before = (lzma_bomb, len(SMALL_PAGE)) if codec == "lzma2" else (deflate_bomb, 0)
    lying = patch_index(source, encode_7z_number(before + BOMB_SIZE, 3), encode_7z_number(before + MB, 3), 1)
    path = tmp_path / "lying.cb7"
    path.write_bytes(lying)
    reader = SevenZipReader(path, Limits(max_member_bytes=2 * MB))
    bomb = next(m for m in reader.members() if m.name == "bomb.jpg")
    assert bomb.size == MB  # it passes the declared-size check
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises((CorruptArchive, TooLarge)) as err:
            reader.read(bomb)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - started < 2.0
    assert peak < 40 * MB, f"peak {peak / MB:.0f} MB while reading a 1 MB entry"
    one_line(err.value)
    reader.close()


def test_errors_are_book_errors_never_library_exceptions(tmp_path):
    path = tmp_path / "junk.cb7"
    path.write_bytes(b"7z\xbc\xaf\x27\x1c" + os.urandom(200))
    with pytest.raises(BookError) as err:
        open_book(path)
    one_line(err.value)


def test_file_handles_are_closed(tmp_path, jpegs):
    path = write_7z(tmp_path / "book.cb7", jpegs, solid=False)
    reader = SevenZipReader(path)
    reader.read_many(reader.members())  # a generator not even started
    dict(reader.read_many(reader.members()))
    assert open_handles_to(path) == 1
    reader.close()
    assert open_handles_to(path) == 0
    locked = write_7z(tmp_path / "locked.cb7", jpegs, password="pw")
    with pytest.raises(PasswordProtected):
        SevenZipReader(locked).members()  # the failed open closes its handle itself
    assert open_handles_to(locked) == 0
    with open_book(path) as book:
        book.page_bytes(1)
    assert open_handles_to(path) == 0
