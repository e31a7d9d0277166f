"""Vector indexes over the cached embeddings: exact below a size threshold, IVF above it.

One index per stored array (``<model id>/<array>`` of ``vectors.zarr``), kept in memory as

- an *entry table*: per entry (its position is its id) the key ``(book, page, panel)``, the Zarr
  row it was read from, a 64-bit fingerprint of the stored bytes, and a state (in the index,
  removed, or skipped because its vector is all zero: a panel without text);
- a *backend* holding the (transformed, unit-length, float32 or float16) vectors of live entries:
  :class:`ExactBackend` (float16 matrix-vector products, rescored in float32) while ``rows × dims`` is at most
  :data:`EXACT_MAX_VALUES`, else :class:`IVFBackend` (faiss ``IndexIVFScalarQuantizer`` with
  float16 codes, inner product; ``docs/search.md`` says why IVF and not a graph index).

Persisted under ``<cache dir>/index/<model id>/<array>.*`` (:func:`index_dir`): a manifest
``<array>.manifest.json`` (format, backend, generation and committed length of the array it was
made from, entry count, transform, dims, and the SHA-256 / size / CRC32 of its files) naming two
data files, ``<array>.<token>.keys.npy`` (the entry table) and ``<array>.<token>.faiss`` or
``<array>.<token>.vecs.npy``. Data files get a fresh token on every save and the manifest is
replaced last (atomically), so a reader sees the old set or the new one, never a mix. Only the
holder of the library lock saves; anything that does not verify is rebuilt.

Keeping an index current (:meth:`VectorIndex.sync`), against the catalogue's mapping:

- same generation: entries whose row is no longer mapped to a live book are removed, mapped rows
  not indexed yet are read and added (rows are never reused within a generation, so row ids
  identify content);
- another generation (a compaction renumbered rows): every live row is read, and entries are
  matched by key and fingerprint, so unchanged vectors only get their new row ids;
- rebuilt from scratch when the backend kind should change (crossing the threshold), an IVF index
  has grown past :data:`IVF_REGROW` times the size it was trained on, or most entries are dead.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from comicdesk.core.errors import ComicdeskError
from comicdesk.library import atomic

if TYPE_CHECKING:  # pragma: no cover
    from comicdesk.cache.vectors import VectorStore
    from comicdesk.library.catalog import Catalog

FORMAT = 1
INDEX_DIR = "index"
#: Exact search while live rows × dims is at most this (100K × 256: ≤ 20 ms a query on 2 cores).
EXACT_MAX_VALUES = 100_000 * 256
#: Rebuild an IVF index once it holds this many times the rows its lists were trained on.
IVF_REGROW = 4.0
#: Rebuild when more than this share of entries is dead.
MAX_DEAD = 0.5
#: Rows read from Zarr per step while building or updating.
READ_STEP = 65_536

ALIVE, DEAD, SKIPPED = 1, 0, 2


class IndexError_(ComicdeskError):
    kind = "index"


class CorruptIndex(IndexError_):
    """The persisted index does not verify (missing file, wrong size or checksum, unreadable)."""

    kind = "index-corrupt"


# -- transforms --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transform:
    """What turns stored rows into search vectors: unit rows, optionally centred first.

    ``name`` is recorded in the manifest (a changed transform rebuilds the index); ``center``
    gives the vector to subtract (None: none); rows that are all zero afterwards are skipped."""

    name: str = "unit"
    center: Callable[[], np.ndarray] | None = None

    def apply(self, rows: np.ndarray, _cache: dict = {}) -> np.ndarray:  # noqa: B006 - per-process memo
        x = np.asarray(rows, dtype=np.float32)
        if self.center is not None:
            c = _cache.get(self.name)
            if c is None:
                c = _cache[self.name] = np.asarray(self.center(), dtype=np.float32).reshape(-1)
            x = x - c
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, norms, out=np.zeros_like(x), where=norms > 1e-12)


UNIT = Transform("unit")


def _fingerprint_weights(width: int) -> np.ndarray:
    rng = np.random.default_rng(0x5EA7C4)
    return (rng.integers(1, 2**63 - 1, width, dtype=np.int64) | 1).astype(np.uint64)


def fingerprints(rows: np.ndarray) -> np.ndarray:
    """A 64-bit fingerprint of each stored row's bytes (float16 or float32), as int64."""
    rows = np.ascontiguousarray(rows)
    n = rows.shape[0]
    word = np.uint16 if rows.dtype.itemsize == 2 else np.uint32
    words = rows.view(word).reshape(n, -1)
    w = _fingerprint_weights(words.shape[1])
    out = np.empty(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(0, n, 16_384):
            out[i:i + 16_384] = (words[i:i + 16_384].astype(np.uint64) * w).sum(axis=1)
    return out.view(np.int64)


# -- backends ----------------------------------------------------------------------------------
def _topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per row of ``scores`` (q, n), best first: (scores, column indexes)."""
    n = scores.shape[1]
    k = min(k, n)
    if k <= 0:
        return np.zeros((scores.shape[0], 0), np.float32), np.zeros((scores.shape[0], 0), np.int64)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    s = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-s, axis=1, kind="stable")
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(part, order, axis=1)


class ExactBackend:
    """All vectors in one float16 matrix (row = entry position), searched exactly.

    Scores are computed by torch's float16 matrix-vector product (on this CPU several times
    faster than numpy's float32 product for one query: it reads half the bytes, and the product is
    memory-bound),
    then the best ``RESCORE × k + 64`` candidates per query are scored again in float32 from the
    same stored float16 vectors and sorted: the scores returned are exact for the stored vectors,
    and a true top-k row is only missed if hundreds of rows tie with it within float16 rounding."""

    kind = "exact"
    RESCORE = 8

    def __init__(self, dims: int):
        self.dims = dims
        self.vecs = np.zeros((0, dims), np.float16)
        self.alive = np.zeros(0, bool)

    @property
    def count(self) -> int:
        return int(self.alive.sum())

    def add(self, positions: np.ndarray, vecs: np.ndarray) -> None:
        if not len(positions):
            return
        need = int(positions.max()) + 1
        if need > len(self.alive):
            cap = need if not len(self.alive) else max(need, int(len(self.alive) * 1.25) + 1024)
            grown = np.zeros((cap, self.dims), np.float16)
            grown[:len(self.vecs)] = self.vecs
            alive = np.zeros(cap, bool)
            alive[:len(self.alive)] = self.alive
            self.vecs, self.alive = grown, alive
        self.vecs[positions] = vecs
        self.alive[positions] = True

    def remove(self, positions: np.ndarray) -> None:
        positions = positions[positions < len(self.alive)]
        self.alive[positions] = False
        self.vecs[positions] = 0.0

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
        import torch

        q = np.ascontiguousarray(queries, dtype=np.float32)
        n = len(self.alive)
        mask = self.alive if allowed is None else self.alive & _fit(allowed, n)
        kk = min(n, k * self.RESCORE + 64)
        vt = torch.from_numpy(self.vecs)
        hide = None if mask.all() else torch.from_numpy(~mask)
        cand = np.zeros((len(q), kk), np.int64)
        ok = np.zeros((len(q), kk), bool)
        with torch.inference_mode():
            for i in range(len(q)):  # one matrix-vector product per query: memory-bound, float16
                s = torch.mv(vt, torch.from_numpy(q[i].astype(np.float16)))
                if hide is not None:
                    s.masked_fill_(hide, float("-inf"))
                top = torch.topk(s, kk)
                cand[i] = top.indices.numpy()
                ok[i] = torch.isfinite(top.values).numpy()
        # exact float32 scores of the candidates, then the best k
        exact = np.einsum("qcd,qd->qc", self.vecs[cand].astype(np.float32), q)
        exact = np.where(ok, exact, -np.inf).astype(np.float32)
        best_s, sel = _topk(exact, k)
        best_i = np.take_along_axis(cand, sel, axis=1)
        best_i = np.where(np.isfinite(best_s), best_i, -1)
        return best_s, best_i

    # persistence: float16, as held in memory
    def save(self, path: Path, entries: int) -> None:
        vecs = self.vecs[:entries]
        if len(vecs) < entries:
            vecs = np.concatenate([vecs, np.zeros((entries - len(vecs), self.dims), np.float16)])
        with open(path, "wb") as f:
            np.save(f, np.ascontiguousarray(vecs))

    @classmethod
    def load(cls, path: Path, dims: int, alive: np.ndarray) -> ExactBackend:
        b = cls(dims)
        vecs = np.load(path, allow_pickle=False)
        if vecs.ndim != 2 or vecs.shape[1] != dims or vecs.shape[0] != len(alive) or vecs.dtype != np.float16:
            raise CorruptIndex(f"{path.name} holds {vecs.shape} {vecs.dtype}, expected ({len(alive)}, {dims}) float16")
        b.vecs = np.ascontiguousarray(vecs)
        b.alive = alive.copy()
        return b

    def memory_bytes(self) -> int:
        return self.vecs.nbytes + self.alive.nbytes


def _fit(mask: np.ndarray, n: int) -> np.ndarray:
    mask = np.asarray(mask, bool)
    if len(mask) >= n:
        return mask[:n]
    out = np.zeros(n, bool)
    out[:len(mask)] = mask
    return out


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` rows: a power of two near 4·√n, 64 to 16384."""
    target = 4.0 * np.sqrt(max(1, n))
    p = 1 << round(float(np.log2(target)))
    return int(min(16_384, max(64, p)))


