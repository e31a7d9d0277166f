"""The Ray engine: the runner's stages run on a Ray cluster; the calling process stays the one writer.

::

    driver (comicdesk index, holds the library lock)           Ray cluster (this machine or many)
    ─────────────────────────────────────────────────           ─────────────────────────────────
    plan (Runner's planning) ──► jobs ──► dispatcher ──► decode tasks (CPU): a book in parts of
                                              │          16 pages │ decoded pages (object store)
                                              │                    ▼
                                              │          model actor (one set of models, GPU when
                                              │          the cluster has GPUs): page stages batched
                                              │          across the parts it holds (run_pages);
                                              │          finish_book once every part is through:
                                              │          book stages, then the book's results → a
                                              ▼          shard file in <cache>/ray.staging/<run id>/
    writer (Runner's write loop) ◄── shard read back ◄──────────┘
    commits book by book, exactly as the local run, then deletes the shard

- **The same stages, the same way**: a worker builds a :class:`~comicdesk.pipeline.runner.Runner`
  of its own that never runs (:func:`_worker_runner`) and uses its decode and inference code on
  the jobs the driver planned, so decoding, batching, a stage's per-page fallback and book-level
  stages are the local runner's code, not a copy.
- **The run spec** (:class:`RunSpec`) fixes what could differ between nodes: the comicdesk
  version, the profile, every stage's version and fingerprint, the models' precision (``auto``
  CPU precision becomes ``float32``: every CPU can run it, and a node that times bfloat16 faster
  would compute something else), the CoSMo dtype and batch, the inference batch size. A worker
  checks it when it starts (:func:`check_node`): another version, a stage at another version, a
  library or cache folder it cannot see, or a precision its CPU lacks refuses with one line.
- **One writer**: workers never write the catalogue nor the vector store. Each book's results go
  to one shard file (pickled pages and outputs, written to a temporary name, fsynced, renamed)
  under ``<cache dir>/ray.staging/<run id>/``; the driver, which holds the library lock, reads it
  back and commits it through the runner's own writer in one transaction, then deletes it.
- **Faults**: a decode task or actor that dies is retried by Ray (tasks ``max_retries``, actors
  restarted with ``max_task_retries``): only the books it held are redone. A book Ray gives up on
  fails as a passing failure (not recorded: the next run tries it again). A driver killed
  mid-run leaves its committed books committed; the next run commits the shards it left whose
  spec, book content and stages still match what it plans, and deletes the others. Cancelling
  (Ctrl-C) stops the dispatch and cancels what is in flight; nothing is half committed.
- Ray is imported only here and only when a run starts (``pip install 'comicdesk[ray]'``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import queue
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from comicdesk.core.errors import one_line
from comicdesk.pipeline.runner import _END, RunError, RunOptions, Runner, _Budget, _Failed, _Job
from comicdesk.pipeline.stage import StageSpec

#: Staging area for the workers' shards, inside the library's cache dir (cleared with the cache).
STAGING_DIR = "ray.staging"
SHARD_SUFFIX = ".shard"
#: Scheduling share of one CPU: a model actor and a decode task. Threads are what
#: ``RunOptions.threads`` says; these only let decode tasks run beside one actor per core.
ACTOR_CPUS = 0.75
DECODE_CPUS = 0.25
#: Books held by the cluster at once, per model actor (decoded or in an actor), beyond one more.
BOOKS_PER_ACTOR = 3
#: Pages one decode task decodes (a part of a book): bounds what one process holds decoded.
PAGES_PER_TASK = 16
#: Tries Ray gives a task or an actor call whose worker died before the book fails (passing).
RETRIES = 3
#: Times the driver sends a book whose Ray calls failed in spite of Ray's own retries (an actor
#: unreachable under load, a node lost) before the book fails as a passing failure.
RESUBMITS = 2
#: Seconds to reach a cluster's address before ``--address`` is refused.
CONNECT_TIMEOUT = 5.0
INSTALL_LINE = "the ray engine needs Ray: pip install 'comicdesk[ray]'"
LOST = "the Ray worker running this book was lost ({}); the next run tries it again"


# -- the run spec -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """What every node must agree on, and what a worker needs to do its part."""

    run_id: str
    version: str  # comicdesk.__version__
    profile: str
    stages: tuple[StageSpec, ...]
    versions: dict[str, str]  # stage name → resolved version
    fingerprints: dict[str, str]  # stage name → fingerprint (what the runs table records)
    cpu_precision: str  # float32 | bfloat16 (never auto)
    dtype: str | None
    model_batch: int | None
    batch_size: int
    threads: int
    device: str
    env: Any
    data_dir: str | None
    models_dir: str | None
    limits: Any
    cache_dir: str
    library_root: str | None
    use_gpu: bool = False
    data_dir_seen: bool = False  # the driver sees the data folder (a new library has none yet)

    @property
    def staging(self) -> Path:
        return Path(self.cache_dir) / STAGING_DIR / self.run_id

    @property
    def digest(self) -> str:
        """What a shard must have been computed under to be committed by this run."""
        fixed = {"version": self.version, "profile": self.profile, "fingerprints": self.fingerprints,
                 "cpu_precision": self.cpu_precision, "dtype": self.dtype, "model_batch": self.model_batch,
                 "batch_size": self.batch_size, "stage_batches": {s.name: s.batch_size for s in self.stages}}
        return hashlib.blake2b(json.dumps(fixed, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()

    def options(self) -> RunOptions:
        """The worker-side runner's options (one inference thread per actor: one set of models)."""
        return RunOptions(decode_workers=1, threads=self.threads, inference_workers=1, nice=0,
                          batch_size=self.batch_size, max_pending_pixels=2**62, profile=self.profile,
                          limits=self.limits, data_dir=self.data_dir, device=self.device,
                          models_dir=self.models_dir, dtype=self.dtype, model_batch=self.model_batch,
                          cpu_precision=self.cpu_precision, env=self.env)


