"""Ray engine benchmark: pages/s of ``comicdesk index`` on this machine, local runner vs ``--engine ray``.

    python tests/bench/bench_ray.py [--library resources/sample-library] [--repeat 1] [--cpus N]

Each measurement runs in a child process of its own with a fresh cache: scan the library, then
analyse it with every stage of the standard profile (both passes), with the options
``comicdesk index`` uses (``foreground_options``: a model worker per core, one thread each), the
small CPU models in float32 for both (the engine fixes ``auto`` to float32 on every node; the
local run could otherwise pick bfloat16 and compare something else). ``local`` and ``ray`` runs
alternate (the machine is shared: alternating spreads its load over both).

Figures per engine (median over the repeats): the run's seconds (planning to last commit;
for Ray that includes starting the local Ray and its model workers), pages/s over it, and for
Ray the start-up seconds and the pages/s without them (the steady-state cost of the engine).
``overhead`` = 1 - ray pages/s / local pages/s. The default library is the sample library's
public-domain Golden Age scans (real pages: 4 books, 51 pages; only read). Prints the figures and,
last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def child(engine: str, library: Path, cache_root: Path, cpus: int | None) -> dict:
    from comicdesk.core.settings import Settings
    from comicdesk.pipeline.runner import foreground_options
    from comicdesk.services.library import scan_library

    from comicdesk.core.events import BookFailed

    failures: list[str] = []

    def on_event(event) -> None:
        if isinstance(event, BookFailed):
            failures.append(f"{Path(event.path).name}: {event.reason}")

    settings = Settings.resolve(cache_root / "cache", cache_root / "data", "standard", env={})
    scan = scan_library(library, settings)
    options = foreground_options(settings, scan.library_id, cpu_precision="float32")
    cache = settings.library_cache_dir(scan.library_id)
    if engine == "ray":
        from comicdesk.pipeline.ray_engine import RayRunner
        from comicdesk.services.analysis import after_vectors

        runner = RayRunner(cache, options=options, library_root=scan.root, num_cpus=cpus,
                           after_vectors=after_vectors, on_event=on_event)
    else:
        from comicdesk.services.analysis import make_runner

        runner = make_runner(cache, options=options, on_event=on_event)
    t = time.monotonic()
    result = runner.run([b.id for b in scan.books if b.id is not None])
    wall = time.monotonic() - t
    return {"engine": engine, "seconds": round(wall, 2), "pages": result.pages, "done": result.done,
            "failed": result.failed, "start_seconds": round(getattr(runner, "start_seconds", None) or 0.0, 2),
            "workers": options.inference_workers, "threads": options.threads, "failures": failures}


def measure(engine: str, library: Path, cpus: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="comicdesk-bench-ray-") as tmp:
        cmd = [sys.executable, __file__, "--child", engine, "--library", str(library), "--tmp", tmp]
        if cpus:
            cmd += ["--cpus", str(cpus)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"{engine} run failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", default=str(REPO / "resources" / "sample-library"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cpus", type=int, default=None, help="the local Ray's CPUs (default: this machine's cores)")
    ap.add_argument("--child", choices=("local", "ray"))
    ap.add_argument("--tmp")
    args = ap.parse_args()
    library = Path(args.library).resolve()
    if args.child:
        print(json.dumps(child(args.child, library, Path(args.tmp), args.cpus)))
        return
    runs: dict[str, list[dict]] = {"local": [], "ray": []}
    for i in range(args.repeat):
        for engine in ("local", "ray"):
            r = measure(engine, library, args.cpus)
            runs[engine].append(r)
            rate = r["pages"] / r["seconds"]
            extra = f", start-up {r['start_seconds']:.1f} s" if engine == "ray" else ""
            extra += "".join(f"\n  FAILED {line}" for line in r["failures"])
            print(f"[{i + 1}/{args.repeat}] {engine:<5} {r['pages']} pages in {r['seconds']:.1f} s: "
                  f"{rate:.2f} pages/s{extra}", flush=True)
    med = {e: {"seconds": statistics.median(r["seconds"] for r in rs),
               "rate": statistics.median(r["pages"] / r["seconds"] for r in rs),
               "steady_rate": statistics.median(r["pages"] / max(1e-9, r["seconds"] - r["start_seconds"])
                                                for r in rs),
               "start_seconds": statistics.median(r["start_seconds"] for r in rs)} for e, rs in runs.items()}
    local, ray = med["local"], med["ray"]
    overhead = 1 - ray["rate"] / local["rate"]
    steady = 1 - ray["steady_rate"] / local["rate"]
    pages = runs["local"][0]["pages"]
    print(f"library {library} ({pages} pages through the models, both passes), {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"local: {local['rate']:.2f} pages/s ({local['seconds']:.1f} s)")
    print(f"ray:   {ray['rate']:.2f} pages/s ({ray['seconds']:.1f} s, of which {ray['start_seconds']:.1f} s "
          f"starting Ray and its model workers; {ray['steady_rate']:.2f} pages/s without them)")
    print(f"overhead: {overhead * 100:.1f} % of the whole run, {steady * 100:.1f} % once started (goal <= 15 %)")
    print(json.dumps({"bench": "ray", "library": str(library), "pages": pages, "cores": os.cpu_count(),
                      "repeat": args.repeat, "local_pages_per_s": round(local["rate"], 3),
                      "ray_pages_per_s": round(ray["rate"], 3), "ray_steady_pages_per_s": round(ray["steady_rate"], 3),
                      "ray_start_s": round(ray["start_seconds"], 2), "local_s": round(local["seconds"], 2),
                      "ray_s": round(ray["seconds"], 2), "overhead": round(overhead, 4),
                      "overhead_steady": round(steady, 4), "runs": runs}))


if __name__ == "__main__":
    main()
