"""Similar-panel search benchmark: exact and IVF indexes over clustered 256-d float16 vectors.

    python tests/bench/bench_search.py [--quick] [--sizes 100000,1000000] [--queries 300]
                                       [--sweep 16,32,64,128]

Vectors (``clustered``): not uniform noise but what panel embeddings look like — 2,400
sub-clusters grouped under 60 "styles" (a centre per style, sub-centres around it), cluster sizes
drawn from a Zipf law (a few huge series, many small ones), per-cluster spread drawn between 0.05
and 0.11 per dimension along an anisotropic noise (a decaying spectrum in a random basis, as real
embeddings have), then 5 % near-duplicates (the same panel scanned twice: cosine ≈ 0.98) — unit
rows stored float16, like ``standard-1/panel_emb``. With these, a query's 10th neighbour has a
median cosine of about 0.67 and a random pair about 0.

Measured per size, through :class:`comicdesk.search.index.VectorIndex` (the code the app runs):

- build time (transform, fingerprints, training and filling the IVF lists), then save and load
  times of the persisted files;
- RAM per vector: the index's own structures (``memory_bytes``) and the RSS growth of loading the
  saved index in this process;
- latency of one query for k = 10 (p50, p99 over ``--queries`` queries, one at a time, queries are
  stored vectors as in "find similar to this panel"), for the exact backend at 100K and the IVF
  backend at every size; recall@10 of IVF against exact search on the same vectors;
- ``--sweep``: recall and latency of other ``nprobe`` values at the largest size;
- adding 1 % more rows to the largest index (an incremental update after a run).

``--quick`` runs 100K only (a minute). Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

DIM = 256


def clustered(n: int, dim: int = DIM, *, seed: int = 0, styles: int = 60, per_style: int = 40,
              dup_frac: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    spectrum = (np.arange(1, dim + 1) ** -0.6).astype(np.float32)
    spectrum *= np.sqrt(dim / np.sum(spectrum ** 2))
    basis = (spectrum[:, None] * q.T).astype(np.float32)  # anisotropic noise = z @ basis
    style = rng.standard_normal((styles, dim)).astype(np.float32)
    style /= np.linalg.norm(style, axis=1, keepdims=True)
    nc = styles * per_style
    sub = style[np.repeat(np.arange(styles), per_style)] + 0.08 * (
        rng.standard_normal((nc, dim)).astype(np.float32) @ basis)
    sub /= np.linalg.norm(sub, axis=1, keepdims=True)
    sizes = np.minimum(rng.zipf(1.6, nc).astype(np.float64), 200)
    assign = rng.choice(nc, n, p=sizes / sizes.sum())
    spread = rng.uniform(0.05, 0.11, nc).astype(np.float32)
    out = np.empty((n, dim), np.float16)
    for i in range(0, n, 100_000):
        a = assign[i:i + 100_000]
        x = sub[a] + spread[a, None] * (rng.standard_normal((len(a), dim), dtype=np.float32) @ basis)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[i:i + 100_000] = x
    nd = int(n * dup_frac)
    src, dst = rng.integers(0, n, nd), rng.integers(0, n, nd)
    x = out[src].astype(np.float32) + 0.01 * rng.standard_normal((nd, dim), dtype=np.float32)
    out[dst] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
    return out


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latency(fn, queries: np.ndarray) -> tuple[float, float, np.ndarray]:
    times, out = [], []
    fn(queries[:1])  # warm
    for i in range(len(queries)):
        t = time.perf_counter()
        _, pos = fn(queries[i:i + 1])
        times.append(time.perf_counter() - t)
        out.append(pos[0][:10])
    return (float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3),
            np.asarray(out))


CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
import numpy as np, faiss
from comicdesk.search import index as ix
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * __import__("os").sysconf("SC_PAGE_SIZE")
base = rss()
t = time.perf_counter()
idx = ix.VectorIndex.load(__import__("pathlib").Path({folder!r}), "standard-1", "panel_emb", {dim})
took = time.perf_counter() - t
idx.search(np.ones((1, {dim}), np.float32) / {dim} ** 0.5, 10)
assert idx.live_count == {n}
print(took, rss() - base)
"""


def load_in_child(folder: Path, n: int) -> tuple[float, float]:
    """Load the saved index in a fresh process: (seconds, RSS growth per vector in bytes)."""
    import subprocess

    code = CHILD.format(repo=str(REPO), folder=str(folder), dim=DIM, n=n)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    took, grew = out.split()
    return round(float(took), 2), round(float(grew) / n, 1)


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(g.tolist()) & set(t.tolist())) / truth.shape[1] for g, t in zip(got, truth)]))


