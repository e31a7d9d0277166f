"""Device equivalence bench (issue 22): the standard profile's whole pipeline on a device against
the CPU in float32, on the pipeline bench's generated library (synthetic pages).

    python tests/bench/bench_device.py --device cuda                  # on a machine with a GPU
    python tests/bench/bench_device.py --device cpu --precision bfloat16   # what differs on a CPU
    python tests/bench/bench_device.py --device cpu --stand-in             # a GPU's float16, on the CPU
    [--books 6] [--pages 6] [--width 1300] [--height 2000] [--threads 1] [--workers 1] [--dir DIR]
    [--library PATH]   # an existing library of real books instead (read only, never written)

Two runs, each into a fresh cache of the same library (both passes, every registered stage of the
standard profile, each stage's function timed as in tests/bench/bench_pipeline.py):

- **reference**: ``device=cpu``, CPU precision float32 (no timing-based choice);
- **device**: ``--device`` as ``comicdesk index --device`` would run it (the settings' path: the
  run options' device, each model's plan: ``comicdesk.ml.device.plan_model``), with
  ``--precision`` as the CPU precision when that device is the CPU (``auto`` times it; on a GPU
  the plan is float16 whatever it says). ``--stand-in``: the device run's models are planned as on
  a GPU (float16, the GPU batches) but built on the CPU — a GPU's numbers without a GPU (slow:
  float16 convolutions on a CPU; use a small library).

Printed: pages/s per stage for both runs (pages / seconds inside the stage's function; CPU seconds
beside), and how far the device's results are from the reference's: per vector array
(``page_image``, ``panel_emb``, ``page_text``, ``panel_text``) the minimum and 1st-percentile
cosine and the share of rows at cosine >= 0.999; page classes: the share of pages whose label
agrees (>= 99.5 % asked); recognised text: the share of lines read the same. Goals: every vector
at cosine >= 0.999, labels >= 99.5 %. Last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "bench"))

from bench_pipeline import make_library, timed  # noqa: E402

ARRAYS = ("page_image", "panel_emb", "page_text", "panel_text")


def analyse(lib: Path, work: Path, *, device: str, precision: str, threads: int, workers: int) -> dict:
    """Both passes of the standard profile over ``lib`` into a fresh cache under ``work``."""
    from comicdesk.core.settings import Settings
    from comicdesk.library.service import scan_library
    from comicdesk.pipeline import registry
    from comicdesk.pipeline.runner import RunOptions, library_dirs
    from comicdesk.services.analysis import make_runner
    from comicdesk.services.devices import check_device

    from comicdesk.ml.device import resolve_device

    settings = Settings.resolve(work / "cache", work / "data", "standard", env={}, device=device)
    check_device(settings)  # a device this machine lacks: one line, as the CLI says it
    resolved = resolve_device(settings.device)
    library_id = scan_library(lib, settings).library_id
    cache = settings.library_cache_dir(library_id)
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    stages = [timed(s, totals, counts) for s in registry.stages("standard")]
    values = library_dirs(settings, library_id)
    values.update(cpu_precision=precision, cpu_choices_file=None)
    options = RunOptions(threads=threads, inference_workers=workers, nice=0, **values)
    t0 = time.perf_counter()
    r1 = make_runner(cache, stages=[s for s in stages if s.pass_no == 1], options=options).run()
    t1 = time.perf_counter()
    r2 = make_runner(cache, stages=stages, options=options).run()
    t2 = time.perf_counter()
    from comicdesk.ml import device as dev

    chosen = {k: str(v).replace("torch.", "") for k, v in dev._picked.items()}
    dev._picked.clear()  # the next run chooses again (another precision may be asked)
    from comicdesk.library.catalog import Catalog

    with Catalog.open(cache, readonly=True) as cat:
        books = cat.all_books()
        pages = sum(len(cat.pages(b.id)) for b in books)
    return {"cache": cache, "device": resolved, "failed": r1.failed + r2.failed, "pass1_s": t1 - t0,
            "books": len(books), "pages": pages,
            "pass2_s": t2 - t1, "stage_s": {s.name: totals[s.name] for s in stages},
            "stage_cpu_s": {s.name: totals["cpu:" + s.name] for s in stages},
            "stage_pages": {s.name: counts[s.name] for s in stages}, "cpu_precision": chosen}


def stand_in_for_a_gpu() -> None:
    """From here on, a CPU model plan is a GPU's: float16 and the GPU batch, tensors on the CPU."""
    from comicdesk.ml import device as dev

    real = dev.plan_model

    def as_on_a_gpu(device="auto", *, cpu_batch, gpu_batch, cpu_precision="auto", gpu_precision=None):
        plan = real(device, cpu_batch=cpu_batch, gpu_batch=gpu_batch, cpu_precision=cpu_precision,
                    gpu_precision=gpu_precision)
        return dev.ModelPlan(plan.device, "float16", gpu_batch) if plan.kind == "cpu" else plan

    dev.plan_model = as_on_a_gpu


