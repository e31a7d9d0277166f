"""The Ray engine in process, with the fake stages (fast): the same cache as the local runner, a
model worker killed mid-run, a driver that dies between a shard and its commit, the run spec's
checks."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from engine_util import contents, scanned
from fakes import embedding_stage, jpeg, make_cbz, simple_library, whole_page_stage

from comicdesk.core.events import AnalysisProgress, BookAnalysed
from comicdesk.pipeline.ray_engine import STAGING_DIR, NodeRefused, RayRunner, check_node, make_spec
from comicdesk.pipeline.runner import RunError, RunOptions, Runner
from comicdesk.pipeline.stage import PANELS, StageSpec

OPTS = RunOptions(durable=False, lock_timeout=5.0, batch_size=4)


def library(tmp_path, books=5, pages=3):
    root = tmp_path / "lib"
    simple_library(root, books=books, pages=pages)
    make_cbz(root / "wide.cbz", [jpeg(120, 60), jpeg(60, 90)])
    good = jpeg()
    make_cbz(root / "bad-page.cbz", [good, good[:100], good])
    (root / "broken.cbz").write_bytes(b"PK\x03\x04 not a zip at all")
    return root


def analysed_and_fresh(tmp_path, books: int, pages: int):
    """A plain library scanned into two caches: ``cache-local`` analysed by the local runner (what
    the Ray run must give), ``cache-ray`` not analysed. Returns (root, local, remote)."""
    root = tmp_path / "lib"
    simple_library(root, books=books, pages=pages)
    _, local = scanned(root, tmp_path / "cache-local", tmp_path / "data")
    _, remote = scanned(root, tmp_path / "cache-ray", tmp_path / "data")
    Runner(local, stages=[whole_page_stage(), content_embedding()], options=OPTS).run()
    return root, local, remote


def content_embedding() -> "StageSpec":
    """:func:`fakes.embedding_stage`'s outputs, from the page's pixels (the same in any cache)."""
    from dataclasses import replace

    stage = embedding_stage()

    def load(ctx):
        def run(pages):
            out = []
            for p in pages:
                mean = np.asarray(p.image, dtype=np.float32).reshape(-1, 3).mean(axis=0) / 255
                out.append({stage.vectors[0].kind: np.array([*mean, p.index], dtype=np.float32),
                            stage.vectors[1].kind: np.array([[mean[0], 1.0]] * len(p.outputs[PANELS]))})
            return out
        return run

    return replace(stage, load=load)


def logged(stage, log: Path):
    """The stage, appending ``pid book page`` to ``log`` for every page it sees (works in any
    process: what travels to Ray's workers is the path)."""
    from dataclasses import replace

    path = str(log)

    def load(ctx):
        inner = stage.load(ctx)

        def run(pages):
            with open(path, "a") as fh:
                fh.writelines(f"{os.getpid()} {p.book_id} {p.index}\n" for p in pages)
            return inner(pages)
        return run

    return replace(stage, load=load)


def calls(log: Path) -> list[tuple[int, int, int]]:
    return [tuple(map(int, line.split())) for line in log.read_text().splitlines()] if log.exists() else []


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        for key in ("pages", "panels", "outputs", "text", "runs"):
            assert a[name][key] == b[name][key], (name, key)
        assert sorted(a[name]["vectors"]) == sorted(b[name]["vectors"]), name
        for k, v in a[name]["vectors"].items():
            np.testing.assert_allclose(v, b[name]["vectors"][k], atol=1e-3)


def test_ray_gives_the_local_runners_cache(tmp_path, local_ray, monkeypatch):
    from comicdesk.pipeline import ray_engine

    monkeypatch.setattr(ray_engine, "PAGES_PER_TASK", 2)  # books of 3 pages go in two parts
    root = library(tmp_path)
    _, local = scanned(root, tmp_path / "cache-local", tmp_path / "data")
    _, remote = scanned(root, tmp_path / "cache-ray", tmp_path / "data")
    stages = [whole_page_stage(), content_embedding()]
    expected = Runner(local, stages=stages, options=OPTS).run()
    events = []
    log = tmp_path / "calls.txt"
    got = RayRunner(remote, stages=[logged(whole_page_stage(), log), content_embedding()], options=OPTS,
                    on_event=events.append, library_root=root).run()
    assert (got.done, got.failed, got.pages, got.panels) == (expected.done, expected.failed, expected.pages,
                                                             expected.panels) == (7, 1, 20, 20)
    assert_same(contents(local), contents(remote))
    assert sum(1 for e in events if type(e) is BookAnalysed and e.final) == 7
    last = [e for e in events if type(e) is AnalysisProgress][-1]  # parts counted once each
    assert (last.done, last.total, last.books_done, last.books_total) == (20, 20, 7, 7)
    assert not (remote / STAGING_DIR).exists()  # every shard committed and deleted
    assert {pid for pid, _, _ in calls(log)} - {os.getpid()}  # the stages ran in Ray's workers
    assert len(calls(log)) == 19  # each good page once
    again = RayRunner(remote, stages=stages, options=OPTS, library_root=root).run()
    assert (again.done, again.skipped, again.failed) == (0, 7, 1)


def test_a_model_worker_killed_mid_run_loses_only_its_books(tmp_path, local_ray):
    root, local, remote = analysed_and_fresh(tmp_path, books=8, pages=3)
    killed = []
    done = []
    cleared = []

    def on_event(event):
        if type(event) is BookAnalysed and event.status == "done":
            done.append(event.book_id)
            if len(done) == 1:  # the app's "clear the cache" while the run goes: refused
                from comicdesk.services.cache_tools import clear_cache

                cleared.append(clear_cache(tmp_path / "cache-ray", tmp_path / "data"))
            if len(done) == 2 and not killed:
                pid = local_ray.get(runner.actors[0].pid.remote())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    runner = RayRunner(remote, stages=[whole_page_stage(delay=0.15), content_embedding()], options=OPTS,
                       on_event=on_event, library_root=root)
    result = runner.run()
    assert killed
    assert cleared[0].cleared == [] and cleared[0].freed == 0
    assert cleared[0].skipped == [f"{remote.name}: another comicdesk process is writing it"]
    assert (result.done, result.failed) == (8, 0)
    assert sorted(done) == sorted(set(done))  # each book committed once
    assert_same(contents(local), contents(remote))
    assert not (remote / STAGING_DIR).exists()


def test_a_book_whose_actor_is_gone_for_good_is_sent_to_another(tmp_path, local_ray, monkeypatch):
    from comicdesk.pipeline import ray_engine

    monkeypatch.setattr(ray_engine, "RETRIES", 0)  # Ray neither restarts the actor nor retries its calls
    root = tmp_path / "lib"
    simple_library(root, books=8, pages=3)
    _, remote = scanned(root, tmp_path / "cache", tmp_path / "data")
    done = []

    def on_event(event):
        if type(event) is BookAnalysed and event.status == "done":
            done.append(event.book_id)
            if len(done) == 1:
                os.kill(local_ray.get(runner.actors[0].pid.remote()), signal.SIGKILL)

    one_by_one = RunOptions(durable=False, lock_timeout=5.0, batch_size=1)  # each actor busy till the end
    runner = RayRunner(remote, stages=[whole_page_stage(delay=0.15), content_embedding()], options=one_by_one,
                       on_event=on_event, library_root=root)
    result = runner.run()
    assert runner.resubmitted >= 1
    assert (result.done, result.failed) == (8, 0)  # its books went to the other actor
    assert all(len(c["panels"]) == 3 and len(c["vectors"]) == 6 for c in contents(remote).values())


class DiesAfter(RayRunner):
    """A driver that dies (an exception through its write loop) after ``n`` commits: what a
    killed driver leaves, at the worst moment — shards written, not yet committed."""

    def __init__(self, *args, n: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.n = n
        self.commits = 0

    def _commit(self, job, result):
        if self.commits == self.n:
            time.sleep(1.0)  # let the workers write the other books' shards
            raise KeyboardInterrupt
        self.commits += 1
        super()._commit(job, result)


def test_a_dead_drivers_shards_are_committed_by_the_next_run(tmp_path, local_ray):
    root, local, remote = analysed_and_fresh(tmp_path, books=6, pages=2)
    with pytest.raises(KeyboardInterrupt):
        DiesAfter(remote, stages=[whole_page_stage(), content_embedding()], options=OPTS, library_root=root,
                  n=2).run()
    left = sorted((remote / STAGING_DIR).glob("*/*.shard"))
    assert left  # shards that were not committed
    # The books committed so far are whole; the others not analysed at all.
    partial = contents(remote)
    done = [n for n, c in partial.items() if c["runs"]]
    assert len(done) == 2 and all(len(partial[n]["vectors"]) == 2 * 2 for n in done)
    assert all(not c["panels"] and not c["vectors"] for n, c in partial.items() if n not in done)
    # The next run commits the shards (their books are not analysed again) and finishes the rest.
    log = tmp_path / "calls.txt"
    result = RayRunner(remote, stages=[logged(whole_page_stage(), log), content_embedding()], options=OPTS,
                       library_root=root).run()
    assert (result.done, result.skipped, result.failed) == (4, 2, 0)
    assert len({book for _, book, _ in calls(log)}) < 4  # the shards' books were not analysed again
    assert_same(contents(local), contents(remote))
    assert not (remote / STAGING_DIR).exists()


def test_shards_of_another_spec_are_deleted_not_committed(tmp_path, local_ray):
    root = tmp_path / "lib"
    simple_library(root, books=4, pages=2)
    _, remote = scanned(root, tmp_path / "cache", tmp_path / "data")
    with pytest.raises(KeyboardInterrupt):
        DiesAfter(remote, stages=[whole_page_stage("fake-1")], options=OPTS, library_root=root, n=1).run()
    assert list((remote / STAGING_DIR).glob("*/*.shard"))
    result = RayRunner(remote, stages=[whole_page_stage("fake-2")], options=OPTS, library_root=root).run()
    assert (result.done, result.failed) == (4, 0)
    assert not (remote / STAGING_DIR).exists()
    assert {r[1] for c in contents(remote).values() for r in c["runs"].values()} == {"fake-2"}


def test_a_node_that_cannot_see_the_library_refuses_with_one_line(tmp_path, local_ray):
    root = tmp_path / "lib"
    simple_library(root, books=1, pages=1)
    _, cache = scanned(root, tmp_path / "cache", tmp_path / "data")
    with pytest.raises(RunError) as err:
        RayRunner(cache, stages=[whole_page_stage()], options=OPTS, library_root=tmp_path / "elsewhere").run()
    reason = err.value.reason
    assert "cannot see the library at" in reason and "same absolute paths" in reason and "\n" not in reason
    assert contents(cache)["Book 00.cbz"]["runs"] == {}


def test_a_worker_checks_the_run_spec(tmp_path):
    root = tmp_path / "lib"
    simple_library(root, books=1, pages=1)
    _, cache = scanned(root, tmp_path / "cache", tmp_path / "data")
    runner = Runner(cache, stages=[whole_page_stage("fake-1")], options=OPTS)
    spec = make_spec(runner, library_root=str(root), use_gpu=False)
    assert spec.cpu_precision == "float32"  # auto is fixed for every node
    assert spec.device == "cpu" and spec.dtype is None  # no GPU actors: every model on the CPU
    gpu = make_spec(runner, library_root=str(root), use_gpu=True)
    assert (gpu.device, gpu.dtype) == ("cuda", "float16")  # one GPU per actor, one precision for all
    check_node(spec)  # this machine agrees
    from dataclasses import replace

    for change, words in [({"version": "0.0.1"}, "install the same version"),
                          ({"versions": {"panels": "fake-0"}}, "panels stage at version fake-1, the run fake-0"),
                          ({"cache_dir": str(tmp_path / "nowhere")}, "cannot see the cache")]:
        other = replace(spec, run_id=spec.run_id + str(change), **change)
        with pytest.raises(NodeRefused, match=words):
            check_node(other)
    # Another spec, another digest: shards computed under it are not committed.
    assert replace(spec, cpu_precision="bfloat16").digest != spec.digest
    assert replace(spec, fingerprints={"panels": "fake-2"}).digest != spec.digest