def bench_size(n: int, queries: int, sweep: list[int], largest: bool, out: dict) -> None:
    from comicdesk.search import index as ix

    print(f"\n== {n:,} vectors of {DIM} dims (float16) ==", flush=True)
    t = time.perf_counter()
    x = clustered(n)
    print(f"generated in {time.perf_counter() - t:.1f} s", flush=True)
    keys = np.stack([np.arange(n) // 600, (np.arange(n) // 6) % 100, np.arange(n) % 6], axis=1)
    rows = np.arange(n)
    qi = np.random.default_rng(7).choice(n, queries, replace=False)
    res: dict = {"n": n}

    # exact ground truth (and the exact backend's latency where it is the backend: ≤ threshold)
    exact = ix.ExactBackend(DIM)
    xn = ix.UNIT.apply(x)
    exact.add(np.arange(n), xn)
    del xn
    q = exact.vecs[qi].copy()
    t = time.perf_counter()
    truth = np.concatenate([exact.search(q[i:i + 50], 10)[1] for i in range(0, len(q), 50)])
    res["exact_batch_s"] = round(time.perf_counter() - t, 2)
    if n * DIM <= ix.EXACT_MAX_VALUES:
        p50, p99, got = latency(lambda v: exact.search(v, 10), q)
        res["exact_p50_ms"], res["exact_p99_ms"] = round(p50, 2), round(p99, 2)
        print(f"exact: p50 {p50:.2f} ms  p99 {p99:.2f} ms  (recall {recall(got, truth):.3f})", flush=True)
    exact = None  # free it before the IVF build

    # the IVF index through VectorIndex
    idx = ix.VectorIndex("standard-1", "panel_emb", DIM)
    idx.exact_max_values = 0
    base = rss_mb()
    t = time.perf_counter()
    idx.build(keys, rows, x, generation=0, length=n)
    res["build_s"] = round(time.perf_counter() - t, 1)
    res["build_rss_growth_mb"] = round(rss_mb() - base, 1)
    b = idx.backend
    res.update(nlist=b.nlist, nprobe=b.nprobe)
    res["index_bytes_per_vector"] = round(idx.memory_bytes() / n, 1)
    print(f"IVF build: {res['build_s']} s (nlist {b.nlist}, nprobe {b.nprobe}); "
          f"{res['index_bytes_per_vector']} B per vector in the index structures", flush=True)
    p50, p99, got = latency(lambda v: idx.search(v, 10), q)
    res["ivf_p50_ms"], res["ivf_p99_ms"], res["recall_at_10"] = round(p50, 3), round(p99, 3), round(recall(got, truth), 4)
    print(f"IVF query k=10: p50 {p50:.3f} ms  p99 {p99:.3f} ms  recall@10 {res['recall_at_10']:.4f}", flush=True)
    if largest and sweep:
        res["sweep"] = []
        for npb in sweep:
            p50, p99, got = latency(lambda v, npb=npb: b.search(v, 10, nprobe=npb), q)
            r = recall(got, truth)
            res["sweep"].append({"nprobe": npb, "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "recall_at_10": round(r, 4)})
            print(f"  nprobe {npb:>4}: p50 {p50:.3f} ms  p99 {p99:.3f} ms  recall@10 {r:.4f}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        idx.save(folder)
        res["save_s"] = round(time.perf_counter() - t, 2)
        res["disk_mb"] = round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20, 1)
        if largest:
            extra = clustered(n // 100, seed=99)
            ek = np.stack([np.full(len(extra), 10**7), np.arange(len(extra)), np.zeros(len(extra), int)], axis=1)
            t = time.perf_counter()
            idx._append(ek, np.arange(n, n + len(extra)), extra)
            res["add_1pct_s"] = round(time.perf_counter() - t, 2)
        idx = b = x = None
        res["load_s"], res["loaded_rss_bytes_per_vector"] = load_in_child(folder, n)
    print(f"save {res['save_s']} s ({res['disk_mb']} MB on disk), load {res['load_s']} s; loaded index: "
          f"{res['loaded_rss_bytes_per_vector']} B of RSS per vector"
          + (f"; adding 1 % more rows: {res['add_1pct_s']} s" if "add_1pct_s" in res else ""), flush=True)
    out[str(n)] = res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100K only")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--sweep", default="16,32,64,128", help="nprobe values tried at the largest size")
    args = ap.parse_args(argv)
    sizes = [100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    sweep = [int(s) for s in args.sweep.split(",") if s]
    import faiss

    print(f"cpu cores: {os.cpu_count()}, faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads)")
    out: dict = {}
    for i, n in enumerate(sizes):
        bench_size(n, args.queries, sweep, i == len(sizes) - 1, out)
    print(json.dumps({"bench": "search", "dims": DIM, "results": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