def make_spec(runner: Runner, *, library_root: str | None, use_gpu: bool) -> RunSpec:
    """The spec of ``runner``'s run, from its options and stages (fingerprints as it computed them)."""
    from comicdesk import __version__

    o = runner.options
    precision = (o.cpu_precision or "auto").strip().lower()
    precision = {"bf16": "bfloat16", "fp32": "float32"}.get(precision, precision)
    if precision == "auto":
        precision = "float32"
    dtype = o.dtype
    if dtype is None and use_gpu:
        dtype = "float16"
    return RunSpec(run_id=f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}", version=__version__,
                   profile=o.profile, stages=tuple(runner.stages),
                   versions={s.name: s.resolve_version() for s in runner.stages},
                   fingerprints={s.name: runner._fingerprint(s) for s in runner.stages},
                   cpu_precision=precision, dtype=dtype, model_batch=o.model_batch, batch_size=o.batch_size,
                   threads=max(1, o.threads), device=_device(o.device, use_gpu), env=o.env,
                   data_dir=str(o.data_dir) if o.data_dir else None,
                   models_dir=str(o.models_dir) if o.models_dir else None, limits=o.limits,
                   cache_dir=str(runner.cache_dir), library_root=library_root, use_gpu=use_gpu,
                   data_dir_seen=bool(o.data_dir) and os.path.isdir(o.data_dir))


def _device(asked: str | None, use_gpu: bool) -> str:
    """The model actors' device, the same kind on every node: ``cuda`` on GPU actors (Ray gives
    each its own GPU), else ``mps`` when asked for, else the CPU."""
    if use_gpu:
        return "cuda"
    kind = (asked or "auto").split(":", 1)[0]
    return "mps" if kind == "mps" else "cpu"


class NodeRefused(Exception):
    """A node cannot take part in the run (one line, naming the node)."""


