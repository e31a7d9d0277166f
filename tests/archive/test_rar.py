"""RAR / CBR reader: RAR 1.3-5 listing and content, solid one-pass reading, multi-volume sets as one
book, passwords, hostile entries, truncation and damage, limits, and real CBRs made with ``rars``."""

from __future__ import annotations

import os
import shutil
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from comicdesk.archive import open_book, rar
from comicdesk.archive.base import Limits
from comicdesk.archive.book import natural_key
from comicdesk.archive.rar import RarReader, decode_rar_name
from comicdesk.core.errors import (
    BookError,
    CorruptArchive,
    NoImages,
    PageError,
    PasswordProtected,
    TooLarge,
    UnsupportedFormat,
)
from helpers import captain_science_pages, comicbox_dir, one_line, rarfile_dir, tree_digest
from rar_samples import jpeg_pages, make_cbr, parse_exp, rename_rar4_entry

PASSWORD_DATA = ["rar3-comment-psw.rar", "rar5-psw.rar", "rar5-psw-blake.rar", "rar202-comment-psw.rar"]
PASSWORD_HEADERS = ["rar3-comment-hpsw.rar", "rar5-hpsw.rar"]
CONTINUATIONS = ["rar3-vols.part2.rar", "rar3-vols.part3.rar", "rar5-vols.part2.rar",
                 "rar5-vols.part3.rar", "rar3-old.r00", "rar3-old.r01"]
FIRST_VOLUMES = ["rar3-vols.part1.rar", "rar5-vols.part1.rar", "rar3-old.rar"]
#: RAR 1.5-2.x archives with file comments in their headers (read through an in-memory repair).
LEGACY_COMMENTS = ["rar15-comment.rar", "rar15-comment-lock.rar", "rar202-comment-nopsw.rar"]
SPECIAL = set(PASSWORD_DATA + PASSWORD_HEADERS + CONTINUATIONS) | {"rar5-evil-symlink-traversal.rar"}
READABLE = sorted(p.name for p in rarfile_dir().glob("*.rar") if p.name not in SPECIAL)
CBI = comicbox_dir() / "Captain Science #001-cbi.cbr"
CIX_CBI = comicbox_dir() / "Captain Science #001-cix-cbi.cbr"
FAKE_CBR = comicbox_dir().parent / "comictagger" / "fake_cbr.cbr"
BIGFILE_CRC = 0x509AD74C  # vols/bigfile.txt, 205000 bytes, in every multi-volume fixture


@pytest.fixture(scope="module", autouse=True)
def _fixtures_untouched():
    """Reading never writes: the shared fixture trees are byte-for-byte unchanged afterwards."""
    roots = [rarfile_dir(), comicbox_dir(), FAKE_CBR.parent]
    before = [tree_digest(r) for r in roots]
    yield
    assert [tree_digest(r) for r in roots] == before


class Recorder:
    """Counts UnRAR handles opened (by mode) and entry operations (skip/test) of the reader."""

    def __init__(self, monkeypatch):
        self.opens: list[int] = []
        self.ops: list[int] = []
        recorder = self
        real = rar._Unrar

        class Counting(real):
            def __init__(self, path, mode):
                recorder.opens.append(mode)
                super().__init__(path, mode)

            def process(self, operation, sink=None):
                recorder.ops.append(operation)
                return super().process(operation, sink)

        monkeypatch.setattr(rar, "_Unrar", Counting)

    @property
    def passes(self) -> int:
        return self.opens.count(rar._OM_EXTRACT)

    @property
    def tests(self) -> int:
        return self.ops.count(rar._RAR_TEST)

    @property
    def skips(self) -> int:
        return self.ops.count(rar._RAR_SKIP)

    def reset(self) -> None:
        self.opens.clear()
        self.ops.clear()


def expected_files(name: str) -> dict:
    """Regular files (no links, no dirs) listed by rarfile's .exp dump for a fixture."""
    return {e.name: e for e in parse_exp(rarfile_dir() / f"{name}.exp")
            if e.kind == "F--" and e.redirect is None}


def check_content(got: dict[str, bytes], exp: dict) -> None:
    assert set(got) == set(exp)
    for name, data in got.items():
        assert len(data) == exp[name].size, name
        if exp[name].crc:
            assert zlib.crc32(data) == exp[name].crc, name


