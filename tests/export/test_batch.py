"""Batch export, up-to-date outputs, mark-only, Calibre metadata, analysis first, the CLI."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from exphelpers import (
    CS,
    cbz_comicinfo,
    cbz_pages,
    copy_fixture,
    label_all,
    label_pages,
    make_cbz,
    run_export,
    sha,
    source_pages,
    xsd_errors,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "library"))
from libhelpers import make_calibre


def _cli(settings, *argv):
    from comicdesk.cli import main

    return main([*argv, "--cache-dir", str(settings.cache_root), "--data-dir", str(settings.data_root)])


def test_batch_mirrors_the_tree_and_continues_past_bad_books(tmp_path, settings):
    lib = tmp_path / "lib"
    good = copy_fixture(f"{CS}-cix.cbz", lib / "A" / "good.cbz")
    copy_fixture(f"{CS}.cb7", lib / "A" / "B" / "deep.cb7")
    (lib / "A" / "broken.cbz").write_bytes(b"PK\x03\x04 this is not a zip at all" * 10)
    copy_fixture("empty.cbz", lib / "empty.cbz")
    label_all(settings, lib, good, p2="advertisement")
    out = tmp_path / "out"
    summary = run_export(settings, lib, out)
    by = {Path(r.book).name: r for r in summary.results}
    assert set(by) == {"good.cbz", "deep.cb7", "broken.cbz", "empty.cbz"}
    assert by["good.cbz"].status == "written" and by["good.cbz"].output == str(out / "A" / "good.cbz")
    assert (by["good.cbz"].pages_kept, by["good.cbz"].pages_dropped) == (4, 1)
    assert by["deep.cb7"].output == str(out / "A" / "B" / "deep.cbz")
    for bad in ("broken.cbz", "empty.cbz"):
        assert by[bad].status == "failed" and by[bad].error and by[bad].output is None
    assert summary.anything_done
    assert "2 written, 0 up to date, 2 failed" in summary.summary()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.cbz")) == ["A/B/deep.cbz", "A/good.cbz"]


def test_up_to_date_outputs_are_skipped_until_something_changes(tmp_path, settings):
    lib = tmp_path / "lib"
    book = copy_fixture(f"{CS}-cix.cbz", lib / "book.cbz")
    other = copy_fixture(f"{CS}.cb7", lib / "other.cb7")
    label_all(settings, lib, book)
    label_all(settings, lib, other)
    out = tmp_path / "out"
    first = run_export(settings, lib, out)
    assert [r.status for r in first.results] == ["written", "written"]
    stamp = {p: p.stat().st_mtime_ns for p in out.glob("*.cbz")}
    second = run_export(settings, lib, out)
    assert [r.status for r in second.results] == ["up-to-date", "up-to-date"]
    assert second.results[0].pages_kept == 5
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.cbz")} == stamp
    # A label changed → that book only is written again.
    label_pages(settings, lib, book, {1: "advertisement"})
    third = run_export(settings, lib, out)
    assert [r.status for r in third.results] == ["written", "up-to-date"]
    assert len(cbz_pages(out / "book.cbz")) == 4
    # Mark-only changes the book with an ad; the other one's output would be the same file.
    fourth = run_export(settings, lib, out, mark_only=True)
    assert [r.status for r in fourth.results] == ["written", "up-to-date"]
    assert len(cbz_pages(out / "book.cbz")) == 5


def test_name_collisions_keep_the_source_extension(tmp_path, settings):
    lib = tmp_path / "lib"
    copy_fixture(f"{CS}.cbz", lib / "x.cbz")
    copy_fixture(f"{CS}.cb7", lib / "x.cb7")
    summary = run_export(settings, lib, tmp_path / "out")
    outs = sorted(Path(r.output).name for r in summary.results)
    assert outs == ["x.cb7.cbz", "x.cbz"]


def test_mark_only_keeps_every_page_and_marks_deleted(tmp_path, settings):
    lib = tmp_path / "lib"
    book = copy_fixture(f"{CS}-cix.cbz", lib / "book.cbz")
    label_all(settings, lib, book, p0="cover", p2="advertisement", p4="back_cover")
    out = tmp_path / "m.cbz"
    (res,) = run_export(settings, book, out, preset="story-only", mark_only=True).results
    assert (res.pages_kept, res.pages_dropped, res.pages_marked) == (5, 0, 3)
    assert [sha(d) for _, d in cbz_pages(out)] == [sha(d) for d in source_pages(book)]
    ci = cbz_comicinfo(out)
    assert [p.types for p in ci.pages] == [["FrontCover", "Deleted"], ["Story"], ["Advertisement", "Deleted"],
                                           ["Story"], ["BackCover", "Deleted"]]
    assert xsd_errors(out) == []


def test_person_labels_win_and_hidden_pages_drop(tmp_path, settings):
    from exphelpers import jpeg

    from comicdesk.archive.comicinfo import ComicInfo, ComicPageInfo

    ci = ComicInfo(title="T", pages=[ComicPageInfo(0, ["FrontCover"]), ComicPageInfo(1, ["Story"]),
                                     ComicPageInfo(2, ["Advertisement"]), ComicPageInfo(3, ["Story", "Deleted"])])
    lib = tmp_path / "lib"
    pages = [jpeg(30, 40, (i * 40, 0, 0)) for i in range(4)]
    book = make_cbz(lib / "b.cbz", pages, comicinfo=ci.to_bytes())
    label_pages(settings, lib, book, {2: "story"})  # the person says the "ad" is story
    out = tmp_path / "b.cbz"
    (res,) = run_export(settings, book, out, preset="story-only").results
    assert res.unlabelled == 0
    assert [sha(d) for _, d in cbz_pages(out)] == [sha(pages[1]), sha(pages[2])]
    assert [p.types for p in cbz_comicinfo(out).pages] == [["Story"], ["Story"]]


def test_calibre_metadata_is_filled_in(tmp_path, settings):
    root = make_calibre(tmp_path / "Calibre", [
        {"title": "The Beginning (Calibre)", "authors": ["Orlando, Joe", "Wally Wood"], "series": "Captain Science",
         "series_index": 2.5, "files": {"CBZ": f"{CS}-cix.cbz"}},
        {"title": "Plain", "authors": ["Nobody"], "files": {"CBR": f"{CS}-cbi.cbr"}},
    ])
    out = tmp_path / "out"
    summary = run_export(settings, root, out)
    assert [r.status for r in summary.results] == ["written", "written"], [r.error for r in summary.results]
    by = {Path(r.book).parent.parent.name: r for r in summary.results}
    first = Path(by["Orlando, Joe"].output)
    assert first.relative_to(out).as_posix() == "Orlando, Joe/The Beginning (Calibre) (1)/The Beginning (Calibre) - Orlando, Joe.cbz"
    ci = cbz_comicinfo(first)
    assert (ci.title, ci.series, ci.number, ci.writer) == (
        "The Beginning (Calibre)", "Captain Science", "2.5", "Orlando, Joe, Wally Wood")
    assert ci.penciller == "Wally Wood"  # the rest of the book's ComicInfo carried over
    # A CBR without ComicInfo gets one: Calibre's values, and what Calibre leaves empty from the
    # CBR's own ComicBookInfo comment (series, number, penciller, ...).
    ci2 = cbz_comicinfo(Path(by["Nobody"].output))
    assert (ci2.title, ci2.series, ci2.number, ci2.writer, ci2.page_count) == (
        "Plain", "Captain Science", "1", "Nobody", 5)
    assert (ci2.penciller, ci2.publisher, ci2.year, ci2.month) == ("Wally Wood", "Youthful Adventure Stories", 1950, 11)
    for r in summary.results:
        assert xsd_errors(r.output) == []
    # The Calibre library is a library: exporting into it is refused.
    from comicdesk.export.writer import OutputRefused

    with pytest.raises(OutputRefused):
        run_export(settings, root, root / "clean")


def test_no_analyse_refuses_a_book_not_analysed(tmp_path, settings, capsys):
    lib = tmp_path / "lib"
    book = copy_fixture(f"{CS}.cb7", lib / "book.cb7")
    out = tmp_path / "o.cbz"
    assert _cli(settings, "export", str(book), "-o", str(out), "--no-analyse") == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("comicdesk: not analysed yet")
    assert "comicdesk index" in err[0]
    assert not out.exists()
    # Fully labelled (here by the person) counts as analysed.
    label_all(settings, lib, book)
    assert _cli(settings, "export", str(book), "-o", str(out), "--no-analyse", "--json") == 0
    row = json.loads(capsys.readouterr().out)
    assert row["status"] == "written" and row["pages_kept"] == 5


def test_book_not_analysed_is_analysed_first(tmp_path, settings):
    from comicdesk.library.catalog import Catalog
    from comicdesk.library.service import locate_library
    from comicdesk.pipeline.stages import panels

    lib = tmp_path / "lib"
    book = copy_fixture(f"{CS}-cix.cbz", lib / "book.cbz")
    events = []
    summary = run_export(settings, book, tmp_path / "o.cbz", stages=[panels.SPEC], on_event=events.append)
    (res,) = summary.results
    assert res.status == "written"
    assert res.unlabelled == 4  # only the ComicInfo cover has a label (no classifier stage here)
    target = locate_library(book, settings, register=False)
    with Catalog.open(settings.library_cache_dir(target.id), readonly=True) as cat:
        row = cat.book_by_path(book)
        runs = cat.runs([row.id])[row.id]
        assert runs["panels"].status == "done" and cat.count_panels(row.id) >= 5
    from comicdesk.core.events import AnalysisProgress

    assert any(isinstance(e, AnalysisProgress) for e in events)
    # Analysed now: the next export does not run it again, and --no-analyse accepts it.
    again = run_export(settings, book, tmp_path / "o.cbz", stages=[panels.SPEC], analyse=False)
    assert again.results[0].status == "up-to-date"


def test_an_exports_analysis_runs_like_comicdesk_index(tmp_path, settings, monkeypatch):
    """The person waits for an export: the analysis it needs runs at normal priority (at the
    background's +10 a busy machine made a 3-page export take over a minute) with the library's
    data dir, so the head learnt from the person's labels applies, as in `comicdesk index`."""
    from comicdesk.library.service import locate_library
    from comicdesk.pipeline.stages import panels
    from comicdesk.services import export as batch  # the analysis before an export is the service's

    made = []
    real = batch.make_runner

    def spy(*args, **kwargs):
        runner = real(*args, **kwargs)
        made.append(runner.options)
        return runner

    monkeypatch.setattr(batch, "make_runner", spy)
    lib = tmp_path / "lib"
    book = copy_fixture(f"{CS}-cix.cbz", lib / "book.cbz")
    summary = run_export(settings, book, tmp_path / "o.cbz", stages=[panels.SPEC])
    assert summary.results[0].status == "written"
    (opts,) = made
    library_id = locate_library(book, settings, register=False).id
    assert opts.nice == 0
    assert Path(opts.data_dir) == settings.library_data_dir(library_id)
    assert Path(opts.models_dir) == settings.cache_root / "models"
    assert opts.inference_workers == min(os.cpu_count() or 1, 4)
    # The app's dialog asks for one worker on one thread (its models load beside the UI thread).
    made.clear()
    book2 = copy_fixture(f"{CS}-cix.cbz", lib / "book2.cbz")
    run_export(settings, book2, tmp_path / "o2.cbz", stages=[panels.SPEC], analysis_workers=1, analysis_threads=1)
    assert (made[0].inference_workers, made[0].threads, made[0].nice) == (1, 1, 0)


def test_cli_json_shape_and_exit_codes(tmp_path, settings, capsys):
    lib = tmp_path / "lib"
    book = copy_fixture(f"{CS}-cix.cbz", lib / "book.cbz")
    (lib / "bad.cbz").write_bytes(b"nope" * 100)
    label_all(settings, lib, book, p1="advertisement")
    out = tmp_path / "out"
    assert _cli(settings, "export", str(lib), "-o", str(out), "--json", "--drop", "ads,advertisement".replace("ads,", "")) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [set(r) for r in rows] == [{"book", "output", "status", "pages_kept", "pages_dropped", "pages_marked",
                                       "unlabelled", "rendered", "error", "kept_unsure"}] * 2
    by = {Path(r["book"]).name: r for r in rows}
    assert by["book.cbz"]["pages_dropped"] == 1 and by["book.cbz"]["error"] is None
    assert by["bad.cbz"]["status"] == "failed" and by["bad.cbz"]["output"] is None and by["bad.cbz"]["error"]
    # Every book of a batch failing: nothing could be done → 1.
    only_bad = tmp_path / "lib2"
    only_bad.mkdir()
    (only_bad / "bad.cbz").write_bytes(b"nope" * 100)
    assert _cli(settings, "export", str(only_bad), "-o", str(tmp_path / "out2")) == 1
    # An unknown class name: one line, exit 1.
    capsys.readouterr()
    assert _cli(settings, "export", str(book), "-o", str(tmp_path / "x.cbz"), "--keep", "story,ads") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown page class or group 'ads'" in err[0]


def test_text_output(tmp_path, settings, capsys):
    lib = tmp_path / "lib"
    book = copy_fixture(f"{CS}-cix.cbz", lib / "book.cbz")
    label_all(settings, lib, book, p0="cover")
    assert _cli(settings, "export", str(book), "-o", str(tmp_path / "x.cbz"), "--preset", "story-only") == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("written") and str(tmp_path / "x.cbz") in captured.out
    assert "4 pages kept, 1 dropped (preset story-only)" in captured.err
    assert os.path.exists(tmp_path / "x.cbz")
