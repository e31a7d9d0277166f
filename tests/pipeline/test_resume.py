"""A run killed at any moment (SIGKILL: no cleanup at all) resumes, and no half-written book is
ever reported or recorded done."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import Recorder, embedding_stage, simple_library, whole_page_stage
from helpers import tree_digest
from test_runner import assert_no_half_books, run, scan

from comicdesk.cache.vectors import VectorStore
from comicdesk.library.catalog import Catalog

CHILD = Path(__file__).with_name("kill_child.py")


def done_books(cache) -> set[int]:
    with Catalog.open(cache, readonly=True) as cat:
        return {b for b, runs in cat.runs().items()
                if runs.get("panels") and runs["panels"].status == "done"
                and runs.get("emb") and runs["emb"].status == "done"}


def check_vectors(cache, books: set[int]) -> None:
    """Every done book has one correct page row per page and one panel row per panel, mapped."""
    with Catalog.open(cache, readonly=True) as cat, VectorStore.open(cache, readonly=True) as store:
        keys, vecs = store.load("fake-emb", "page_image")
        got = {(int(k[0]), int(k[1])): v for k, v in zip(keys, vecs.astype(np.float32))}
        for b in books:
            for p in cat.pages(b):
                assert np.array_equal(got.pop((b, p.index)), [b, p.index, 1, 1])
        assert got == {}  # nothing mapped for books that are not done
        keys, vecs = store.load("fake-emb", "panel_emb")
        assert len(keys) == sum(cat.count_panels(b) for b in books)
        assert np.allclose(vecs.astype(np.float32), np.sqrt(0.5), atol=1e-3)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_run_killed_at_any_moment_resumes(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=10, pages=3)
    _, cache = scan(root, settings)
    before = tree_digest(root)
    rng = random.Random(7)
    for kill_after in (1, 2):
        proc = subprocess.Popen([sys.executable, str(CHILD), str(cache), "0.02"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        reported: list[int] = []
        for line in proc.stdout:
            if line.startswith("done"):
                reported.append(int(line.split()[1]))
                if len(reported) >= kill_after:
                    break
        time.sleep(rng.uniform(0.0, 0.05))  # somewhere in the next book: decoding, a model, a commit
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        done, total = assert_no_half_books(cache)
        finished = done_books(cache)
        assert set(reported) <= finished and len(finished) == done
        assert done < total, "the kill came too late to test anything"
        check_vectors(cache, finished)
    # The next run carries on: done books are skipped, the others analysed, none twice.
    rec = Recorder()
    result, _ = run(cache, [whole_page_stage(rec=rec), embedding_stage()])
    assert result.skipped == len(finished) and result.done == 10 - len(finished)
    assert {b for b, _ in rec.pages("panels")} == {b for b in range(1, 11)} - finished
    assert assert_no_half_books(cache) == (10, 10)
    check_vectors(cache, set(range(1, 11)))
    assert tree_digest(root) == before