# -- sniffing -------------------------------------------------------------------------------------
def test_sniff_is_by_magic_bytes_only(tmp_path):
    assert RarReader.sniff(Path("x.zip"), b"Rar!\x1a\x07\x00\xcf\x90s")  # RAR 1.5-4.x
    assert RarReader.sniff(Path("x.zip"), b"Rar!\x1a\x07\x01\x00\x33\x92")  # RAR5
    assert RarReader.sniff(Path("x.txt"), b"RE~^\x1a\x00")  # RAR 1.3/1.4
    assert not RarReader.sniff(Path("x.cbr"), b"PK\x03\x04" + b"\0" * 40)
    assert not RarReader.sniff(Path("x.cbr"), b"Rar!\x1a\x07\x02\x00")  # unknown future version
    assert not RarReader.sniff(Path("x.cbr"), b"")
    for sfx in rarfile_dir().glob("*.sfx"):  # self-extracting: never sniffed (opened explicitly)
        assert not RarReader.sniff(sfx, sfx.read_bytes()[:4096])


def test_cbz_that_is_really_a_rar_opens_as_rar(tmp_path):
    fake_cbz = tmp_path / "Captain Science 001.cbz"
    shutil.copyfile(CBI, fake_cbz)
    with open_book(fake_cbz) as book:
        assert book.format == "rar"
        assert len(book) == 5
        assert book.page_bytes(4) == captain_science_pages()[4].read_bytes()


# -- every readable fixture: names, sizes and content against rarfile's listing ------------------
def test_fixture_selection_covers_every_rar_generation():
    assert len(READABLE) >= 40
    for needed in ["rar15-comment.rar", "rar2-unix-owner.rar", "rar202-comment-nopsw.rar",
                   "rar3-subdirs.rar", "rar3-solid.rar", "rar5-subdirs.rar", "rar5-solid.rar",
                   "rar5-blake.rar", "unicode.rar", "unicode2.rar"] + FIRST_VOLUMES[:2]:
        assert needed in READABLE


@pytest.mark.parametrize("name", READABLE)
def test_fixture_members_and_content(name):
    path = rarfile_dir() / name
    exp = expected_files(name)
    if name in LEGACY_COMMENTS and not hasattr(os, "memfd_create"):
        with pytest.raises(UnsupportedFormat):
            RarReader(path).members()
        return
    with RarReader(path) as reader:
        members = reader.members()
        assert {m.name: m.size for m in members} == {n: e.size for n, e in exp.items()}
        check_content({m.name: data for m, data in reader.read_many(members)}, exp)
    with RarReader(path) as reader:  # the single-member path, in reverse order
        check_content({m.name: reader.read(m) for m in reversed(reader.members())}, exp)


def test_rar15_file_comments_are_read_without_writing_anything(tmp_path, monkeypatch):
    if not hasattr(os, "memfd_create"):
        pytest.skip("in-memory repair of RAR 1.5 comment headers needs memfd (Linux)")
    monkeypatch.chdir(tmp_path)
    with RarReader(rarfile_dir() / "rar15-comment.rar") as reader:
        data = {m.name: reader.read(m) for m in reader.members()}
        assert reader._unrar_path.startswith("/proc/self/fd/")  # anonymous memory, not a file
        reader.close()  # releases the in-memory copy; the reader can still be used afterwards
        assert reader._memfd is None
        assert [reader.read(m) for m in reader.members()] == list(data.values())
    assert zlib.crc32(data["FILE1.TXT"]) == 0xE27F07A9  # compressed with RAR 1.5's method
    assert zlib.crc32(data["FILE2.TXT"]) == 0x3C4306F7
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["rar13", "rar14", "rar15", "rar20", "rar29", "rar50"])
@pytest.mark.parametrize("store", [True, False])
def test_every_format_generation_round_trips(tmp_path, fmt, store):
    pages = jpeg_pages(3)
    entries = [(f"p{i}.jpg", data) for i, data in enumerate(pages)]
    if fmt not in ("rar13", "rar14"):  # RAR 1.3/1.4 has no folders
        entries.append(("notes/readme.txt", b"hello " * 300))
    path = make_cbr(tmp_path / f"{fmt}.cbr", entries, fmt=fmt, store=store)
    head = path.read_bytes()[:16]
    assert RarReader.sniff(path, head)
    with RarReader(path) as reader:
        got = {m.name: data for m, data in reader.read_many(reader.members())}
    assert got == dict(entries)


