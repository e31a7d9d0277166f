"""ZIP/CBZ reader and the Book built on it: order, junk, safety, damage."""

from __future__ import annotations

import io
import resource
import time
import zipfile

import pytest
from PIL import Image

from comicdesk.archive.base import Limits
from comicdesk.archive.book import Book, is_junk, natural_key
from comicdesk.archive.zip import ZipReader
from comicdesk.core.errors import CorruptArchive, NoImages, PageError, PasswordProtected, TooLarge
from helpers import captain_science_pages, comicbox_dir, tree_digest
from zip_samples import RawNameInfo, make_cbz, set_declared_size, set_encrypted_flag


def jpeg(color=(200, 30, 30), size=(40, 60)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def zbook(path, limits=Limits()) -> Book:
    return Book(ZipReader(path, limits))


def test_captain_science_cbz_pages_in_order_with_original_bytes():
    src = captain_science_pages()
    before = tree_digest(comicbox_dir())
    with zbook(comicbox_dir() / "Captain Science #001.cbz") as book:
        assert book.format == "zip"
        assert [p.name.rsplit("/", 1)[-1] for p in book.pages] == [p.name for p in src]
        for i, p in enumerate(src):
            assert book.page_bytes(i) == p.read_bytes()
            assert book.pages[i].size == p.stat().st_size
        assert book.comicinfo_member.name == "comicinfo.xml"  # the root one wins over the nested one
        assert book.page_info(0).width == 114 and book.page_info(0).height == 160
        info2 = book.page_info(2)
        assert book.image(2).size == (info2.width, info2.height)
        assert max(book.thumbnail(1, 64).size) == 64
    assert tree_digest(comicbox_dir()) == before


def test_natural_order_and_nested_folders(tmp_path):
    names = ["p10.jpg", "p2.jpg", "P1.jpg", "extra/b/1.jpg", "extra/a/2.jpg", "p02b.jpg"]
    make_cbz(tmp_path / "b.cbz", {n: jpeg() for n in names})
    with zbook(tmp_path / "b.cbz") as book:
        assert [p.name for p in book.pages] == [
            "extra/a/2.jpg", "extra/b/1.jpg", "P1.jpg", "p2.jpg", "p02b.jpg", "p10.jpg"]
        assert [p.index for p in book.pages] == list(range(6))


def test_junk_is_dropped():
    assert is_junk("__MACOSX/._a.jpg") and is_junk("x/.DS_Store") and is_junk("Thumbs.db")
    assert is_junk("._page1.jpg") and not is_junk("page1.jpg")
    with zbook(comicbox_dir() / "macos_resource_fork.cbz") as book:
        assert [p.name for p in book.pages] == ["CaptainScience#1_01.jpg", "CaptainScience#1_02.jpg"]


def test_non_images_are_not_pages(tmp_path):
    make_cbz(tmp_path / "b.cbz", {"a.jpg": jpeg(), "notes.txt": b"hi", "b.png": jpeg(), "c.nfo": b"x"},
             comicinfo=b"<ComicInfo/>")
    with zbook(tmp_path / "b.cbz") as book:
        assert [p.name for p in book.pages] == ["a.jpg", "b.png"]


def test_empty_archive_and_no_images():
    with pytest.raises(NoImages, match="empty"):
        zbook(comicbox_dir() / "empty.cbz")
    with pytest.raises(NoImages, match="no page images"):
        zbook(comicbox_dir() / "Captain Science #001-metron.cbz")


def test_truncated_zip_is_corrupt_with_one_line(tmp_path):
    data = (comicbox_dir() / "Captain Science #001.cbz").read_bytes()
    (tmp_path / "t.cbz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptArchive) as err:
        zbook(tmp_path / "t.cbz")
    assert "\n" not in str(err.value) and "damaged ZIP" in str(err.value)


def test_corrupt_entry_is_a_bad_page_and_the_book_still_opens(tmp_path):
    pages = {f"{i}.jpg": jpeg((i * 40, 0, 0), (200, 200)) for i in range(3)}
    path = make_cbz(tmp_path / "c.cbz", pages, compression=zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("1.jpg")
    start = info.header_offset + 30 + len(info.filename) + 10
    for k in range(start, start + 40):
        raw[k] ^= 0xFF
    path.write_bytes(bytes(raw))
    with zbook(path) as book:
        assert len(book) == 3
        assert book.page_bytes(0) == pages["0.jpg"] and book.page_bytes(2) == pages["2.jpg"]
        with pytest.raises(PageError):
            book.page_bytes(1)
        results = dict(book.iter_page_bytes())
        assert isinstance(results[1], PageError) and results[2] == pages["2.jpg"]


def test_traversal_and_absolute_names_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "evil.cbz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("good.jpg", jpeg())
        zf.writestr(zipfile.ZipInfo("../../evil.jpg"), jpeg())
        zf.writestr(zipfile.ZipInfo("/etc/abs.jpg"), jpeg())
        zf.writestr(zipfile.ZipInfo("..\\win.jpg"), jpeg())
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    with zbook(path) as book:
        assert [p.name for p in book.pages] == ["good.jpg"]
        assert any("unsafe path" in w for w in book.warnings)
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before


def test_password_protected_zip(tmp_path):
    path = make_cbz(tmp_path / "p.cbz", {"a.jpg": jpeg()})
    set_encrypted_flag(path)
    with pytest.raises(PasswordProtected) as err:
        zbook(path)
    assert str(err.value) == "password-protected ZIP archive"


def test_declared_zip_bomb_is_refused_fast_with_bounded_memory(tmp_path):
    path = make_cbz(tmp_path / "bomb.cbz", {"a.jpg": jpeg(), "b.jpg": b"\0" * 5_000_000},
                    compression=zipfile.ZIP_DEFLATED)
    limits = Limits(max_member_bytes=1_000_000)
    with zbook(path, limits) as book:
        assert book.page_bytes(0)
        t0 = time.perf_counter()
        with pytest.raises(PageError, match="limit"):
            book.page_bytes(1)
        assert time.perf_counter() - t0 < 0.5


def test_lying_zip_bomb_real_size_larger_than_declared(tmp_path):
    path = tmp_path / "liar.cbz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.jpg", jpeg())
        with zf.open("b.jpg", "w") as fh:
            for _ in range(40):
                fh.write(bytes(1 << 20))  # 40 MiB of zeros, written without holding them
    set_declared_size(path, b"b.jpg", 1000)  # claims 1 KB, inflates to 40 MiB
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with zbook(path) as book:
        with pytest.raises(PageError):
            book.page_bytes(1)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    assert grown_kib < 20_000  # never held the 40 MiB


def test_total_declared_size_limit(tmp_path):
    path = make_cbz(tmp_path / "many.cbz", {f"{i}.jpg": jpeg() for i in range(3)})
    with pytest.raises(TooLarge):
        zbook(path, Limits(max_total_bytes=100))


def test_non_utf8_names_are_decoded(tmp_path):
    path = tmp_path / "sjis.cbz"
    with zipfile.ZipFile(path, "w") as zf:
        for i, text in enumerate(["第1話", "第2話"]):
            info = RawNameInfo(f"placeholder{i}.jpg")
            info.raw_name = f"{text}/{i + 1:02d}.jpg".encode("cp932")
            zf.writestr(info, jpeg())
    with zbook(path) as book:
        assert [p.name for p in book.pages] == ["第1話/01.jpg", "第2話/02.jpg"]
        assert book.page_bytes(1)


def test_natural_key_is_total():
    assert natural_key("a2") < natural_key("a10") < natural_key("b1")
    assert natural_key("A1.jpg") != natural_key("a1.jpg")
