"""The contract every container reader fulfils, run over one real sample per format.

Each sample holds the same five public-domain Captain Science #001 pages, so every format must
give the same pages, in the same order, with the same original bytes. A new format adds one entry
to SAMPLES (and its reader one line to ``comicdesk.archive.registry.READERS``).
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from comicdesk.archive import open_book
from comicdesk.archive.registry import detect, sniff_format
from comicdesk.core.errors import BookError, PageError
from helpers import captain_science_pages, comicbox_dir, tree_digest
from samples_pdf_epub import make_epub, make_image_pdf


def _fixture(name):
    return lambda tmp: comicbox_dir() / name


SAMPLES = {
    "zip": _fixture("Captain Science #001.cbz"),
    "rar": _fixture("Captain Science #001-cbi.cbr"),
    "7z": _fixture("Captain Science #001.cb7"),
    "tar": _fixture("Captain Science #001-cix.cbt"),
    "folder": _fixture("Captain Science 001"),
    "pdf": lambda tmp: make_image_pdf(tmp / "captain.pdf", captain_science_pages()) or tmp / "captain.pdf",
    "epub": lambda tmp: make_epub(tmp / "captain.epub", captain_science_pages()) or tmp / "captain.epub",
}


@pytest.fixture(params=sorted(SAMPLES))
def sample(request, tmp_path) -> tuple[str, Path]:
    fmt = request.param
    return fmt, Path(SAMPLES[fmt](tmp_path))


@pytest.fixture(params=sorted(set(SAMPLES) - {"folder"}))
def file_sample(request, tmp_path) -> tuple[str, Path]:
    """The single-file containers (a folder has no extension to lie with and cannot be cut)."""
    fmt = request.param
    return fmt, Path(SAMPLES[fmt](tmp_path))


def test_sniffed_format(sample):
    fmt, path = sample
    assert sniff_format(path) == fmt
    assert detect(path).format == fmt


def test_same_pages_same_order_same_bytes(sample):
    fmt, path = sample
    src = captain_science_pages()
    before = tree_digest(path) if path.is_dir() else path.read_bytes()
    mtime = path.stat().st_mtime_ns
    with open_book(path) as book:
        assert book.format == fmt
        assert len(book) == len(src) == 5
        assert [p.index for p in book.pages] == list(range(5))
        for i, s in enumerate(src):
            assert book.page_bytes(i) == s.read_bytes(), (fmt, i)
        streamed = dict(book.iter_page_bytes())
        assert [streamed[i] for i in range(5)] == [s.read_bytes() for s in src]
        # A subset in any order comes back keyed right.
        assert {i: d for i, d in book.iter_page_bytes([3, 1])} == {3: src[3].read_bytes(), 1: src[1].read_bytes()}
    assert (tree_digest(path) if path.is_dir() else path.read_bytes()) == before
    assert path.stat().st_mtime_ns == mtime


def test_member_names_are_safe_and_pages_are_images(sample):
    _, path = sample
    with open_book(path) as book:
        for page in book.pages:
            assert not page.name.startswith("/") and ".." not in page.name.split("/")
            assert "\\" not in page.name
            assert page.member.rendered is False


def test_header_info_full_image_and_thumbnail(sample):
    _, path = sample
    src = captain_science_pages()
    with open_book(path) as book:
        for i, s in enumerate(src):
            expect = Image.open(s).size
            info = book.page_info(i)
            assert (info.width, info.height) == expect
            assert info.format == "JPEG"
            im = book.image(i)
            assert im.mode == "RGB" and im.size == expect
            thumb = book.thumbnail(i, 64)
            assert max(thumb.size) == 64 and thumb.mode == "RGB"


def test_page_infos_in_one_sweep(sample):
    _, path = sample
    src = captain_science_pages()
    with open_book(path) as book:
        infos = dict(book.page_infos())
    assert sorted(infos) == list(range(5))
    assert [(infos[i].width, infos[i].height) for i in range(5)] == [Image.open(s).size for s in src]


def test_concurrent_reads_give_the_right_bytes(sample):
    _, path = sample
    src = [s.read_bytes() for s in captain_science_pages()]
    errors = []
    with open_book(path) as book:
        def worker(order):
            try:
                for i in order:
                    if book.page_bytes(i) != src[i]:
                        errors.append(f"page {i} differs")
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

        threads = [threading.Thread(target=worker, args=(order,)) for order in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_close_is_idempotent(sample):
    _, path = sample
    book = open_book(path)
    book.close()
    book.close()


def test_misleading_extension_is_ignored(file_sample, tmp_path):
    fmt, path = file_sample
    lie = tmp_path / ("lying.cbr" if fmt == "zip" else "lying.cbz")
    shutil.copyfile(path, lie)
    with open_book(lie) as book:
        assert book.format == fmt and len(book) == 5


#: What a copy cut short must give, per format: "refused" (opening fails with one line saying the
#: archive is damaged or truncated) or "warned" (it opens, says so in ``warnings``, and every page
#: is its original bytes or a one-line PageError). Containers whose index sits at the end (ZIP,
#: EPUB, RAR, 7z) are refused; a TAR keeps the entries before the cut; a PDF is repaired when
#: enough of it is left.
CUT_OUTCOMES = {"zip": {"refused"}, "epub": {"refused"}, "rar": {"refused"}, "7z": {"refused"},
                "tar": {"warned"}, "pdf": {"refused", "warned"}}


def test_truncated_copy_fails_cleanly_and_says_so(file_sample, tmp_path):
    """A damaged container is never taken for a whole one: it is refused with one clear line, or
    opens with a warning, its pages intact or bad, never bytes from nowhere."""
    fmt, path = file_sample
    src = [s.read_bytes() for s in captain_science_pages()]
    data = path.read_bytes()
    for frac in (0.3, 0.6, 0.9, 0.99):
        cut = tmp_path / f"cut{int(frac * 100)}{path.suffix}"
        cut.write_bytes(data[: int(len(data) * frac)])
        try:
            book = open_book(cut)
        except BookError as exc:
            assert "refused" in CUT_OUTCOMES[fmt], f"{fmt} cut at {frac} refused: {exc}"
            assert "\n" not in str(exc) and ("damaged" in str(exc) or "truncated" in str(exc)), str(exc)
            continue
        with book:
            assert "warned" in CUT_OUTCOMES[fmt], f"{fmt} cut at {frac} opened ({book.warnings})"
            assert any(w in " ".join(book.warnings) for w in ("damaged", "truncated", "repaired")), \
                f"{fmt} cut at {frac} opened without saying it is damaged"
            assert 1 <= len(book) <= len(src)
            for i in range(len(book)):
                try:
                    got = book.page_bytes(i)
                except PageError as exc:
                    assert "\n" not in str(exc)
                    continue
                assert got in src, f"{fmt} cut at {frac}: page {i} has bytes from nowhere"


def test_garbage_with_a_comic_extension_is_unsupported(tmp_path):
    for ext in (".cbz", ".cbr", ".cb7", ".cbt", ".pdf", ".epub"):
        p = tmp_path / f"garbage{ext}"
        p.write_bytes(os.urandom(2048))
        with pytest.raises(BookError) as err:
            open_book(p)
        assert "\n" not in str(err.value)


def test_fixture_jpegs_are_what_we_think():
    # Guards the contract's premise: five distinct, decodable JPEG pages.
    datas = [p.read_bytes() for p in captain_science_pages()]
    assert len(set(datas)) == 5
    for d in datas:
        assert Image.open(io.BytesIO(d)).format == "JPEG"
