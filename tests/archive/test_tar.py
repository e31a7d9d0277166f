"""TarReader: the real CBT fixture (tar.xz), plain / gzip / bzip2 / xz / zstd tars built from the
same pages, old v7 tars, truncation, hostile names and entries, and header bombs."""

from __future__ import annotations

import _compression
import gzip
import io
import os
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest
from helpers import book_entries, comicbox_dir, one_line, tree_digest
from sz_support import open_handles_to
from tar_support import (
    COMPRESSIONS,
    build_tar,
    compress,
    gzip_pax_bomb,
    pages_tar,
    regular,
    special,
    to_v7,
)

from comicdesk.archive import open_book, sniff_format
from comicdesk.archive.base import Limits
from comicdesk.archive.registry import read_head
from comicdesk.archive.tar import TarReader, _zstd_module, is_tar_header
from comicdesk.core.errors import BookError, CorruptArchive, PageError, TooLarge, UnsupportedFormat

FIXTURE = comicbox_dir() / "Captain Science #001-cix.cbt"
MB = 1_000_000
KINDS = [k if k != "zst" or _zstd_module() else pytest.param(k, marks=pytest.mark.skip("no zstd module"))
         for k in COMPRESSIONS]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- the real fixture ---------------------------------------------------------------------------
def test_fixture_cbt_opens_with_five_pages_equal_to_the_jpegs(jpegs):
    assert FIXTURE.read_bytes()[:6] == b"\xfd7zXZ\x00"  # it is an xz-compressed tar
    with open_book(FIXTURE) as book:
        assert book.format == "tar"
        assert [p.name.rsplit("/", 1)[-1] for p in book.pages] == [n for n, _ in jpegs]
        assert [book.page_bytes(i) for i in range(5)] == [d for _, d in jpegs]
        assert dict(book.iter_page_bytes()) == {i: d for i, (_, d) in enumerate(jpegs)}
        assert book.comicinfo_bytes().lstrip().startswith(b"<")
        assert book.warnings == []


# -- generated archives ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_plain_and_compressed_tars_read_exactly(tmp_path, jpegs, kind):
    path = write(tmp_path / f"book-{kind}.cbt", pages_tar(book_entries(jpegs), kind))
    assert sniff_format(path) == "tar"
    reader = TarReader(path)
    members = reader.members()
    assert [(m.name, m.size) for m in members] == [(n, len(d)) for n, d in book_entries(jpegs)]
    assert {m.name: d for m, d in reader.read_many(members)} == dict(book_entries(jpegs))
    assert reader.read(members[2]) == jpegs[2][1]
    assert reader.read_head(members[1], 10) == jpegs[1][1][:10]
    reader.close()
    reader.close()
    with open_book(path) as book:
        assert [book.page_bytes(i) for i in range(len(book))] == [d for _, d in jpegs]


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
def test_read_many_on_a_compressed_tar_is_one_forward_pass(tmp_path, jpegs, kind, monkeypatch):
    path = write(tmp_path / f"book.tar.{kind}", pages_tar(book_entries(jpegs), kind))
    reader = TarReader(path)
    members = reader.members()  # the index: one pass, kept
    rewinds = []
    real = _compression.DecompressReader._rewind
    monkeypatch.setattr(_compression.DecompressReader, "_rewind",
                        lambda self: rewinds.append(1) or real(self))
    got = {m.name: d for m, d in reader.read_many(list(reversed(members)))}
    assert got == dict(book_entries(jpegs))
    assert len(rewinds) <= 1, "entries asked in reverse order must still be read in one pass"
    reader.close()


def test_misnamed_tar_opens_as_tar(tmp_path, jpegs):
    path = write(tmp_path / "Really a tar.cbz", pages_tar(jpegs, "gz"))
    with open_book(path) as book:
        assert book.format == "tar" and book.page_bytes(0) == jpegs[0][1]


def test_old_v7_tar_is_detected_by_its_header_checksum(tmp_path, jpegs):
    data = to_v7(pages_tar(jpegs, fmt=tarfile.USTAR_FORMAT))
    assert b"ustar" not in data[:512]
    path = write(tmp_path / "old.cbt", data)
    assert sniff_format(path) == "tar"
    with open_book(path) as book:
        assert [book.page_bytes(i) for i in range(5)] == [d for _, d in jpegs]
    # one flipped byte in that header and the checksum no longer matches: not a tar any more
    broken = bytearray(data)
    broken[10] ^= 0x01
    assert not is_tar_header(bytes(broken[:512]))


def test_a_compressed_file_that_is_not_a_tar_is_not_a_book(tmp_path):
    path = write(tmp_path / "notes.cbt", gzip.compress(os.urandom(600) + b"not a tar" * 200))
    assert not TarReader.sniff(path, read_head(path))
    with pytest.raises(UnsupportedFormat):
        open_book(path)
    assert not TarReader.sniff(path, b"PK\x03\x04" + bytes(600))
    assert not TarReader.sniff(path, bytes(1024))  # end-of-archive zeros alone are not a book