# -- solid archives: one pass ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["rar3-solid.rar", "rar5-solid.rar", "rar5-solid-qo.rar"])
def test_solid_fixture_read_many_is_one_pass(name, monkeypatch):
    rec = Recorder(monkeypatch)
    with RarReader(rarfile_dir() / name) as reader:
        members = reader.members()
        assert reader._solid
        rec.reset()
        results = list(reader.read_many(list(reversed(members))))  # any request order
        assert rec.passes == 1 and rec.tests == len(members) and rec.skips == 0
    check_content({m.name: d for m, d in results}, expected_files(name))


def test_solid_reads_in_order_share_one_pass_and_stop_at_the_member(tmp_path, monkeypatch):
    pages = jpeg_pages(12)
    path = make_cbr(tmp_path / "solid.cbr", [(f"{i:02d}.jpg", p) for i, p in enumerate(pages)],
                    solid=True)
    rec = Recorder(monkeypatch)
    with RarReader(path) as reader:
        members = reader.members()
        assert reader._solid and len(members) == 12
        rec.reset()
        assert reader.read(members[3]) == pages[3]
        assert (rec.passes, rec.skips, rec.tests) == (1, 3, 1)  # stopped right after member 3
        for i in range(4, 12):  # later members continue the same pass
            assert reader.read(members[i]) == pages[i]
        assert rec.passes == 1 and rec.tests == 9
        assert reader.read(members[0]) == pages[0]  # going back needs a new pass
        assert rec.passes == 2
        assert reader.read_head(members[5], 10) == pages[5][:10]


def test_many_page_solid_cbr_pages_in_natural_order(tmp_path, monkeypatch):
    pages = jpeg_pages(120)
    names = [f"Book/page{i + 1}.jpg" for i in range(120)]  # page1 .. page120, unpadded
    order = list(range(120))
    order.reverse()  # stored in reverse: the book must still come out page1, page2, ... page120
    entries = [(names[i], pages[i]) for i in order] + [("ComicInfo.xml", b"<ComicInfo/>")]
    path = make_cbr(tmp_path / "many.cbr", entries, solid=True)
    rec = Recorder(monkeypatch)
    with open_book(path) as book:
        assert book.format == "rar"
        assert [p.name for p in book.pages] == names
        rec.reset()
        got = dict(book.iter_page_bytes())
        assert rec.passes == 1
        assert [got[i] for i in range(120)] == pages
        assert book.comicinfo_bytes() == b"<ComicInfo/>"


@pytest.mark.parametrize("fmt,store,solid", [("rar50", True, False), ("rar50", False, False),
                                             ("rar50", False, True), ("rar29", True, False)])
def test_cbr_pages_are_the_source_jpegs(tmp_path, fmt, store, solid):
    src = captain_science_pages()
    entries = [(f"Captain Science/{p.name}", p.read_bytes()) for p in reversed(src)]
    path = make_cbr(tmp_path / "cs.cbr", entries, fmt=fmt, store=store, solid=solid)
    with open_book(path) as book:
        assert [p.name for p in book.pages] == [f"Captain Science/{p.name}" for p in src]
        for i, p in enumerate(src):
            assert book.page_bytes(i) == p.read_bytes()
        assert book.image(0).size[0] > 0


# -- comicbox / comictagger CBRs ------------------------------------------------------------------
@pytest.mark.parametrize("path", [CBI, CIX_CBI], ids=["cbi", "cix-cbi"])
def test_captain_science_cbrs(path):
    src = captain_science_pages()
    with open_book(path) as book:
        assert book.format == "rar"
        assert [p.name for p in book.pages] == [f"Captain Science 001/{p.name}" for p in src]
        assert [data for _, data in book.iter_page_bytes()] == [p.read_bytes() for p in src]
        info = book.comicinfo_bytes()
        if path == CIX_CBI:
            assert info is not None and b"ComicInfo" in info
        else:
            assert info is None


