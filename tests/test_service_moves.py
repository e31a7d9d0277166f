"""What moved from cli.py into services (issue 18, front ends hold no logic a service could
hold): the library-folder check, the registered-library check, the path refusal before anything
opens a path, and the label word."""

from __future__ import annotations

import os

import pytest

from comicdesk.core.settings import Settings
from comicdesk.services.books import path_refusal
from comicdesk.services.labels import LabelError, parse_label
from comicdesk.services.library import LibraryRegistry, folder_inside_library, is_registered


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.resolve(tmp_path / "cache", tmp_path / "data", env={})


def test_a_chosen_folder_inside_the_target_or_a_registered_library_is_refused(tmp_path, settings):
    lib, other = tmp_path / "lib", tmp_path / "other"
    (lib / "series").mkdir(parents=True)
    other.mkdir()
    book = lib / "series" / "a.cbz"
    book.write_bytes(b"PK")
    inside = lib / "series" / "cache"
    line = folder_inside_library(settings, [("cache", inside)], lib)
    assert line == (f"the cache folder {inside} is inside the library {lib.resolve()}; choose one "
                    f"outside it (comicdesk never writes into a library)")
    # A book names its folder; a folder beside the library is fine.
    assert "inside the library" in folder_inside_library(settings, [("data", inside)], book)
    assert folder_inside_library(settings, [("cache", other / "c")], lib) is None
    # Without a target: only registered libraries count.
    assert folder_inside_library(settings, [("cache", inside)], None) is None
    LibraryRegistry(settings).register(lib.resolve(), "lib-1", "folder")
    assert "inside the library" in folder_inside_library(settings, [("cache", inside)], None)
    assert is_registered(settings, lib) and not is_registered(settings, other)


def test_a_symlink_loop_or_a_special_file_is_refused_before_it_opens(tmp_path):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    assert path_refusal(str(loop)) == "symlink loop (a link that leads back to itself)"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "pipe" in path_refusal(str(fifo)).lower() or "fifo" in path_refusal(str(fifo)).lower()
    assert path_refusal(str(tmp_path / "missing")) is None
    assert path_refusal(str(tmp_path)) is None


def test_a_label_word_is_a_class_in_any_case_or_none():
    assert parse_label("Story") == "story"
    assert parse_label("NONE") is None
    with pytest.raises(LabelError) as err:
        parse_label("Storyy")
    assert err.value.reason.startswith("unknown class 'Storyy': use one of advertisement, cover, story,")
    assert err.value.reason.endswith(", or none")