# -- damage -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["plain", "gz", "xz"])
def test_truncated_tar_keeps_the_pages_before_the_cut(tmp_path, jpegs, kind):
    """Documented behaviour: entries whose header was read are listed, a cut-off one is a bad
    page with a one-line reason, and the book carries a warning."""
    data = pages_tar(jpegs, kind)
    path = write(tmp_path / f"cut.{kind}.cbt", data[: len(data) // 2])
    with open_book(path) as book:
        assert 1 <= len(book) < 5
        assert book.page_bytes(0) == jpegs[0][1]
        assert any("truncated" in w for w in book.warnings)
        results = dict(book.iter_page_bytes())
        bad = [r for r in results.values() if isinstance(r, PageError)]
        good = [r for r in results.values() if isinstance(r, bytes)]
        assert len(bad) == 1 and "truncated" in one_line(bad[0])
        assert good == [d for _, d in jpegs[: len(good)]]


@pytest.mark.parametrize("kind", KINDS)
def test_tar_cut_before_its_first_header_is_corrupt(tmp_path, jpegs, kind):
    data = pages_tar(jpegs, kind)
    cut = 300 if kind == "plain" else 40  # a plain tar keeps its ustar magic at 257
    path = write(tmp_path / f"stub.{kind}.cbt", data[:cut])
    with pytest.raises(CorruptArchive) as err:
        open_book(path)
    reason = one_line(err.value)
    assert "TAR" in reason and "truncated" in reason


def test_bzip2_tar_cut_in_its_only_block_is_corrupt(tmp_path, jpegs):
    data = pages_tar(jpegs, "bz2")
    path = write(tmp_path / "cut.cbt", data[: len(data) // 2])
    with pytest.raises(CorruptArchive, match="bzip2-compressed TAR archive: it is truncated"):
        open_book(path)


def test_damaged_gzip_data_is_a_clear_error(tmp_path, jpegs):
    """Damage in the middle of page 2's compressed data: pages before it read intact, page 2
    (whose data runs into the damage) is a bad page, never garbage bytes passed off as the page,
    and the book says where listing had to stop."""
    data = bytearray(pages_tar(jpegs, "gz"))
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A
    path = write(tmp_path / "damaged.cbt", bytes(data))
    with open_book(path) as book:
        results = dict(book.iter_page_bytes())
        assert sorted(results) == [0, 1, 2]
        assert results[0] == jpegs[0][1] and results[1] == jpegs[1][1]
        assert isinstance(results[2], PageError)
        assert "damaged gzip-compressed TAR" in one_line(results[2])
        assert book.warnings == ["the archive is damaged after 3 entries: an entry header is invalid"]


def test_silent_corruption_is_caught_by_the_gzip_checksum(tmp_path, jpegs):
    """Tar has no checksums; a flipped byte inside a page's data (stored deflate, so nothing
    else changes) is only visible to gzip's CRC at the end of the stream: listing reads on to it
    and warns."""
    plain = pages_tar(jpegs)
    data = bytearray(gzip.compress(plain, compresslevel=0))
    assert data[15:15 + 512] == plain[:512]  # 10-byte gzip header + 5-byte stored-block header
    offset = tarfile.open(fileobj=io.BytesIO(plain)).getmembers()[2].offset_data
    data[15 + offset + 100] ^= 0xFF
    path = write(tmp_path / "flipped.cbt", bytes(data))
    with open_book(path) as book:
        assert len(book) == 5
        assert any("compressed data is corrupt" in w for w in book.warnings), book.warnings
        assert book.page_bytes(0) == jpegs[0][1]
        assert book.page_bytes(2) != jpegs[2][1]  # undetectable per page: the warning is all there is


# -- hostile entries ----------------------------------------------------------------------------------
def test_unsafe_names_are_skipped_with_a_warning_and_nothing_is_written(tmp_path, jpegs, monkeypatch):
    lib = tmp_path / "lib"
    work = lib / "deep" / "work"
    work.mkdir(parents=True)
    data = build_tar([regular("../evil.jpg", jpegs[0][1]), regular("/abs.jpg", jpegs[1][1]),
                      regular("../../lib/deep/evil2.jpg", jpegs[1][1]),
                      regular("page1.jpg", jpegs[2][1]), regular("./page2.jpg", jpegs[3][1])])
    path = write(lib / "hostile.cbt", compress(data, "gz"))
    monkeypatch.chdir(work)
    before = tree_digest(tmp_path)
    reader = TarReader(path)
    assert [m.name for m in reader.members()] == ["page1.jpg", "page2.jpg"]
    assert len(reader.warnings) == 1 and "3 entries with an unsafe path" in reader.warnings[0]
    with open_book(path) as book:
        assert [book.page_bytes(i) for i in range(len(book))] == [jpegs[2][1], jpegs[3][1]]
        dict(book.iter_page_bytes())
    reader.close()
    assert tree_digest(tmp_path) == before
    assert not (lib / "deep" / "evil.jpg").exists() and not Path("/abs.jpg").exists()


def test_links_devices_and_directories_are_never_members(tmp_path, jpegs):
    data = build_tar([
        special("book", tarfile.DIRTYPE),
        special("book/page00.jpg", tarfile.SYMTYPE, "/etc/passwd"),
        regular("book/page01.jpg", jpegs[0][1]),
        special("book/page02.jpg", tarfile.LNKTYPE, "book/page01.jpg"),
        special("book/page03.jpg", tarfile.CHRTYPE),
        special("book/page04.jpg", tarfile.FIFOTYPE),
        regular("book/page05.jpg", jpegs[1][1]),
    ])
    for kind in ("plain", "xz"):
        path = write(tmp_path / f"links.{kind}.cbt", compress(data, kind))
        reader = TarReader(path)
        assert [m.name for m in reader.members()] == ["book/page01.jpg", "book/page05.jpg"]
        reader.close()
        with open_book(path) as book:
            assert [book.page_bytes(i) for i in range(len(book))] == [jpegs[0][1], jpegs[1][1]]


def test_names_that_are_not_utf8_are_decoded_sensibly(tmp_path, jpegs):
    def raw(b: bytes) -> str:  # how tarfile hands over a name whose bytes are not UTF-8
        return b.decode("utf-8", "surrogateescape")

    data = build_tar([
        regular(raw("第1話/01.jpg".encode("cp932")), jpegs[0][1]),
        regular(raw("café/02.jpg".encode("cp1252")), jpegs[1][1]),
        regular("ünïcødé/03.jpg", jpegs[2][1]),
    ])
    assert "第1話".encode("cp932") in data and b"caf\xe9/" in data  # really not UTF-8
    path = write(tmp_path / "names.cbt", data)
    reader = TarReader(path)
    assert [m.name for m in reader.members()] == ["第1話/01.jpg", "café/02.jpg", "ünïcødé/03.jpg"]
    assert [d for _, d in reader.read_many(reader.members())] == [d for _, d in jpegs[:3]]
    reader.close()


# -- bombs --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def zeros_tar_gz() -> bytes:
    return compress(build_tar([regular("page.jpg", b"\xff\xd8" + bytes(1000)),
                               regular("bomb.jpg", bytes(50 * MB)),
                               regular("after.jpg", b"\xff\xd8" + bytes(10))]), "gz")


def test_entry_over_the_member_limit_is_refused_quickly(tmp_path, zeros_tar_gz):
    path = write(tmp_path / "bomb.cbt", zeros_tar_gz)
    reader = TarReader(path, Limits(max_member_bytes=MB))
    tracemalloc.start()
    started = time.perf_counter()
    try:
        members = {m.name: m for m in reader.members()}
        with pytest.raises(TooLarge) as err:
            reader.read(members["bomb.jpg"])
        results = {m.name: r for m, r in reader.read_many(members.values())}
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - started < 3.0
    assert peak < 10 * MB
    assert members["bomb.jpg"].size == 50 * MB
    assert "limit" in one_line(err.value)
    assert isinstance(results["bomb.jpg"], TooLarge)
    assert results["page.jpg"].startswith(b"\xff\xd8") and results["after.jpg"].startswith(b"\xff\xd8")
    reader.close()


def test_archive_over_the_total_limit_is_refused_before_decompressing_it(tmp_path, zeros_tar_gz):
    path = write(tmp_path / "bomb.cbt", zeros_tar_gz)
    reader = TarReader(path, Limits(max_total_bytes=10 * MB))
    with pytest.raises(TooLarge) as err:
        reader.members()
    assert "safety limit" in one_line(err.value)
    assert reader._stream.tell() < MB  # refused at the header: the 50 MB were never inflated
    reader.close()


def test_huge_pax_header_in_a_gzip_bomb_is_refused_with_bounded_memory(tmp_path):
    path = write(tmp_path / "paxbomb.cbt", gzip_pax_bomb(200 * MB))
    assert path.stat().st_size < 2 * MB
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(BookError) as err:
            open_book(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert isinstance(err.value, (TooLarge, CorruptArchive))
    one_line(err.value)
    assert peak < 20 * MB
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("kind", ["plain", "gz"])
def test_file_handles_are_closed(tmp_path, jpegs, kind):
    path = write(tmp_path / f"book.{kind}.cbt", pages_tar(jpegs, kind))
    reader = TarReader(path)
    dict(reader.read_many(reader.members()))
    assert open_handles_to(path) == 1
    reader.close()
    assert open_handles_to(path) == 0
    stub = write(tmp_path / f"stub.{kind}.cbt", pages_tar(jpegs, kind)[:300 if kind == "plain" else 40])
    with pytest.raises(CorruptArchive):
        TarReader(stub).members()  # the failed open closes its handle itself
    assert open_handles_to(stub) == 0
    with open_book(path) as book:
        book.page_bytes(1)
    assert open_handles_to(path) == 0