def ivf_probe(nlist: int) -> int:
    """Lists probed per query (measured in tests/bench/bench_search.py: recall@10 ≥ 0.95)."""
    return int(min(nlist, max(32, nlist // 64)))


class IVFBackend:
    """faiss IVF with float16 codes (512 B per 256-d vector), inner product, ids = positions."""

    kind = "ivf"

    def __init__(self, index: Any, trained_on: int, nprobe: int):
        self.index = index
        self.trained_on = trained_on
        self.nprobe = nprobe

    @classmethod
    def train(cls, vecs: np.ndarray, *, nlist: int | None = None, seed: int = 1234) -> IVFBackend:
        import faiss

        n, d = vecs.shape
        nlist = nlist or ivf_lists(n)
        nlist = max(1, min(nlist, n // 8 or 1))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantizer.this.disown()
        index.cp.seed = seed
        index.cp.niter = 10
        index.cp.min_points_per_centroid = 8  # faiss would print a warning below 39 per list
        sample_n = min(n, nlist * 24)
        rng = np.random.default_rng(seed)
        sample = vecs if sample_n == n else vecs[np.sort(rng.choice(n, sample_n, replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        return cls(index, n, ivf_probe(nlist))

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def nlist(self) -> int:
        return int(self.index.nlist)

    def add(self, positions: np.ndarray, vecs: np.ndarray) -> None:
        if len(positions):
            self.index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32),
                                    np.ascontiguousarray(positions, dtype=np.int64))

    def remove(self, positions: np.ndarray) -> None:
        if len(positions):
            self.index.remove_ids(np.ascontiguousarray(positions, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None,
               nprobe: int | None = None):
        import faiss

        q = np.ascontiguousarray(queries, dtype=np.float32)
        probe = min(self.nlist, nprobe or self.nprobe)
        bits = None if allowed is None else np.packbits(np.asarray(allowed, bool), bitorder="little")
        reachable = self.count if allowed is None else int(np.sum(allowed))
        # The probed lists may hold fewer than k candidates (a selective filter, a large k): probe
        # more until k are found (at nprobe = nlist this is an exact search of the allowed rows).
        while True:
            if bits is None:
                params = faiss.SearchParametersIVF(nprobe=probe)
            else:
                sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
                params = faiss.SearchParametersIVF(nprobe=probe, sel=sel)
            scores, ids = self.index.search(q, k, params=params)
            if probe >= self.nlist or (ids >= 0).sum(axis=1).min() >= min(k, reachable):
                return scores, ids
            probe = min(self.nlist, probe * 4)

    def save(self, path: Path, entries: int) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, trained_on: int, nprobe: int) -> IVFBackend:
        import faiss

        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise CorruptIndex(f"{path.name} is not a readable index ({str(exc).splitlines()[0][:120]})") from None
        return cls(index, trained_on, nprobe)

    def memory_bytes(self) -> int:
        ntotal = int(self.index.ntotal)
        return ntotal * (int(self.index.code_size) + 8) + self.nlist * self.index.d * 4


# -- the index ---------------------------------------------------------------------------------
@dataclass
class SyncReport:
    model_id: str
    array: str
    action: str  # "current" | "built" | "updated" | "remapped"
    added: int = 0
    removed: int = 0
    entries: int = 0
    backend: str = ""
    error: str | None = None


def _empty_table() -> np.ndarray:
    return np.zeros((0, 6), np.int64)  # book, page, panel, row, fingerprint, state


class VectorIndex:
    """The in-memory index of one array (see the module docstring)."""

    def __init__(self, model_id: str, array: str, dims: int, transform: Transform = UNIT):
        self.model_id = model_id
        self.array = array
        self.dims = dims
        self.transform = transform
        self.generation = -1
        self.length = 0
        self.cache_id: str | None = None  # the catalogue's identity it was built for
        self.table = _empty_table()
        self.backend: ExactBackend | IVFBackend = ExactBackend(dims)
        self.exact_max_values = EXACT_MAX_VALUES
        self.dirty = False  # changed since it was loaded or saved
        self._live: int | None = None  # cached count of ALIVE entries

    # -- views
    @property
    def keys(self) -> np.ndarray:
        return self.table[:, :3]

    @property
    def live_count(self) -> int:
        if self._live is None:
            self._live = int(np.sum(self.table[:, 5] == ALIVE))
        return self._live

    def _wanted_kind(self, live: int) -> str:
        return "exact" if live * self.dims <= self.exact_max_values else "ivf"

    # -- building and syncing
    def build(self, keys: np.ndarray, rows: np.ndarray, stored: np.ndarray,
              *, generation: int, length: int) -> None:
        """Replace everything with these rows (``stored``: the raw stored vectors)."""
        fps = fingerprints(stored) if len(stored) else np.zeros(0, np.int64)
        vecs = self.transform.apply(stored) if len(stored) else np.zeros((0, self.dims), np.float32)
        ok = np.any(vecs != 0, axis=1) if len(vecs) else np.zeros(0, bool)
        table = np.zeros((len(keys), 6), np.int64)
        if len(keys):
            table[:, :3] = keys
            table[:, 3] = rows
            table[:, 4] = fps
            table[:, 5] = np.where(ok, ALIVE, SKIPPED)
        self.table = table
        self._live = None
        pos = np.flatnonzero(ok)
        if self._wanted_kind(len(pos)) == "exact":
            self.backend = ExactBackend(self.dims)
        else:
            self.backend = IVFBackend.train(vecs[pos])
        self.backend.add(pos, vecs[pos])
        self.generation, self.length = generation, length
        self.dirty = True

    def _append(self, keys: np.ndarray, rows: np.ndarray, stored: np.ndarray) -> int:
        if not len(keys):
            return 0
        fps = fingerprints(stored)
        vecs = self.transform.apply(stored)
        ok = np.any(vecs != 0, axis=1)
        start = len(self.table)
        add = np.zeros((len(keys), 6), np.int64)
        add[:, :3] = keys
        add[:, 3] = rows
        add[:, 4] = fps
        add[:, 5] = np.where(ok, ALIVE, SKIPPED)
        self.table = np.concatenate([self.table, add])
        self._live = None
        pos = np.flatnonzero(ok)
        self.backend.add(pos + start, vecs[pos])
        self.dirty = True
        return len(keys)

    def _drop(self, positions: np.ndarray) -> int:
        if not len(positions):
            return 0
        live = positions[self.table[positions, 5] == ALIVE]
        self.backend.remove(live)
        self.table[positions, 5] = DEAD
        self.table[positions, 3] = -1
        self._live = None
        self.dirty = True
        return len(positions)

    def sync(self, catalog: Catalog, store: VectorStore, *, mapped=None) -> SyncReport:
        """Bring the index up to date with the catalogue's mapping and the stored rows."""
        report = SyncReport(self.model_id, self.array, "current")
        info = catalog.vector_array(self.model_id, self.array)
        if info is None:
            raise KeyError(f"no array {self.model_id}/{self.array} in the vector cache")
        if info.dims != self.dims:
            raise CorruptIndex(f"{self.model_id}/{self.array} is {info.dims}-d, the index {self.dims}-d")
        cache_id = getattr(catalog, "cache_id", None)
        if self.cache_id is not None and self.cache_id != cache_id:
            # Built for another catalogue (one that was damaged and started again): its rows and
            # keys mean nothing here.
            self._full_build(store, info, report)
        elif self.generation != info.generation:
            if self.generation < 0 or not len(self.table):
                self._full_build(store, info, report)
            else:
                self._remap(store, info, report)
        else:
            if mapped is None:
                mapped = store.rows(self.model_id, self.array)
            m = np.asarray(mapped, dtype=np.int64).reshape(-1, 4)
            m = m[m[:, 3] < info.length]
            live_idx = np.flatnonzero(self.table[:, 5] != DEAD)
            if not self._agrees(live_idx, m, info.length):
                self._full_build(store, info, report)
            else:
                gone = live_idx[~np.isin(self.table[live_idx, 3], m[:, 3])]
                new = m[~np.isin(m[:, 3], self.table[live_idx, 3])]
                report.removed = self._drop(gone)
                if len(new):
                    stored, bad = _read_rows(store, self.model_id, self.array, new[:, 3])
                    if bad is not None:  # damaged rows: left out (recorded for the next run)
                        new, stored = new[~bad], stored[~bad]
                    report.added = self._append(new[:, :3], new[:, 3], stored)
                self.length = info.length
                if report.added or report.removed:
                    report.action = "updated"
                    self.dirty = True
                if self._needs_rebuild():
                    self._full_build(store, info, report)
        if self.cache_id != cache_id:
            self.cache_id = cache_id  # an index from before the identity, found consistent: stamped
            self.dirty = True
        report.entries = self.live_count
        report.backend = self.backend.kind
        return report

    def _agrees(self, live_idx: np.ndarray, mapped: np.ndarray, length: int) -> bool:
        """Whether the entries of this generation agree with the catalogue: no entry past the
        committed rows, and every row still mapped is mapped to the entry's own key (a catalogue
        made again from scratch reuses row numbers for other pages)."""
        rows = self.table[live_idx, 3]
        if len(rows) and int(rows.max()) >= length:
            return False
        if not len(mapped) or not len(rows):
            return True
        order = np.argsort(mapped[:, 3], kind="stable")
        mrows = mapped[order, 3]
        at = np.searchsorted(mrows, rows)
        found = at < len(mrows)
        found[found] = mrows[at[found]] == rows[found]
        if not found.any():
            return True
        theirs = mapped[order[at[found]], :3]
        return bool(np.array_equal(theirs, self.table[live_idx[found], :3]))

    def _needs_rebuild(self) -> bool:
        live = self.live_count
        if self._wanted_kind(live) != self.backend.kind:
            return True
        if isinstance(self.backend, IVFBackend) and live > IVF_REGROW * max(1, self.backend.trained_on):
            return True
        return len(self.table) > 1024 and (len(self.table) - live - self._skipped()) > MAX_DEAD * len(self.table)

    def _skipped(self) -> int:
        return int(np.sum(self.table[:, 5] == SKIPPED))

    def _full_build(self, store, info, report: SyncReport) -> None:
        keys, stored, rows = _load_all(store, self.model_id, self.array)
        self.build(keys, rows, stored, generation=info.generation, length=info.length)
        self.cache_id = None  # set by sync
        report.action = "built"
        report.added = self.live_count
        report.removed = 0

    def _remap(self, store, info, report: SyncReport) -> None:
        """Rows were renumbered by a compaction: keep entries whose key and bytes are unchanged."""
        keys, stored, rows = _load_all(store, self.model_id, self.array)
        fps = fingerprints(stored) if len(stored) else np.zeros(0, np.int64)
        where = {}
        for pos in np.flatnonzero(self.table[:, 5] != DEAD):
            b, p, n, _r, fp, _s = self.table[pos]
            where[(int(b), int(p), int(n), int(fp))] = pos
        keep_pos, keep_rows, new_idx = [], [], []
        for i in range(len(keys)):
            pos = where.pop((int(keys[i, 0]), int(keys[i, 1]), int(keys[i, 2]), int(fps[i])), None)
            if pos is None:
                new_idx.append(i)
            else:
                keep_pos.append(pos)
                keep_rows.append(rows[i])
        if keep_pos:
            self.table[np.asarray(keep_pos), 3] = np.asarray(keep_rows)
        report.removed = self._drop(np.asarray(sorted(where.values()), dtype=np.int64))
        ni = np.asarray(new_idx, dtype=np.int64)
        report.added = self._append(keys[ni], rows[ni], stored[ni]) if len(ni) else 0
        self.generation, self.length = info.generation, info.length
        self.dirty = True
        report.action = "remapped"
        if self._needs_rebuild():
            self._full_build(store, info, report)

    # -- searching
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
        """``(scores, positions)`` (q, ≤k) best first; position -1 pads a row with fewer hits.
        ``allowed``: a boolean mask over entry positions (None: all)."""
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        n = len(self.table)
        k = int(max(1, min(k, max(1, self.live_count))))
        if allowed is not None:
            allowed = _fit(allowed, n) & (self.table[:, 5] == ALIVE)
            if not allowed.any():
                return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if self.live_count == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        return self.backend.search(q, k, allowed)

    def memory_bytes(self) -> int:
        return self.table.nbytes + self.backend.memory_bytes()

    # -- persistence
    def save(self, directory: Path) -> None:
        """Write the index (the caller holds the library lock)."""
        directory.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(4)
        keys_name = f"{self.array}.{token}.keys.npy"
        data_name = f"{self.array}.{token}.{'faiss' if self.backend.kind == 'ivf' else 'vecs.npy'}"
        with open(directory / keys_name, "wb") as f:
            np.save(f, self.table)
        self.backend.save(directory / data_name, len(self.table))
        manifest = {
            "format": FORMAT, "model_id": self.model_id, "array": self.array, "dims": self.dims,
            "transform": self.transform.name, "backend": self.backend.kind,
            "generation": self.generation, "length": self.length, "entries": len(self.table),
            "cache_id": self.cache_id,
            "live": self.live_count,
            "keys": {"file": keys_name, **_file_sums(directory / keys_name, sha=True)},
            "data": {"file": data_name, **_file_sums(directory / data_name, sha=False)},
        }
        if isinstance(self.backend, IVFBackend):
            manifest["ivf"] = {"nlist": self.backend.nlist, "nprobe": self.backend.nprobe,
                               "trained_on": self.backend.trained_on}
        path = manifest_path(directory, self.array)
        old = _read_manifest(path)
        atomic.write_text(path, json.dumps(manifest, indent=1))
        if old is not None:
            for part in ("keys", "data"):
                name = (old.get(part) or {}).get("file")
                if name and name not in (keys_name, data_name):
                    try:
                        (directory / name).unlink()
                    except OSError:
                        pass
        _sweep(directory, self.array, keep={keys_name, data_name, path.name})
        self.dirty = False

    @classmethod
    def load(cls, directory: Path, model_id: str, array: str, dims: int,
             transform: Transform = UNIT) -> VectorIndex:
        """The persisted index; :class:`CorruptIndex` when anything does not verify."""
        path = manifest_path(directory, array)
        m = _read_manifest(path)
        if m is None:
            raise CorruptIndex(f"{path.name} is missing or unreadable")
        try:
            if (m["format"], m["model_id"], m["array"], m["dims"], m["transform"]) != (
                    FORMAT, model_id, array, dims, transform.name):
                raise CorruptIndex(f"{path.name} is for another format, array or transform")
            keys_file = directory / m["keys"]["file"]
            data_file = directory / m["data"]["file"]
            if _file_sums(keys_file, sha=True) != {k: m["keys"][k] for k in ("size", "sha256")}:
                raise CorruptIndex(f"{keys_file.name} does not match its manifest")
            if keys_file.name == data_file.name:
                raise CorruptIndex("bad manifest")
            if data_file.stat().st_size != m["data"]["size"] or _crc(data_file) != m["data"]["crc32"]:
                raise CorruptIndex(f"{data_file.name} does not match its manifest")
            table = np.load(keys_file, allow_pickle=False)
            if table.dtype != np.int64 or table.ndim != 2 or table.shape[1] != 6 or len(table) != m["entries"]:
                raise CorruptIndex(f"{keys_file.name} has the wrong shape")
            idx = cls(model_id, array, dims, transform)
            idx.table = table
            idx._live = None
            alive = table[:, 5] == ALIVE
            if m["backend"] == "exact":
                idx.backend = ExactBackend.load(data_file, dims, alive)
            elif m["backend"] == "ivf":
                ivf = m["ivf"]
                idx.backend = IVFBackend.load(data_file, int(ivf["trained_on"]), int(ivf["nprobe"]))
                if idx.backend.count != int(alive.sum()) or idx.backend.index.d != dims:
                    raise CorruptIndex(f"{data_file.name} holds {idx.backend.count} vectors, "
                                       f"the entry table {int(alive.sum())}")
            else:
                raise CorruptIndex(f"{path.name}: unknown backend {m['backend']!r}")
            idx.generation, idx.length = int(m["generation"]), int(m["length"])
            idx.cache_id = m.get("cache_id") if isinstance(m.get("cache_id"), str) else None
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise CorruptIndex(f"{path.name} cannot be used ({type(exc).__name__}: {exc})") from None
        idx.dirty = False
        return idx


# -- files -------------------------------------------------------------------------------------
def index_dir(cache_dir: Path, model_id: str) -> Path:
    return Path(cache_dir) / INDEX_DIR / model_id


def manifest_path(directory: Path, array: str) -> Path:
    return Path(directory) / f"{array}.manifest.json"


def _read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(8 << 20)
            if not chunk:
                return crc
            crc = zlib.crc32(chunk, crc)


def _file_sums(path: Path, *, sha: bool) -> dict:
    size = Path(path).stat().st_size
    if sha:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(8 << 20), b""):
                h.update(chunk)
        return {"size": size, "sha256": h.hexdigest()}
    return {"size": size, "crc32": _crc(path)}


def _sweep(directory: Path, array: str, keep: set[str]) -> None:
    """Data files of this array no manifest names (a save that died half-way)."""
    for p in directory.glob(f"{array}.*"):
        if p.name in keep:
            continue
        rest = p.name[len(array) + 1:]
        if rest.count(".") >= 1 and (rest.endswith((".keys.npy", ".vecs.npy", ".faiss", ".tmp"))):
            try:
                p.unlink()
            except OSError:
                pass


# -- reading the store ---------------------------------------------------------------------------
def _read_rows(store: VectorStore, model_id: str, array: str, rows: np.ndarray):
    """``(stored rows, bad)``: ``bad`` masks rows that could not be read (None: all read)."""
    parts, bads = [], []
    for i in range(0, len(rows), READ_STEP):
        data, bad = store.read_checked(model_id, array, rows[i:i + READ_STEP])
        parts.append(data)
        bads.append(np.zeros(len(data), bool) if bad is None else bad)
    if not parts:
        return np.zeros((0, 0)), None
    bad = np.concatenate(bads)
    return np.concatenate(parts), (bad if bad.any() else None)


def _load_all(store: VectorStore, model_id: str, array: str):
    """``(keys (n,3), stored vectors, rows)`` of every live mapped row (one consistent snapshot);
    rows in damaged chunks are left out (every row of their books) and recorded by the store."""
    mapped = np.asarray(store.rows(model_id, array), dtype=np.int64).reshape(-1, 4)
    keys, stored = store.load(model_id, array, skip_damaged=True)
    damaged = getattr(store, "damage", {}).get((model_id, array))
    if damaged and damaged[1]:
        mapped = mapped[~np.isin(mapped[:, 0], np.asarray(sorted(damaged[1]), dtype=np.int64))]
    if len(keys) != len(mapped) or (len(keys) and not np.array_equal(keys, mapped[:, :3])):
        # The mapping changed between the two reads: take the mapping load() used.
        mapped = np.asarray(store.rows(model_id, array), dtype=np.int64).reshape(-1, 4)
        stored, bad = _read_rows(store, model_id, array, mapped[:, 3])
        if bad is not None:
            mapped, stored = mapped[~bad], stored[~bad]
        keys = mapped[:, :3]
    return keys.reshape(-1, 3), stored, mapped[:, 3]


__all__ = [
    "ALIVE",
    "EXACT_MAX_VALUES",
    "UNIT",
    "CorruptIndex",
    "ExactBackend",
    "IVFBackend",
    "SyncReport",
    "Transform",
    "VectorIndex",
    "fingerprints",
    "index_dir",
    "ivf_lists",
    "ivf_probe",
    "manifest_path",
]