_checked: dict[str, str | None] = {}


def check_node(spec: RunSpec) -> None:
    """Refuse (:class:`NodeRefused`, one line) when this node would compute something else or
    cannot reach the library: checked once per process and run."""
    if spec.run_id in _checked:
        if _checked[spec.run_id]:
            raise NodeRefused(_checked[spec.run_id])
        return
    problem = _node_problem(spec)
    _checked[spec.run_id] = problem and f"node {_node_name()}: {problem}"
    if problem:
        raise NodeRefused(_checked[spec.run_id])


def _node_name() -> str:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - only for the message
        return socket.gethostname()


def _node_problem(spec: RunSpec) -> str | None:
    from comicdesk import __version__

    same = "every node needs the library and the cache at the same absolute paths"
    if __version__ != spec.version:
        return f"has comicdesk {__version__}, the run {spec.version}; install the same version on every node"
    if spec.library_root and not os.path.isdir(spec.library_root):
        return f"cannot see the library at {spec.library_root} ({same})"
    if not os.path.isdir(spec.cache_dir):
        return f"cannot see the cache at {spec.cache_dir} ({same})"
    if not os.access(spec.cache_dir, os.W_OK):
        return f"cannot write the staging area in {spec.cache_dir}"
    if spec.data_dir and spec.data_dir_seen and not os.path.isdir(spec.data_dir):
        return f"cannot see the library's data folder at {spec.data_dir} ({same})"
    for s in spec.stages:
        try:
            v = s.resolve_version()
        except Exception as exc:  # noqa: BLE001 - a model module that does not import here
            return f"cannot prepare the {s.name} stage: {one_line(exc)}"
        if v != spec.versions.get(s.name):
            return f"has the {s.name} stage at version {v}, the run {spec.versions.get(s.name)}"
    if spec.cpu_precision == "bfloat16" and not spec.use_gpu:
        from comicdesk.ml.device import cpu_has_bf16

        if not cpu_has_bf16():
            return "its CPU has no native bfloat16, which the run asks for; use float32"
    return None


# -- the worker side ----------------------------------------------------------------------------------
_runners: dict[str, Runner] = {}


def _worker_runner(spec: RunSpec) -> Runner:
    """A runner of this run's stages that never runs: its decode and inference code serve the
    jobs the driver planned (one per process and run)."""
    r = _runners.get(spec.run_id)
    if r is None:
        r = Runner(Path(spec.cache_dir), stages=list(spec.stages), options=spec.options())
        r._budget = _Budget(2**62)
        _runners.clear()  # a worker process serves one run at a time
        _runners[spec.run_id] = r
    return r


def _job_from(spec: RunSpec, desc: dict) -> _Job:
    by_name = {s.name: s for s in spec.stages}
    job = _Job(desc["book"], desc["pass_no"], [by_name[n] for n in desc["stages"]], set(desc["todo"]),
               set(desc["load_kinds"]), desc["needs_image"], desc["image_size"])
    job.page_rows = desc["page_rows"]
    job.loaded = desc["loaded"]
    return job


def decode_pages(spec: RunSpec, desc: dict, start: int, stop: int) -> dict:
    """A Ray CPU task: open one book and decode its pages ``start`` to ``stop`` (a book goes in
    parts of :data:`PAGES_PER_TASK`, so a 600-page book never sits decoded in one process), with
    the local runner's decoder (the same checks that the book is the one catalogued, the same
    reduced decode, a bad page keeps its slot). Returns ``pages`` (PageData with images, the
    loaded outputs in ``outputs``) and ``rtl``, or ``failed: (reason, kind)``."""
    check_node(spec)
    r = _worker_runner(spec)
    job = _job_from(spec, desc)
    job.decode_only = range(start, stop)
    r._pages = queue.Queue()
    try:
        r._decode(job)
    except _Failed as f:
        return {"failed": (f.reason, f.kind)}
    except Exception as exc:  # noqa: BLE001 - a reader bug fails this book only
        return {"failed": (one_line(exc), "internal")}
    pages = []
    while True:
        _, item = r._pages.get_nowait()
        if item is _END:
            break
        pages.append(item)
    return {"pages": pages, "rtl": job.rtl}