def test_fake_cbr_natural_order_and_junk():
    with open_book(FAKE_CBR) as book:
        names = [p.name for p in book.pages]
    assert names == sorted(names, key=natural_key)
    assert ".ignored.jpg" not in names and "ignored.txt" not in names
    assert names.index("page4.webp") < names.index("page10.jpg")
    assert set(names) == {"!cover.jpg", "00.jpg", "page0.jpg", "Page1.jpeg", "Page2.png",
                          "Page3.gif", "page4.webp", "page10.jpg"}


# -- multi-volume sets ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", FIRST_VOLUMES)
def test_multi_volume_set_is_one_book(name, monkeypatch):
    rec = Recorder(monkeypatch)
    with RarReader(rarfile_dir() / name) as reader:
        members = reader.members()
        assert [(m.name, m.size) for m in members] == [("vols/bigfile.txt", 205000),
                                                       ("vols/smallfile.txt", 2050)]
        rec.reset()
        got = {m.name: d for m, d in reader.read_many(members)}
        assert rec.passes == 1
    assert zlib.crc32(got["vols/bigfile.txt"]) == BIGFILE_CRC  # spans all three volumes
    check_content(got, expected_files(name))
    assert not RarReader.is_continuation(rarfile_dir() / name, (rarfile_dir() / name).read_bytes()[:4096])


@pytest.mark.parametrize("name", CONTINUATIONS)
def test_later_volumes_are_continuations_not_books(name):
    from comicdesk.archive.registry import is_continuation_volume

    path = rarfile_dir() / name
    assert RarReader.is_continuation(path, path.read_bytes()[:4096])
    assert is_continuation_volume(path)
    with pytest.raises(BookError, match="first part") as err:
        open_book(path)
    one_line(err.value)


def test_non_volumes_are_not_continuations():
    from comicdesk.archive.registry import is_continuation_volume

    for path in [rarfile_dir() / n for n in FIRST_VOLUMES + ["rar5-crc.rar", "rar3-solid.rar"]] + [CBI]:
        assert not is_continuation_volume(path), path.name


def test_continuation_from_flags_not_names(tmp_path):
    # Renamed volumes keep their nature: the volume flags decide, not the names.
    part2 = tmp_path / "first.rar"
    shutil.copyfile(rarfile_dir() / "rar5-vols.part2.rar", part2)
    assert RarReader.is_continuation(part2, part2.read_bytes()[:4096])
    part1 = tmp_path / "book.part7.rar"
    shutil.copyfile(rarfile_dir() / "rar3-vols.part1.rar", part1)
    assert not RarReader.is_continuation(part1, part1.read_bytes()[:4096])


@pytest.mark.parametrize("fmt,first,later", [("rar50", "set.part01.rar", ["set.part02.rar", "set.part03.rar"]),
                                             ("rar29", "set.rar", ["set.r00", "set.r01"])])
