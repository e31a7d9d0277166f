"""An export drops a page only when its label is sure (issue 16, item 4): unsure pages are kept
and listed (kept_unsure), --drop-unsure drops them anyway, mark-only marks Deleted only sure drops,
and an output is re-exported when a page's sureness changes what is written."""

from __future__ import annotations

import json
import os

from exphelpers import CS, cbz_comicinfo, cbz_pages, copy_fixture, model_labels, run_export, sha, source_pages

from comicdesk.core import pages as core_pages
from comicdesk.core.pages import PAGE_CLASSES


def probs(**kw) -> dict[str, float]:
    out = {c: 0.0 for c in PAGE_CLASSES}
    out.update(kw)
    return out


# Page 0 is ComicInfo's cover (sure). The model: page 1 story; page 2 an ad it is sure of (p(not
# story) = 0.95); page 3 an "ad" it is not sure of (p(not story) = 0.6: a story page with a text
# block, say); page 4 story.
SURE_AD = probs(advertisement=0.8, cover=0.15, story=0.05)
UNSURE_AD = probs(advertisement=0.5, art=0.1, story=0.4)
STORY = probs(story=0.97, advertisement=0.03)
OUTPUTS = {0: ("cover", probs(cover=0.9, story=0.1)), 1: ("story", STORY), 2: ("advertisement", SURE_AD),
           3: ("advertisement", UNSURE_AD), 4: ("story", STORY)}


def _book(tmp_path, settings):
    lib = tmp_path / "lib"
    book = copy_fixture(f"{CS}-cix.cbz", lib / "book.cbz")
    model_labels(settings, book, OUTPUTS)
    return lib, book


def _cli(settings, *argv):
    from comicdesk.cli import main

    return main([*argv, "--cache-dir", str(settings.cache_root), "--data-dir", str(settings.data_root)])


