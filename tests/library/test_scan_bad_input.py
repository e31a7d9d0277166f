"""Bad input inside a library: the scan goes on, each problem is one clear line on its book;
offline roots never purge the catalogue; the library is never modified."""

from __future__ import annotations

import builtins
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from helpers import captain_science_pages, rarfile_dir, tree_digest
from libhelpers import CS, INLINE, copy_book, make_cbz

from comicdesk.library.catalog import Catalog
from comicdesk.library.service import scan_library


def by_name(result) -> dict:
    return {Path(b.path).name: b for b in result.books}


def encrypted_zip(dest: Path) -> Path:
    """A ZIP whose entries say they are encrypted (flag bit 0), as a password-protected CBZ does."""
    make_cbz(dest)
    data = bytearray(dest.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        while pos != -1:
            data[pos + flag_at] |= 0x01
            pos = data.find(sig, pos + 4)
    dest.write_bytes(bytes(data))
    return dest


@pytest.fixture
def bad_library(tmp_path) -> Path:
    root = tmp_path / "lib"
    make_cbz(root / "good.cbz")
    good = (root / "good.cbz").read_bytes()
    (root / "truncated.cbz").write_bytes(good[: len(good) // 2])
    (root / "zero.cbz").write_bytes(b"")
    encrypted_zip(root / "password.cbz")
    with zipfile.ZipFile(root / "no-images.cbz", "w") as zf:
        zf.writestr("readme.txt", "no pages here")
    copy_book(f"{CS}.cbz", root / "really-a-zip.cbr")
    (root / "garbage.cbz").write_bytes(b"\x00\x01 this is no archive at all" * 50)
    shutil.copyfile(rarfile_dir() / "rar5-hpsw.rar", root / "headers-encrypted.cbr")
    return root


def test_every_broken_book_is_reported_and_the_scan_goes_on(bad_library, settings):
    before = tree_digest(bad_library)
    result = scan_library(bad_library, settings, options=INLINE)
    assert tree_digest(bad_library) == before
    books = by_name(result)
    assert set(books) == {"good.cbz", "truncated.cbz", "zero.cbz", "password.cbz", "no-images.cbz",
                          "really-a-zip.cbr", "garbage.cbz", "headers-encrypted.cbr"}
    assert books["good.cbz"].error is None and books["good.cbz"].pages == 5
    # A .cbr that is a ZIP is simply a ZIP: not an error.
    assert books["really-a-zip.cbr"].format == "zip" and books["really-a-zip.cbr"].error is None
    assert books["really-a-zip.cbr"].pages == 5
    errors = {name: b.error for name, b in books.items() if b.error}
    assert set(errors) == {"truncated.cbz", "zero.cbz", "password.cbz", "no-images.cbz", "garbage.cbz",
                           "headers-encrypted.cbr"}
    for reason in errors.values():  # one line each, no Python jargon
        assert "\n" not in reason and "Traceback" not in reason and "Error" not in reason
    assert "empty" in errors["zero.cbz"]
    assert "password" in errors["password.cbz"]
    assert "password" in errors["headers-encrypted.cbr"]
    assert "no page images" in errors["no-images.cbz"]
    assert "damaged" in errors["truncated.cbz"] or "truncated" in errors["truncated.cbz"]
    assert "not a comic" in errors["garbage.cbz"]
    assert books["zero.cbz"].format is None and books["zero.cbz"].pages is None
    assert books["password.cbz"].format == "zip"
    assert result.failed == 6
    assert "6 failed" in result.summary()


def test_broken_books_are_not_reopened_until_they_change(bad_library, settings, monkeypatch):
    scan_library(bad_library, settings, options=INLINE)
    from comicdesk.library import scanner

    opened = []
    real = scanner.read_book
    monkeypatch.setattr(scanner, "read_book", lambda job, *a: opened.append(job.cand.path) or real(job, *a))
    again = scan_library(bad_library, settings, options=INLINE)
    assert opened == [] and again.unchanged == 8 and again.failed == 6
    make_cbz(bad_library / "truncated.cbz")  # repaired
    fixed = scan_library(bad_library, settings, options=INLINE)
    assert [Path(p).name for p in opened] == ["truncated.cbz"]
    assert by_name(fixed)["truncated.cbz"].error is None and fixed.changed == 1


def test_permission_denied_simulated(tmp_path, settings, monkeypatch):
    """What chmod 000 does to a non-root user, simulated so it also bites when tests run as root."""
    root = tmp_path / "lib"
    make_cbz(root / "fine.cbz")
    locked = make_cbz(root / "locked.cbz")
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if os.fspath(file) == str(locked.resolve()):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    result = scan_library(root, settings, options=INLINE)
    books = by_name(result)
    assert books["locked.cbz"].error == "permission denied"
    assert books["fine.cbz"].error is None
    monkeypatch.undo()
    # A passing problem is tried again on the next scan, and the book is then read.
    again = scan_library(root, settings, options=INLINE)
    assert by_name(again)["locked.cbz"].error is None and again.changed == 1


def test_permission_denied_for_real(tmp_path, settings):
    root = tmp_path / "lib"
    make_cbz(root / "fine.cbz")
    locked = make_cbz(root / "locked.cbz")
    locked_dir = root / "private"
    make_cbz(locked_dir / "inside.cbz")
    first = scan_library(root, settings, options=INLINE)
    assert len(first.books) == 3
    os.chmod(locked, 0)
    os.chmod(locked_dir, 0)
    try:
        before = tree_digest(root)
        result = scan_library(root, settings, options=INLINE)
        assert tree_digest(root) == before
        books = by_name(result)
        assert books["fine.cbz"].error is None
        if os.geteuid() != 0:  # root reads anything: only this assertion needs a normal user
            assert books["locked.cbz"].error == "permission denied"
            assert any("cannot read folder" in w for w in result.warnings)
        # A folder that cannot be listed does not mean its books were removed.
        assert "inside.cbz" in books and result.removed == 0
    finally:
        os.chmod(locked, 0o644)
        os.chmod(locked_dir, 0o755)


def test_unlistable_folder_simulated_keeps_its_books(tmp_path, settings, monkeypatch):
    root = tmp_path / "lib"
    make_cbz(root / "fine.cbz")
    make_cbz(root / "private" / "inside.cbz")
    scan_library(root, settings, options=INLINE)
    real_scandir = os.scandir

    def guarded_scandir(path="."):
        if os.fspath(path).endswith("private"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", guarded_scandir)
    result = scan_library(root, settings, options=INLINE)
    assert result.removed == 0 and "inside.cbz" in by_name(result)
    assert result.warnings == [f"cannot read folder {root.resolve() / 'private'}: Permission denied"]


def test_missing_registered_root_is_offline_and_nothing_is_purged(library, settings, tmp_path):
    first = scan_library(library, settings, options=INLINE)
    aside = tmp_path / "unmounted"
    os.rename(library, aside)  # the disk goes away
    result = scan_library(library, settings, options=INLINE)
    assert result.offline and result.books == [] and result.removed == 0
    assert "missing" in result.offline_reason
    assert result.summary().startswith("offline: ") and "7 books" in result.summary()
    os.rename(aside, library)
    back = scan_library(library, settings, options=INLINE)
    assert not back.offline and back.unchanged == 7 and back.removed == 0
    assert {b.id for b in back.books} == {b.id for b in first.books}


def test_empty_root_is_offline(library, settings, tmp_path):
    scan_library(library, settings, options=INLINE)
    aside = tmp_path / "aside"
    aside.mkdir()
    for child in list(library.iterdir()):
        os.rename(child, aside / child.name)  # an unmounted mount point: the folder is there, empty
    result = scan_library(library, settings, options=INLINE)
    assert result.offline and "empty" in result.offline_reason
    with Catalog.open(settings.library_cache_dir(result.library_id), readonly=True) as cat:
        assert cat.count_books() == 7


def test_root_disappearing_mid_scan_is_offline_and_nothing_is_purged(library, settings, tmp_path):
    first = scan_library(library, settings, options=INLINE)
    # New books so the second scan has reading to do, during which the disk goes away.
    for n in range(6):
        make_cbz(library / "New" / f"new-{n}.cbz", captain_science_pages()[: n % 4 + 1])
    before = tree_digest(library)
    aside = tmp_path / "gone"
    seen = []

    def unplug(event):
        if event.stage == "scan" and event.done == 2 and not seen:
            seen.append(event)
            os.rename(library, aside)

    result = scan_library(library, settings, progress=unplug, options=INLINE)
    assert seen, "the scan never reached its second book"
    assert result.offline and result.removed == 0
    assert "missing" in result.offline_reason
    assert tree_digest(aside) == before  # the library itself was never touched
    with Catalog.open(settings.library_cache_dir(result.library_id), readonly=True) as cat:
        paths = {b.path for b in cat.all_books()}
        assert {b.path for b in first.books} <= paths  # nothing purged
        assert all(b.error is None for b in cat.all_books())  # no "file not found" recorded
    os.rename(aside, library)
    back = scan_library(library, settings, options=INLINE)
    assert not back.offline and back.removed == 0 and len(back.books) == 13 and back.failed == 0


def test_failed_books_are_read_again_when_the_scanner_changes(bad_library, settings, monkeypatch):
    """A content failure is kept until the file changes... or comicdesk reads books differently."""
    from comicdesk.library import service

    first = scan_library(bad_library, settings, options=INLINE)
    assert by_name(first)["password.cbz"].error
    monkeypatch.setattr(service, "SCANNER_VERSION", "999")
    from comicdesk.library import scanner

    outcomes = {}
    real = scanner.read_book

    def spy(job, *args):
        res = real(job, *args)
        outcomes[Path(job.cand.path).name] = res.status
        return res

    monkeypatch.setattr(scanner, "read_book", spy)
    again = scan_library(bad_library, settings, options=INLINE)
    failed = {name for name, b in by_name(first).items() if b.error}
    # Each failed book was opened again (not merely recognised by its content key).
    assert outcomes == {name: "failed" for name in failed}
    assert again.failed == 6 and again.changed == 0 and again.unchanged == 8  # same content, same errors