def test_generated_volume_sets(tmp_path, fmt, first, later):
    import rars

    big = b"".join(jpeg_pages(40, size=64))  # one member split over three volumes
    builder = rars.RarBuilder(format=fmt, store=True, volume_size=len(big) // 3 + 1000)
    builder.add_bytes(big, "page1.jpg")
    written = builder.write_volumes(str(tmp_path / first))
    assert sorted(Path(p).name for p in written) == sorted([first] + later)
    with open_book(tmp_path / first) as book:
        assert book.page_bytes(0) == big
    for name in later:
        path = tmp_path / name
        assert RarReader.is_continuation(path, path.read_bytes()[:4096])
    assert not RarReader.is_continuation(tmp_path / first, (tmp_path / first).read_bytes()[:4096])


def test_missing_volume_is_a_clear_error(tmp_path):
    shutil.copyfile(rarfile_dir() / "rar5-vols.part1.rar", tmp_path / "set.part1.rar")
    with pytest.raises(CorruptArchive, match="incomplete multi-volume") as err:
        open_book(tmp_path / "set.part1.rar")
    assert "set.part2.rar" in one_line(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.part1.rar"]


# -- passwords --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PASSWORD_DATA + PASSWORD_HEADERS)
def test_password_protected_fixtures(name):
    with pytest.raises(PasswordProtected) as err:
        open_book(rarfile_dir() / name)
    assert one_line(err.value) == "password-protected RAR archive"
    with pytest.raises(PasswordProtected):
        RarReader(rarfile_dir() / name).members()


@pytest.mark.parametrize("fmt,headers", [("rar50", False), ("rar50", True), ("rar29", False)])
def test_password_protected_cbr(tmp_path, fmt, headers):
    path = make_cbr(tmp_path / "locked.cbz", [("p1.jpg", jpeg_pages(1)[0])], fmt=fmt,
                    password="secret", encrypt_headers=headers)
    with pytest.raises(PasswordProtected, match="password-protected RAR archive"):
        open_book(path)


# -- hostile and odd entries ------------------------------------------------------------------------
def test_evil_symlink_traversal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = rarfile_dir() / "rar5-evil-symlink-traversal.rar"
    outside = [tree_digest(rarfile_dir().parent), sorted(os.listdir(tmp_path))]
    with RarReader(path) as reader:
        assert reader.members() == []  # neither the symlink "up" nor "up/pwned.txt" under it
        assert any("symbolic link" in w and "up/pwned.txt" in w for w in reader.warnings)
    with pytest.raises(NoImages):
        open_book(path)
    assert [tree_digest(rarfile_dir().parent), sorted(os.listdir(tmp_path))] == outside


def test_links_are_never_members_nor_followed(tmp_path):
    import rars

    page = jpeg_pages(1)[0]
    builder = rars.RarBuilder(format="rar50")
    builder.add_unix_symlink("cover.jpg", "/etc/passwd")
    builder.add_unix_symlink("up", "..", target_is_directory=True)
    builder.add_bytes(b"not a page", "up/page0.jpg")
    builder.add_directory("empty")
    builder.add_bytes(page, "page1.jpg")
    builder.write(str(tmp_path / "links.cbr"))
    with open_book(tmp_path / "links.cbr") as book:
        assert [p.name for p in book.pages] == ["page1.jpg"]
        assert book.page_bytes(0) == page
        assert any("link" in w for w in book.warnings)
    for name, kept in [("rar5-hlink.rar", ["stest1.txt"]), ("rar5-dups.rar", ["stest1.txt"]),
                       ("rar3-symlink-unix.rar", ["data.txt"]), ("rar5-symlink-win.rar", ["content/file.txt"])]:
        with RarReader(rarfile_dir() / name) as reader:
            assert [m.name for m in reader.members()] == kept, name


def test_directories_are_never_members():
    with RarReader(rarfile_dir() / "rar3-subdirs.rar") as reader:
        names = [m.name for m in reader.members()]
    assert "sub" not in names and "sub/dir1" not in names and "sub/empty" not in names
    assert "sub/dir1/file1.txt" in names


def test_unsafe_entry_names_are_skipped_with_a_warning(tmp_path):
    import rars

    builder = rars.RarBuilder(format="rar29", store=True)
    for name, data in [("xx/evil.jpg", b"1"), ("zabs/e.jpg", b"2"), ("q/x/y/e.jpg", b"3"), ("ok.jpg", b"4")]:
        builder.add_bytes(data, name)
    data = builder.to_bytes()
    data = rename_rar4_entry(data, "xx/evil.jpg", "../evil.jpg")
    data = rename_rar4_entry(data, "zabs/e.jpg", "/abs/e.jpg")
    data = rename_rar4_entry(data, "q/x/y/e.jpg", "q\\..\\..\\ejp")
    (tmp_path / "unsafe.cbr").write_bytes(data)
    with RarReader(tmp_path / "unsafe.cbr") as reader:
        members = reader.members()
        assert [m.name for m in members] == ["ok.jpg"]
        assert reader.read(members[0]) == b"4"
        assert reader.warnings == ["skipped 3 entries with an unsafe path (../evil.jpg)"]


def test_unicode_names():
    with RarReader(rarfile_dir() / "unicode.rar") as reader:
        assert [m.name for m in reader.members()] == ["уииоотивл.txt", "𝐀𝐁𝐁𝐂.txt"]
    with RarReader(rarfile_dir() / "unicode2.rar") as reader:  # RAR3 UTF-16 names with surrogates
        members = reader.members()
        assert [m.name for m in members] == ["𝐀𝐁𝐁𝐂.txt", "уииоотивл.txt"]
        assert [reader.read(m) for m in members] == [b"1\n", b"1\n"]
    with RarReader(rarfile_dir() / "rar5-subdirs.rar") as reader:
        assert "sub/üȵĩöḋè/file.txt" in [m.name for m in reader.members()]


def test_non_utf8_entry_names(tmp_path):
    import rars

    builder = rars.RarBuilder(format="rar29", store=True)
    entries = [("第01話/p1.jpg".encode("cp932"), b"sjis"), (b"caf\x82.jpg", b"dos"),
               ("été.jpg".encode("utf-8"), b"utf8")]
    for raw, data in entries:
        builder.add_bytes(data, raw)
    (tmp_path / "legacy.cbr").write_bytes(builder.to_bytes())
    with RarReader(tmp_path / "legacy.cbr") as reader:
        got = {m.name: reader.read(m) for m in reader.members()}
    assert got == {"第01話/p1.jpg": b"sjis", "café.jpg": b"dos", "été.jpg": b"utf8"}


def test_decode_rar_name():
    mapped = "caf\ufffe\ue0e9.txt"  # UnRAR's mapping of the undecodable byte 0xE9
    assert decode_rar_name(mapped, host_os=3) == "café.txt"  # Unix: cp1252
    assert decode_rar_name(mapped, host_os=0) == "cafΘ.txt"  # DOS: cp437
    assert decode_rar_name("\ud835\udc00.txt") == "𝐀.txt"
    assert decode_rar_name("plain/ü.jpg") == "plain/ü.jpg"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs byte file names")
def test_archive_path_that_is_not_utf8(tmp_path):
    path = tmp_path / os.fsdecode(b"caf\xe9 #1.cbr")
    shutil.copyfile(CBI, path)
    with open_book(path) as book:
        assert book.page_bytes(0) == captain_science_pages()[0].read_bytes()


# -- damage -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.999])
def test_truncated_cbr_is_corrupt(tmp_path, keep):
    data = CBI.read_bytes()
    path = tmp_path / "cut.cbr"
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CorruptArchive, match="truncated") as err:
        open_book(path)
    one_line(err.value)


def test_rar5_without_its_end_block_is_truncated(tmp_path):
    data = CBI.read_bytes()
    assert data.endswith(bytes.fromhex("1d77565103050400"))  # the RAR5 end-of-archive block
    (tmp_path / "cut.cbr").write_bytes(data[:-8])  # every page intact, only the end block gone
    with pytest.raises(CorruptArchive, match="truncated"):
        open_book(tmp_path / "cut.cbr")


def test_truncated_later_volume_is_corrupt(tmp_path):
    for part in (1, 2, 3):
        shutil.copyfile(rarfile_dir() / f"rar5-vols.part{part}.rar", tmp_path / f"set.part{part}.rar")
    part2 = tmp_path / "set.part2.rar"
    part2.write_bytes(part2.read_bytes()[:60_000])
    with pytest.raises(CorruptArchive) as err:
        open_book(tmp_path / "set.part1.rar")
    assert "set.part2.rar" in one_line(err.value)


def test_truncated_rar4_cbr_is_corrupt(tmp_path):
    pages = jpeg_pages(3, size=64)
    full = make_cbr(tmp_path / "full.cbr", [(f"p{i}.jpg", p) for i, p in enumerate(pages)],
                    fmt="rar29", store=True).read_bytes()
    cut = full.find(pages[1]) + len(pages[1]) // 2  # in the middle of page 2's data
    (tmp_path / "cut.cbr").write_bytes(full[:cut])
    with pytest.raises(CorruptArchive, match="truncated"):
        open_book(tmp_path / "cut.cbr")


def test_damaged_page_fails_alone(tmp_path):
    pages = jpeg_pages(3, size=64)
    data = bytearray(make_cbr(tmp_path / "ok.cbr", [(f"p{i}.jpg", p) for i, p in enumerate(pages)],
                              store=True).read_bytes())
    at = bytes(data).find(pages[1]) + 100
    data[at] ^= 0xFF
    (tmp_path / "bad.cbr").write_bytes(bytes(data))
    with RarReader(tmp_path / "bad.cbr") as reader:
        members = reader.members()
        results = dict(reader.read_many(members))
        assert results[members[0]] == pages[0] and results[members[2]] == pages[2]
        assert isinstance(results[members[1]], CorruptArchive)
        assert "checksum" in one_line(results[members[1]])
        with pytest.raises(CorruptArchive, match="checksum"):
            reader.read(members[1])
        assert reader.read(members[2]) == pages[2]  # the reader stays usable
    with open_book(tmp_path / "bad.cbr") as book:
        with pytest.raises(PageError, match="checksum"):
            book.page_bytes(1)
        assert book.page_bytes(0) == pages[0]


def test_garbage_after_signature_is_corrupt(tmp_path):
    path = tmp_path / "junk.cbr"
    path.write_bytes(b"Rar!\x1a\x07\x01\x00" + os.urandom(2000))
    with pytest.raises(CorruptArchive) as err:
        open_book(path)
    one_line(err.value)


def test_archive_replaced_while_open(tmp_path):
    path = tmp_path / "book.cbr"
    make_cbr(path, [("a.jpg", b"A"), ("b.jpg", b"B")], store=True)
    with RarReader(path) as reader:
        members = reader.members()
        make_cbr(path, [("x.jpg", b"X"), ("y.jpg", b"Y")], store=True)
        with pytest.raises(CorruptArchive, match="changed"):
            reader.read(members[1])


# -- limits -------------------------------------------------------------------------------------------
def test_declared_size_limit():
    with RarReader(CBI, Limits(max_member_bytes=4096)) as reader:
        members = reader.members()
        with pytest.raises(TooLarge):
            reader.read(members[0])  # 4542 bytes declared
        results = dict(reader.read_many(members))
    assert isinstance(results[members[0]], TooLarge)
    assert results[members[1]] == captain_science_pages()[1].read_bytes()  # 4065 bytes: fine


def test_real_size_limit_stops_decoding(tmp_path, monkeypatch):
    pages = jpeg_pages(4, size=64)
    path = make_cbr(tmp_path / "solid.cbr", [(f"p{i}.jpg", p) for i, p in enumerate(pages)], solid=True)
    limit = len(pages[1]) - 1
    with RarReader(path, Limits(max_member_bytes=limit)) as reader:
        members = reader.members()
        monkeypatch.setattr(reader, "check_size", lambda member: None)  # a lying declared size
        with pytest.raises(TooLarge, match="larger than"):
            reader.read(members[1])
        results = dict(reader.read_many(members))
    assert isinstance(results[members[1]], TooLarge)
    for i in (0, 2, 3):
        got = results[members[i]]
        assert got == pages[i] if len(pages[i]) <= limit else isinstance(got, TooLarge)


def test_total_size_and_count_limits():
    with pytest.raises(TooLarge, match="GiB"):
        RarReader(CBI, Limits(max_total_bytes=10_000)).members()
    with pytest.raises(TooLarge, match="entries"):
        RarReader(CBI, Limits(max_members=3)).members()


# -- reading details ------------------------------------------------------------------------------------
def test_read_head(monkeypatch):
    src = [p.read_bytes() for p in captain_science_pages()]
    rec = Recorder(monkeypatch)
    with RarReader(CBI) as reader:
        members = reader.members()
        rec.reset()
        assert reader.read_head(members[2], 64) == src[2][:64]
        assert rec.tests == 1 and rec.skips == 2
        assert reader.read(members[2]) == src[2]  # going back: a new pass
        rec.reset()
        assert [reader.read_head(m, 100) for m in members] == [s[:100] for s in src]
        assert rec.passes == 1  # heads of all pages in order: one pass
        assert reader.read_head(members[0], 10**9) == src[0]


def test_sfx_archives_open_when_chosen_explicitly():
    for sfx, exp in [("rar5-crc.sfx", "rar5-crc.rar"), ("rar3-seektest.sfx", "seektest.rar")]:
        with RarReader(rarfile_dir() / sfx) as reader:
            check_content({m.name: d for m, d in reader.read_many(reader.members())}, expected_files(exp))


def test_concurrent_reads_share_one_reader(tmp_path):
    pages = jpeg_pages(20)
    path = make_cbr(tmp_path / "solid.cbr", [(f"{i:02d}.jpg", p) for i, p in enumerate(pages)], solid=True)
    with RarReader(path) as reader:
        members = reader.members()
        order = [(i * 7) % 20 for i in range(60)]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda i: reader.read(members[i]), order))
    assert got == [pages[i] for i in order]


def test_close_is_idempotent_and_releases_the_file():
    reader = RarReader(CBI)
    members = reader.members()
    assert reader.read(members[0])
    assert reader._cursor is not None
    reader.close()
    reader.close()
    assert reader._cursor is None