def test_an_unsure_drop_is_kept_and_listed(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(core_pages, "SURE_AT", 0.9)
    _lib, book = _book(tmp_path, settings)
    out = tmp_path / "o.cbz"
    (res,) = run_export(settings, book, out, preset="story-only", analyse=False).results
    assert res.status == "written" and res.error is None
    assert (res.pages_kept, res.pages_dropped, res.kept_unsure) == (3, 2, [3])
    src = source_pages(book)
    assert [sha(d) for _, d in cbz_pages(out)] == [sha(src[1]), sha(src[3]), sha(src[4])]
    # --drop-unsure: the unsure page goes too, and nothing is listed as kept unsure.
    (res,) = run_export(settings, book, tmp_path / "d.cbz", preset="story-only", analyse=False,
                        drop_unsure=True).results
    assert (res.pages_kept, res.pages_dropped, res.kept_unsure) == (2, 3, [])
    # no-ads drops only advertisement: p(ad) decides (0.8 for page 2: not sure at 0.9; 0.5 for page 3).
    (res,) = run_export(settings, book, tmp_path / "n.cbz", preset="no-ads", analyse=False).results
    assert (res.pages_kept, res.pages_dropped, res.kept_unsure) == (5, 0, [2, 3])


def test_the_threshold_is_read_from_sure_at(tmp_path, settings, monkeypatch):
    _lib, book = _book(tmp_path, settings)
    monkeypatch.setattr(core_pages, "SURE_AT", 0.55)  # page 3's p(not story) = 0.6 is now sure
    (res,) = run_export(settings, book, tmp_path / "o.cbz", preset="story-only", analyse=False).results
    assert (res.pages_kept, res.pages_dropped, res.kept_unsure) == (2, 3, [])
    monkeypatch.setattr(core_pages, "SURE_AT", 0.99)  # page 2's 0.95 is not sure any more
    (res,) = run_export(settings, book, tmp_path / "p.cbz", preset="story-only", analyse=False).results
    assert (res.pages_kept, res.pages_dropped, res.kept_unsure) == (4, 1, [2, 3])


def test_mark_only_marks_deleted_only_the_sure_drops(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(core_pages, "SURE_AT", 0.9)
    _lib, book = _book(tmp_path, settings)
    out = tmp_path / "m.cbz"
    (res,) = run_export(settings, book, out, preset="story-only", mark_only=True, analyse=False).results
    assert (res.pages_kept, res.pages_dropped, res.pages_marked, res.kept_unsure) == (5, 0, 2, [3])
    assert [p.types for p in cbz_comicinfo(out).pages] == [
        ["FrontCover", "Deleted"], ["Story"], ["Advertisement", "Deleted"], ["Advertisement"], ["Story"]]
    (res,) = run_export(settings, book, out, preset="story-only", mark_only=True, analyse=False,
                        drop_unsure=True).results
    assert res.status == "written" and res.pages_marked == 3 and res.kept_unsure == []
    assert cbz_comicinfo(out).pages[3].types == ["Advertisement", "Deleted"]


def test_the_fingerprint_follows_the_sure_decision(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(core_pages, "SURE_AT", 0.9)
    _lib, book = _book(tmp_path, settings)
    out = tmp_path / "o.cbz"
    assert run_export(settings, book, out, preset="story-only", analyse=False).results[0].status == "written"
    again = run_export(settings, book, out, preset="story-only", analyse=False).results[0]
    assert again.status == "up-to-date" and again.kept_unsure == [3] and again.pages_kept == 3
    # Unsure kept → dropped: a different file, written again.
    dropped = run_export(settings, book, out, preset="story-only", analyse=False, drop_unsure=True).results[0]
    assert dropped.status == "written" and len(cbz_pages(out)) == 2
    # The model grows sure of page 3 (the same label): --drop-unsure or not, the file is that one.
    model_labels(settings, book, {3: ("advertisement", SURE_AD)})
    same = run_export(settings, book, out, preset="story-only", analyse=False).results[0]
    assert same.status == "up-to-date" and same.kept_unsure == []
    # ... and less sure again: page 3 comes back.
    model_labels(settings, book, {3: ("advertisement", UNSURE_AD)})
    back = run_export(settings, book, out, preset="story-only", analyse=False).results[0]
    assert back.status == "written" and back.kept_unsure == [3] and len(cbz_pages(out)) == 3


def test_cli_reports_kept_unsure_in_json_text_and_summary(tmp_path, settings, capsys, monkeypatch):
    monkeypatch.setattr(core_pages, "SURE_AT", 0.9)
    lib, book = _book(tmp_path, settings)
    assert _cli(settings, "export", str(book), "-o", str(tmp_path / "x.cbz"), "--preset", "story-only",
                "--no-analyse", "--json") == 0
    row = json.loads(capsys.readouterr().out)
    assert row["kept_unsure"] == [3] and row["pages_kept"] == 3 and row["pages_dropped"] == 2
    assert _cli(settings, "export", str(book), "-o", str(tmp_path / "y.cbz"), "--preset", "story-only",
                "--no-analyse") == 0
    captured = capsys.readouterr()
    assert "1 kept unsure" in captured.out
    assert "3 pages kept, 2 dropped (preset story-only), 1 kept unsure" in captured.err
    assert _cli(settings, "export", str(book), "-o", str(tmp_path / "z.cbz"), "--preset", "story-only",
                "--no-analyse", "--drop-unsure", "--json") == 0
    row = json.loads(capsys.readouterr().out)
    assert row["kept_unsure"] == [] and row["pages_kept"] == 2
    # A batch: the summary line counts them.
    assert _cli(settings, "export", str(lib), "-o", str(tmp_path / "out"), "--preset", "story-only",
                "--no-analyse") == 0
    err = capsys.readouterr().err
    assert "3 pages kept, 2 dropped, 1 kept unsure, 0 rendered" in err
    assert os.path.exists(tmp_path / "out" / "book.cbz")
