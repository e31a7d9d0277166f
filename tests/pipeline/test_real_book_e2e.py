"""The one real end-to-end test: no fake stage anywhere.

``comicdesk index`` runs the real standard models (RapidOCR, EfficientNet-Lite0, MiniLM, the panel
detector, the page classifier; all shipped inside the pip packages that ``pyproject.toml`` lists,
so nothing is downloaded) on a whole real book, Science Comics #1 (1946, public domain; 36 pages
labelled by eye in ``fixtures/real/science-comics-001/labels.json``), then ``comicdesk pages
--json``, then ``comicdesk export --preset story-only``. Every story-kind page (story, first-page,
textstory) must be in the output, byte-identical and in order. Each command runs as the person
runs it (a child process), with the cache and data folders inside the test's temporary folder.

Science Comics #1 is the one labelled real book the classifier may be tuned on: passing here is a
training figure, not a measure of real books the project never saw (``tests/bench/eval_pages.py``
measures those). About 50 s on two cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from helpers import REPO, fixtures_dir

STORY_KINDS = {"story", "first-page", "textstory"}
BOOK = "science_comics_001.cbz"
SAMPLE = REPO / "resources" / "sample-library" / "Science Comics" / "Science Comics #001 (1946).cbz"

pytestmark = pytest.mark.slow


def comicdesk(*args: str, cwd) -> list[dict]:
    """Run ``comicdesk ARGS --json`` in a child process; its JSON lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMICDESK_")}
    env["COMICDESK_FIXTURES"] = str(fixtures_dir())
    proc = subprocess.run([sys.executable, "-m", "comicdesk", *args, "--json"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"comicdesk {args[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_sample_library_carries_the_labelled_book():
    """The sample library's Science Comics is the fixture book itself (so its labels apply)."""
    assert sha(SAMPLE.read_bytes()) == sha((fixtures_dir() / "real" / "science-comics-001" / BOOK).read_bytes())


def test_index_pages_export_story_only_keeps_every_story_page(tmp_path):
    real = fixtures_dir() / "real" / "science-comics-001"
    truth = [p["label"] for p in json.loads((real / "labels.json").read_text(encoding="utf-8"))["pages"]]
    lib = tmp_path / "lib"
    lib.mkdir()
    book = lib / BOOK
    shutil.copyfile(real / BOOK, book)
    dirs = ("--cache-dir", str(tmp_path / "cache"), "--data-dir", str(tmp_path / "data"))

    done = comicdesk("index", str(lib), *dirs, cwd=tmp_path)
    assert done, "index printed nothing"

    pages = comicdesk("pages", str(book), *dirs, cwd=tmp_path)
    assert [p["index"] for p in pages] == list(range(len(truth))) == list(range(36))
    assert all(p["source"] == "model" and p["label"] and p["probs"] for p in pages), \
        "every page was classified by the real models"

    out = tmp_path / "out" / "story.cbz"
    (result,) = comicdesk("export", str(book), "-o", str(out), "--preset", "story-only", *dirs, cwd=tmp_path)
    assert result["status"] == "written", result

    with zipfile.ZipFile(book) as zf:
        source = [sha(zf.read(p["name"])) for p in pages]
    with zipfile.ZipFile(out) as zf:
        written = [sha(zf.read(n)) for n in sorted(zf.namelist()) if n != "ComicInfo.xml"]
    # what was written is source pages, byte for byte, in reading order
    at = iter(range(len(source)))
    kept = []
    for h in written:
        i = next((i for i in at if source[i] == h), None)
        assert i is not None, "a written page is not a source page in order (re-encoded or reordered)"
        kept.append(i)
    lost = [(i, truth[i], pages[i]["label"], round(pages[i]["probs"][pages[i]["label"]], 2))
            for i in range(len(truth)) if truth[i] in STORY_KINDS and i not in kept]
    assert not lost, f"story-only export lost {len(lost)} of {sum(t in STORY_KINDS for t in truth)} " \
                     f"story-kind pages (index, truth, label, p): {lost}"
    # and it is not "keep everything": the front cover (the classifier is sure of it) goes
    assert 0 not in kept, "the front cover was kept"