def _by_path(cache: Path):
    """Book id -> path, the vectors by (path, page, panel), page labels and text lines."""
    import numpy as np

    from comicdesk.cache.vectors import VectorStore
    from comicdesk.library.catalog import Catalog

    out = {"vectors": {}, "labels": {}, "text": {}}
    with Catalog.open(cache, readonly=True) as cat, VectorStore.open(cache, catalog=cat, readonly=True) as store:
        paths = {b.id: Path(b.path).name for b in cat.all_books()}
        for array in ARRAYS:
            keys, rows = store.load("standard-1", array)
            out["vectors"][array] = {(paths[int(k[0])], int(k[1]), int(k[2])): r
                                     for k, r in zip(keys, np.asarray(rows, np.float32))}
        for book_id, name in paths.items():
            for page, outs in cat.page_outputs(book_id).items():
                for o in outs:
                    if o.source == "model":
                        out["labels"][(name, page, o.model_id)] = o.label
            for page, lines in cat.text_lines(book_id).items():
                for i, ln in enumerate(lines):
                    out["text"][(name, page, i)] = getattr(ln, "text", None)
    return out


def compare(ref: dict, dev: dict) -> dict:
    import numpy as np

    a, b = _by_path(ref["cache"]), _by_path(dev["cache"])
    result: dict = {"vectors": {}}
    for array in ARRAYS:
        ra, rb = a["vectors"][array], b["vectors"][array]
        common = sorted(set(ra) & set(rb))
        cos = []
        for k in common:
            x, y = ra[k].astype(np.float64), rb[k].astype(np.float64)
            nx, ny = np.linalg.norm(x), np.linalg.norm(y)
            cos.append(1.0 if nx == ny == 0 else float(x @ y / max(nx * ny, 1e-12)))
        cos = np.asarray(cos) if cos else np.ones(0)
        result["vectors"][array] = {
            "rows": len(common), "only_in_one": len(set(ra) ^ set(rb)),
            "min_cos": round(float(cos.min()), 6) if cos.size else None,
            "p1_cos": round(float(np.percentile(cos, 1)), 6) if cos.size else None,
            "share_ge_0999": round(float((cos >= 0.999).mean()), 4) if cos.size else None}
    keys = sorted(set(a["labels"]) | set(b["labels"]))
    agree = sum(a["labels"].get(k) == b["labels"].get(k) for k in keys)
    result["labels"] = {"pages": len(keys), "agree": agree, "share": round(agree / max(1, len(keys)), 4)}
    keys = sorted(set(a["text"]) | set(b["text"]))
    same = sum(a["text"].get(k) == b["text"].get(k) for k in keys)
    result["text_lines"] = {"lines": len(keys), "same": same, "share": round(same / max(1, len(keys)), 4)}
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto", help="the device run compared to the CPU float32 run")
    ap.add_argument("--precision", default="bfloat16",
                    help="CPU precision of the device run when its device is the CPU (float32|bfloat16|auto)")
    ap.add_argument("--books", type=int, default=6)
    ap.add_argument("--pages", type=int, default=6)
    ap.add_argument("--width", type=int, default=1300)
    ap.add_argument("--height", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--dir", type=Path, help="where the generated library is kept (made there)")
    ap.add_argument("--library", type=Path, help="an existing library (real pages) instead; only read")
    ap.add_argument("--stand-in", action="store_true",
                    help="plan the device run's models as on a GPU (float16, GPU batches), built on the CPU")
    args = ap.parse_args()

    from comicdesk.core.errors import ComicdeskError
    from comicdesk.pipeline.runner import limit_malloc_arenas

    if args.library:
        lib = args.library.expanduser().absolute()
        if not lib.is_dir():
            print(f"bench_device: {lib}: no such folder", file=sys.stderr)
            raise SystemExit(1)
    else:
        lib = args.dir or Path(tempfile.gettempdir()) / "comicdesk-bench-pipeline" / \
            f"{args.books}x{args.pages}-{args.width}x{args.height}"
        make_library(lib, args.books, args.pages, args.width, args.height)
    limit_malloc_arenas()
    work = Path(tempfile.mkdtemp(prefix="comicdesk-bench-device-"))
    try:
        try:
            ref = analyse(lib, work / "ref", device="cpu", precision="float32", threads=args.threads,
                          workers=args.workers)
            n_pages = ref["pages"]
            print(f"library: {lib} ({ref['books']} books, {n_pages} {'real' if args.library else 'synthetic'} pages)")
            if args.stand_in:
                stand_in_for_a_gpu()
            run = analyse(lib, work / "dev", device=args.device, precision=args.precision, threads=args.threads,
                          workers=args.workers)
        except ComicdeskError as exc:
            print(f"bench_device: {exc.reason}", file=sys.stderr)
            raise SystemExit(1) from None
        if args.stand_in:
            label = "cpu as a GPU: float16"
        else:
            label = f"{run['device']}" + (f" {args.precision}" if run["device"] == "cpu" else " (plan: float16)")
        per_stage = {}
        print(f"{'stage':<18} {'cpu float32':>22} {label:>26}")
        for name in ref["stage_s"]:
            row = {}
            for key, r in (("reference", ref), ("device", run)):
                s, n = r["stage_s"][name], r["stage_pages"][name]
                row[key] = {"pages_per_s": round(n / s, 2) if s > 0 else None,
                            "cpu_s_per_page": round(r["stage_cpu_s"][name] / max(1, n), 4)}
            per_stage[name] = row
            fmt = lambda v: f"{v['pages_per_s'] or 0:8.1f} p/s {v['cpu_s_per_page'] * 1000:6.0f} ms CPU"  # noqa: E731
            print(f"{name:<18} {fmt(row['reference']):>22} {fmt(row['device']):>26}")
        both = {k: round(n_pages / (r["pass1_s"] + r["pass2_s"]), 3) for k, r in (("reference", ref), ("device", run))}
        print(f"both passes: reference {both['reference']} pages/s, device {both['device']} pages/s")
        cmp = compare(ref, run)
        for array, v in cmp["vectors"].items():
            print(f"  {array:<11} {v['rows']:>5} rows: min cosine {v['min_cos']}, 1st percentile {v['p1_cos']}, "
                  f"{(v['share_ge_0999'] or 0) * 100:.1f}% >= 0.999" + (f"; {v['only_in_one']} rows in one run only"
                                                                        if v["only_in_one"] else ""))
        lab, txt = cmp["labels"], cmp["text_lines"]
        print(f"  page classes: {lab['agree']} / {lab['pages']} agree ({lab['share'] * 100:.1f}%); "
              f"text lines read the same: {txt['same']} / {txt['lines']} ({txt['share'] * 100:.1f}%)")
        vec_ok = all(v["min_cos"] is None or v["min_cos"] >= 0.999 for v in cmp["vectors"].values())
        print(f"goals: vectors cosine >= 0.999: {'met' if vec_ok else 'missed'}; labels >= 99.5%: "
              f"{'met' if lab['share'] >= 0.995 else 'missed'}; CPU precision chosen in the device run: "
              f"{run['cpu_precision'] or '-'}")
        print(json.dumps({"bench": "device", "device": run["device"], "stand_in": bool(args.stand_in),
                          "precision": args.precision if run["device"] == "cpu" and not args.stand_in else "float16",
                          "books": ref["books"], "pages": n_pages, "library": str(lib),
                          "synthetic": not args.library, "failed": ref["failed"] + run["failed"], "both_pages_per_s": both,
                          "stages": per_stage, **cmp, "vectors_met": vec_ok, "labels_met": lab["share"] >= 0.995}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