class _Collector:
    """Stands in for the worker runner's result queue: hands each finished job to its caller."""

    def put(self, item) -> None:
        kind, job = item
        job.outcome = kind
        job.event.set()


class ModelWorker:
    """The body of a model actor: one set of models (the worker runner's inference thread), the
    pages of every book part it holds batched together (:meth:`run_pages`), a book's book-level
    stages once all its parts are through, then the book's shard (:meth:`finish_book`). Threaded
    (``max_concurrency``): each call waits for its own pages; every call is whole by itself, so
    Ray can retry any of them on a restarted actor."""

    def __init__(self, spec: RunSpec):
        check_node(spec)
        self.spec = spec
        self.r = _worker_runner(spec)
        self.r._results = _Collector()
        self.r._pages = queue.Queue()
        self.error: str | None = None
        self.waiting: dict[int, _Job] = {}
        self.lock = threading.Lock()
        spec.staging.mkdir(parents=True, exist_ok=True)
        threading.Thread(target=self._infer, daemon=True, name="comicdesk-ray-infer").start()

    def _infer(self) -> None:
        try:
            self.r._infer_loop()  # never ends by itself: its job queue is never closed
        except BaseException as exc:  # noqa: BLE001 - every waiting book hears it
            self.error = exc.reason if isinstance(exc, RunError) else f"the analysis stopped: {one_line(exc)}"
            with self.lock:
                for job in self.waiting.values():
                    job.event.set()

    def _through(self, job: _Job, pages: list) -> dict | None:
        """Hand ``pages`` (then the job's end) to the inference thread and wait for the job:
        None when done, else the answer to give (a failure, or the run's error)."""
        job.event = threading.Event()
        job.outcome = None
        with self.lock:
            if self.error:
                return {"error": self.error}
            self.waiting[id(job)] = job
        try:
            for page in pages:
                self.r._pages.put((job, page))
            self.r._pages.put((job, _END))
            job.event.wait()
        finally:
            with self.lock:
                self.waiting.pop(id(job), None)
        if job.outcome == "done":
            return None
        if self.error and job.outcome is None:
            return {"error": self.error}
        return {"failed": job.failed or ("the analysis stopped", "internal")}

    def run_pages(self, desc: dict, part: dict) -> dict:
        """The page-level stages over one decoded part of a book: its pages back with their
        outputs, images dropped."""
        if part.get("failed"):
            return part
        job = _job_from(self.spec, desc)
        job.stages = [s for s in job.stages if s.level == "page"]  # the book's stages: finish_book
        indexes = {p.index for p in part["pages"]}
        job.page_rows = [r for r in job.page_rows if r.index in indexes]
        job.rtl = part.get("rtl", False)
        problem = self._through(job, part["pages"])
        if problem:
            return problem
        return {"pages": [job.pages[i] for i in sorted(job.pages)], "rtl": job.rtl}

    def finish_book(self, desc: dict, *parts: dict) -> dict:
        """A book whose parts are all through: its book-level stages (on the inference thread,
        with this actor's models), then its shard. Returns the shard's path, or the failure."""
        for part in parts:
            if part.get("failed") or part.get("error"):
                return part
        job = _job_from(self.spec, desc)
        job.rtl = parts[0].get("rtl", False) if parts else False
        job.pages = {p.index: p for part in parts for p in part["pages"]}
        job.through = len(job.pages)
        if job.through != len(job.page_rows):
            return {"failed": (f"{job.through} of the book's {len(job.page_rows)} pages came back", "internal")}
        problem = self._through(job, [])  # no pages: only the end, and the book-level stages
        if problem:
            return problem
        path = self.spec.staging / f"b{job.book_id}-p{job.pass_no}{SHARD_SUFFIX}"
        write_shard(path, self.spec, job)
        return {"shard": str(path), "pages": len(job.pages)}

    def ping(self) -> str:
        return _node_name()

    def pid(self) -> int:
        return os.getpid()


def write_shard(path: Path, spec: RunSpec, job: _Job) -> None:
    """One book's results, durable before the driver hears of them: a temporary file fsynced and
    renamed (a reader never sees half a shard)."""
    pages = [job.pages[i] for i in sorted(job.pages)]
    for p in pages:
        p.image = None
    body = {"digest": spec.digest, "book_id": job.book_id, "pass_no": job.pass_no,
            "content_key": job.book.content_key, "stages": [s.name for s in job.stages],
            "rtl": job.rtl, "pages": pages}
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(body, fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def read_shard(path: Path) -> dict | None:
    try:
        with open(path, "rb") as fh:
            body = pickle.load(fh)
    except Exception:  # noqa: BLE001 - damaged or from another comicdesk: not used
        return None
    return body if isinstance(body, dict) and "digest" in body else None


# -- the driver -------------------------------------------------------------------------------------
def import_ray():
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RunError(INSTALL_LINE) from None
    return ray


def check_address(address: str) -> None:
    """``host:port`` must answer within :data:`CONNECT_TIMEOUT` (Ray itself would wait minutes,
    printing as it goes). ``auto`` and ``ray://`` addresses are left to Ray."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RunError(f"--address {address}: give the head node as HOST:PORT (ray start --head prints it)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise RunError(f"no Ray cluster answers at {address} ({exc.strerror or one_line(exc)}); "
                       "start one with: ray start --head") from None


class RayRunner(Runner):
    """A :class:`Runner` whose decoding and models run on Ray. ``address``: join that cluster;
    None: start a local Ray (``num_cpus``: this machine's cores) for the run and stop it after.
    ``library_root``: the folder every node must see. Planning, events, the write loop and the
    commit are the runner's; only the work between them moves."""

    def __init__(self, cache_dir: Path, *, address: str | None = None, library_root: str | os.PathLike | None = None,
                 num_cpus: int | None = None, **kwargs):
        super().__init__(cache_dir, **kwargs)
        self.address = address
        self.library_root = str(library_root) if library_root is not None else None
        self.num_cpus = num_cpus
        self._ray = None
        self._started_ray = False
        self._shards: dict[int, Path] = {}  # job id → its shard, deleted once committed
        self._leftover: dict[tuple[int, int], tuple[Path, dict]] = {}
        self.spec: RunSpec | None = None
        self.actors: list = []
        self.start_seconds: float | None = None
        self.resubmitted = 0  # books sent again after their Ray calls failed past Ray's retries

    # -- lifecycle ------------------------------------------------------------------------------
    def run(self, book_ids=None):
        if self.address is not None:
            check_address(self.address)
        import_ray()
        try:
            return super().run(book_ids)
        finally:
            self._stop_ray()

    def _start_ray(self) -> None:
        ray = import_ray()
        import logging

        if not ray.is_initialized():
            common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                          ignore_reinit_error=True)
            # The local Ray's processes start with Ctrl-C ignored (they inherit it): a terminal's
            # Ctrl-C reaches the whole process group, and only the driver should hear it (it
            # cancels the run and stops them itself).
            try:
                previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            except ValueError:  # not the main thread
                previous = None
            try:
                if self.address is not None:
                    ray.init(address=self.address, **common)
                else:
                    ray.init(num_cpus=self.num_cpus or max(1, os.cpu_count() or 1), **common)
            except Exception as exc:  # noqa: BLE001 - Ray says why in its own words
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
                raise RunError(f"cannot start {where}: {one_line(exc)}") from None
            finally:
                if previous is not None:
                    signal.signal(signal.SIGINT, previous)
            self._started_ray = True
        self._ray = ray

    def _stop_ray(self) -> None:
        ray, self._ray = self._ray, None
        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001
                pass
        self.actors = []
        if ray is not None and self._started_ray:
            try:
                ray.shutdown()
            except Exception:  # noqa: BLE001
                pass
            self._started_ray = False

    # -- the shards of an earlier run ------------------------------------------------------------
    def _run(self, book_ids, result, t0) -> None:
        self._find_leftovers()
        try:
            super()._run(book_ids, result, t0)
        finally:
            self._clean_staging()

    def _find_leftovers(self) -> None:
        """Shards a dead run left: kept to be committed when this run plans the same work (checked
        when the job comes up), the rest deleted at the end."""
        root = self.cache_dir / STAGING_DIR
        if not root.is_dir():
            return
        for path in sorted(root.glob(f"*/*{SHARD_SUFFIX}")):
            body = read_shard(path)
            if body is not None:
                self._leftover[(body["book_id"], body["pass_no"])] = (path, body)

    def _clean_staging(self) -> None:
        """Leftover shards this run did not take are deleted with their folders; this run's own
        folder goes when it holds no shard (a cancelled run's uncommitted shards stay for the next)."""
        root = self.cache_dir / STAGING_DIR
        if not root.is_dir():
            return
        mine = self.spec.run_id if self.spec is not None else None
        for folder in root.iterdir():
            if folder.name == mine and any(folder.glob(f"*{SHARD_SUFFIX}")):
                for tmp in folder.glob("*.tmp"):
                    tmp.unlink(missing_ok=True)
                continue
            shutil.rmtree(folder, ignore_errors=True)
        try:
            root.rmdir()
        except OSError:
            pass

    def _usable_leftover(self, job: _Job) -> Path | None:
        found = self._leftover.pop((job.book_id, job.pass_no), None)
        if found is None:
            return None
        path, body = found
        if (body["digest"] == self.spec.digest and body["content_key"] == job.book.content_key
                and body["stages"] == [s.name for s in job.stages]):
            return path
        return None

    # -- the work: Ray instead of the decode and inference threads --------------------------------
    def _start_threads(self) -> None:
        t0 = time.monotonic()
        self._start_ray()
        ray = self._ray
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        device = (self.options.device or "auto").split(":", 1)[0]
        use_gpu = gpus > 0 and device in ("auto", "cuda")
        self.spec = make_spec(self, library_root=self.library_root, use_gpu=use_gpu)
        _ship_by_value(self.spec.stages)
        self._spec_ref = ray.put(self.spec)
        self._check_nodes()
        cpus = float(resources.get("CPU", 1))
        n = gpus if use_gpu else max(1, int(cpus))
        actor_cls = ray.remote(ModelWorker).options(
            num_cpus=1 if use_gpu else ACTOR_CPUS, num_gpus=1 if use_gpu else 0,
            max_restarts=RETRIES, max_task_retries=RETRIES, max_concurrency=4 * BOOKS_PER_ACTOR)
        self.actors = [actor_cls.remote(self.spec) for _ in range(n)]  # small: inlined, so a restart has it
        try:
            ray.get([a.ping.remote() for a in self.actors])
        except Exception as exc:  # noqa: BLE001 - a refusal or a model worker that cannot start
            raise RunError(_cause(exc)) from None
        self.start_seconds = time.monotonic() - t0  # Ray up, nodes checked, model workers started
        self._decode_task = ray.remote(decode_pages).options(num_cpus=DECODE_CPUS, max_retries=RETRIES)
        self._slots = threading.Semaphore(n * BOOKS_PER_ACTOR + 1)
        t = threading.Thread(target=self._guard, args=(self._dispatch_loop,), daemon=True,
                             name="comicdesk-ray-dispatch")
        self._threads.append(t)
        t.start()

    def _check_nodes(self) -> None:
        """Every alive node checks the spec before any work (one line for the first refusal)."""
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        probe = ray.remote(_probe)
        refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(self._spec_ref) for n in ray.nodes() if n.get("Alive")]
        for problem in ray.get(refs):
            if problem:
                raise RunError(problem)

    def _dispatch_loop(self) -> None:
        ray = self._ray
        inflight: dict[Any, tuple[_Job, Any, list]] = {}  # shard ref → (job, actor, its parts' refs)
        load = {id(a): 0 for a in self.actors}
        tries: dict[int, int] = {}  # job id → times sent
        # Parts whose pages are counted as they come through (the progress bar moves within a
        # book), once each even when a book is sent again (``job.parts_counted``).
        pending_parts: dict[Any, tuple[_Job, int, int]] = {}  # part ref → (job, first page, pages)

        dead: set[int] = set()  # actors Ray gave up restarting

        def submit(job: _Job) -> None:
            alive = [a for a in self.actors if id(a) not in dead]
            if not alive:
                raise RunError("every Ray model worker died (see the Ray logs on the nodes); what was "
                               "committed is kept: run comicdesk index again")
            actor = min(alive, key=lambda a: load[id(a)])
            desc = ray.put(self._describe(job))
            n = len(job.page_rows)
            parts = []
            if not hasattr(job, "parts_counted"):
                job.parts_counted = set()
            for a in range(0, max(1, n), PAGES_PER_TASK):
                b = min(n, a + PAGES_PER_TASK)
                part = actor.run_pages.remote(desc, self._decode_task.remote(self._spec_ref, desc, a, b))
                parts.append(part)
                if a not in job.parts_counted:
                    pending_parts[part] = (job, a, b - a)
            ref = actor.finish_book.remote(desc, *parts)  # runs once every part is through
            load[id(actor)] += 1
            tries[id(job)] = tries.get(id(job), 0) + 1
            inflight[ref] = (job, actor, parts)

        while True:
            if self._cancel.is_set():
                for ref, (_, _, parts) in inflight.items():
                    for r in (ref, *parts):
                        try:
                            ray.cancel(r)
                        except Exception:  # noqa: BLE001
                            pass
                return
            if self._running.is_set():
                while self._slots.acquire(blocking=False):
                    job = self._try_pop()
                    if job is None:
                        self._slots.release()
                        break
                    path = self._usable_leftover(job)
                    if path is not None:  # a dead run's shard: committed, not redone
                        self._hand_over(job, {"shard": str(path)})
                        continue
                    submit(job)
            if not inflight:
                if self._jobs._closed and not len(self._jobs):
                    return
                time.sleep(0.02)
                continue
            waiting = list(inflight) + list(pending_parts)
            ready, _ = ray.wait(waiting, num_returns=1, timeout=0.1, fetch_local=False)
            for ref in ready:
                if ref in pending_parts:
                    job, first, size = pending_parts.pop(ref)
                    if first not in job.parts_counted and job.failed is None:
                        job.parts_counted.add(first)
                        with self._lock:
                            job.counted_pages += size
                            self._pages_through += size
                    continue
                job, actor, parts = inflight.pop(ref)
                for part in parts:
                    pending_parts.pop(part, None)
                load[id(actor)] -= 1
                try:
                    out = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - its workers died more often than Ray retries
                    if isinstance(exc, ray.exceptions.RayActorError):
                        dead.add(id(actor))
                    if tries[id(job)] < RESUBMITS and not self._cancel.is_set():
                        self.resubmitted += 1
                        submit(job)  # once more from the start, on the least busy actor
                        continue
                    out = {"failed": (LOST.format(_cause(exc)), "unreadable")}
                tries.pop(id(job), None)
                if out.get("error"):
                    raise RunError(out["error"])
                self._hand_over(job, out)

    def _try_pop(self) -> _Job | None:
        import heapq

        q = self._jobs
        with q._cond:
            return heapq.heappop(q._heap)[2] if q._heap else None

    def _describe(self, job: _Job) -> dict:
        return {"book": job.book, "pass_no": job.pass_no, "stages": [s.name for s in job.stages],
                "todo": sorted(job.todo), "load_kinds": sorted(job.load_kinds), "needs_image": job.needs_image,
                "image_size": job.image_size, "page_rows": job.page_rows, "loaded": job.loaded}

    def _hand_over(self, job: _Job, out: dict) -> None:
        """A worker's answer to the writer: the shard read back into the job (committed by the
        runner's write loop), or the book's failure."""
        if out.get("shard"):
            path = Path(out["shard"])
            body = read_shard(path)
            if body is None or body["digest"] != self.spec.digest or body["book_id"] != job.book_id:
                out = {"failed": (f"the shard of this book ({path.name}) could not be read back", "unreadable")}
            else:
                job.rtl = body["rtl"]
                job.pages = {p.index: p for p in body["pages"]}
                n = len(job.pages)
                with self._lock:
                    job.through = n
                    self._pages_through += max(0, n - job.counted_pages)  # parts not counted yet
                    job.counted_pages = n
                self._shards[id(job)] = path
                self._results.put(("done", job))
                return
        reason, kind = out["failed"]
        with self._lock:
            if job.failed is None:
                job.failed = (reason, kind)
        self._results.put(("failed", job))

    def _commit(self, job: _Job, result) -> None:
        from comicdesk.pipeline.outputs import OutputError

        try:
            super()._commit(job, result)
        except OutputError as exc:  # checked before anything is written: the book fails whole
            job.failed = (f"a Ray worker's results for this book are off their declared shape: {exc}", "stage")
            self._record_failure(job, result)
        finally:
            path = self._shards.pop(id(job), None)
            if path is not None:
                path.unlink(missing_ok=True)

    def commit_results(self, book, pages, stages, *, decoded: bool, validate: bool = True) -> int:
        """The runner's one-writer entry point, always validating: these results were computed
        in other processes and came through a file."""
        return super().commit_results(book, pages, stages, decoded=decoded, validate=True)


def _ship_by_value(stages: Sequence[StageSpec]) -> None:
    """Stages from outside an installed package (a test's, a script's) travel with the spec: the
    workers cannot import their module. comicdesk's own and installed plugins' are imported there."""
    from ray import cloudpickle

    for s in stages:
        for fn in (s.load, s.version, *(v.group_attrs for v in s.vectors)):
            name = getattr(fn, "__module__", None)
            module = sys.modules.get(name or "")
            path = getattr(module, "__file__", None) or ""
            if module is None or name.split(".")[0] == "comicdesk" or "-packages" in path:
                continue
            try:
                cloudpickle.register_pickle_by_value(module)
            except (ValueError, TypeError):  # __main__ and the like: pickled by value anyway
                pass


def _probe(spec: RunSpec) -> str | None:
    try:
        check_node(spec)
    except NodeRefused as exc:
        return str(exc)
    return None


def _cause(exc: BaseException) -> str:
    """The innermost reason of a Ray error, one line."""
    inner = getattr(exc, "cause", None)
    if isinstance(inner, NodeRefused):
        return str(inner)
    text = one_line(inner if inner is not None else exc)
    for line in str(exc).splitlines()[::-1]:
        if "NodeRefused:" in line:
            return line.split("NodeRefused:", 1)[1].strip()
    return text


def ray_runner(cache_dir: Path, *, address: str | None = None, library_root=None,
               num_cpus: int | None = None, **kwargs) -> RayRunner:
    return RayRunner(cache_dir, address=address, library_root=library_root, num_cpus=num_cpus, **kwargs)


__all__ = ["RayRunner", "import_ray", "RunSpec", "NodeRefused", "STAGING_DIR", "check_node", "check_address",
           "decode_pages", "make_spec", "read_shard", "write_shard"]
