"""The per-library vector store: ``<cache dir>/vectors.zarr/`` (Zarr v3), mapped from the catalogue.

Layout (``ARCHITECTURE.md``, "Where things live")::

    vectors.zarr/                  root group
      <model id>/                  one group per model id; attributes: model name, revision, dims,
                                   preprocessing (whatever the model records with ensure_group)
        <array>                    2-D array (rows, dims): float16 unless declared otherwise;
                                   attributes: generation, normalised

Rules:

- **Rows are appended and mapped from the catalogue.** :meth:`VectorStore.write` puts rows past
  the committed end of the array and makes them durable (fsync); :meth:`VectorStore.commit`,
  inside the caller's catalogue transaction, maps them (``vector_rows``: book/page/panel → row) and
  moves the committed end. A row is *committed* only once the catalogue maps it: a crash between
  the two leaves unmapped rows, which the next write overwrites or compaction drops.
- **Model inputs are stored raw** (never normalised); arrays declared ``normalised`` (search
  vectors) are L2-normalised in float32 before they are stored. Chunks are compressed with zstd
  at level 1 (:data:`ZSTD_LEVEL`): sparse ReLU features such as EfficientNet's page features
  shrink to ~55 %, normalised embeddings to 84–91 %, and a chunk decompresses at ~0.5–1 GB/s
  (docs/pipeline.md has the figures). Arrays created before keep their uncompressed chunks.
- **Tombstones**: unmapping a key (:meth:`VectorStore.tombstone`, a changed book's pages being
  replaced, a purged book) turns its row into garbage; rows of removed (tombstoned) books stay
  mapped, since the book may come back as a move, but readers leave them out.
- **Compaction** (:meth:`VectorStore.compact`) is crash-safe: the live rows are copied to a new
  generation in ``vectors.staging/``, made durable, then one catalogue transaction switches every
  mapping and the active generation; only then is the new array renamed into place (the old one to
  ``vectors.trash/``, then deleted). Opening the store for writing finishes a switch that was
  committed, or throws away a staged copy that was not.
- **One writer**: only the holder of the library lock writes (two processes appending to one
  array lose rows). Readers open with ``readonly=True``, take no lock, and check the active
  generation before and after each read, retrying when a compaction switched it meanwhile; while
  a switched generation is not in place yet (or a crash left it staged), they read it from
  ``vectors.staging/``. Chunk files are replaced atomically by Zarr's local store (temp file +
  rename), so a reader never sees half a chunk.
- Consolidated metadata is never written or used (``use_consolidated=False``): it would go stale
  after every append, and a local store does not need it.
- **Damage** (``docs/pipeline.md``, "Vector cache", Damage): new arrays checksum every chunk
  (Zarr v3's ``crc32c`` codec after zstd) and store chunks even when they are all zero, so a
  missing chunk file under mapped rows is always damage. Every read checks that the chunks it
  needs exist and decode; a read that finds damage raises :class:`VectorsDamaged` (or, for
  :meth:`VectorStore.load` with ``skip_damaged``, leaves those rows out) and records the damaged
  chunks and books in ``vectors.damaged.json`` beside the store (readers hold no lock and change
  nothing else). The next writer (:meth:`VectorStore.heal`, at the start of a run) deletes the
  damaged chunks, unmaps the rows of every book that had a row in them and hands those books back
  to be analysed again. Arrays whose files are gone, unreadable, of another generation or made
  for another catalogue (their ``cache_id`` attribute) are started again empty, in a new
  generation, and all their books analysed again.
- **Identity**: each array records the catalogue's ``cache_id``; an array from before that is
  stamped by the first writer when its generation agrees with the catalogue (no re-analysis).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from comicdesk.core.errors import ComicdeskError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from comicdesk.library.catalog import Catalog

VECTORS_DIR = "vectors.zarr"
#: Damage a reader found, for the next writer to repair (JSON; see the module docstring).
DAMAGE_FILE = "vectors.damaged.json"
#: Catalogue meta key: books a repair unmapped, until the runner makes them not analysed.
LOST_KEY = "vectors_lost"
STAGING_DIR = "vectors.staging"
TRASH_DIR = "vectors.trash"
DTYPES = ("float16", "float32")
#: Aim for chunks of about this many bytes (rows × dims × itemsize).
CHUNK_BYTES = 256 * 1024

#: zstd level of new arrays' chunks (level 3 or 6 shrink them no further, at 1/2–1/5 the speed);
#: None: uncompressed (as arrays created before compression came in).
ZSTD_LEVEL: int | None = 1

#: New arrays checksum each chunk (crc32c after zstd); arrays created before are checked by
#: decoding them (a truncated or missing chunk is caught; a flipped byte may not be).
CHECKSUMS = True

#: Test hook: called with the name of each compaction step ("staged", "switched", "swapped").
_step_hook: Callable[[str], None] | None = None


class CacheError(ComicdeskError):
    """The vector cache cannot be used (damaged, wrong shape, newer layout)."""

    kind = "cache"


class VectorsDamaged(CacheError):
    """Rows that cannot be read: their chunks are missing or do not decode. ``books``: the ids of
    every book with a row in those chunks (recorded for the next run to analyse again)."""

    kind = "cache-damaged"

    def __init__(self, reason: str, *, model_id: str = "", array: str = "",
                 books: Iterable[int] = (), chunks: Iterable[int] = ()):
        super().__init__(reason)
        self.model_id, self.array = model_id, array
        self.books = frozenset(int(b) for b in books)
        self.chunks = frozenset(int(c) for c in chunks)


Key = tuple[int, int, int]  # (book_id, page, panel); panel -1 for a page-level row


@dataclass
class PendingRows:
    """Rows written to Zarr (durable) but not yet mapped: hand them to :meth:`VectorStore.commit`."""

    model_id: str
    array: str
    generation: int
    keys: list[Key]
    rows: list[int]


@dataclass
class CompactResult:
    model_id: str
    array: str
    rows_before: int
    rows_after: int
    generation: int


@dataclass
class _Handle:
    generation: int
    array: Any  # zarr.Array
    dims: int
    dtype: str
    normalised: bool
    chunk_rows: int
    path: Path


def chunk_rows_for(dims: int, itemsize: int) -> int:
    """Rows per chunk: a power of two giving chunks of about :data:`CHUNK_BYTES`, 64 to 4096."""
    target = max(1, CHUNK_BYTES // max(1, dims * itemsize))
    rows = 1 << max(0, target.bit_length() - 1)
    return max(64, min(4096, rows))


def _norm_key(key: Sequence[int]) -> Key:
    if len(key) == 2:
        return (int(key[0]), int(key[1]), -1)
    if len(key) == 3:
        return (int(key[0]), int(key[1]), int(key[2]))
    raise ValueError(f"a row key is (book_id, page) or (book_id, page, panel), not {key!r}")


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return  # Windows cannot open directories; nothing to do there
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class VectorStore:
    """``vectors.zarr`` of one library, with its row mappings in the catalogue.

    Writer: ``VectorStore.open(cache_dir, catalog=catalog)`` while holding the library lock (the
    catalogue connection is shared with the caller so vector mappings can join its transactions).
    Reader: ``VectorStore.open(cache_dir, readonly=True)``.
    """

    def __init__(self, cache_dir: Path, catalog: "Catalog", *, readonly: bool, durable: bool,
                 owns_catalog: bool):
        self.cache_dir = Path(cache_dir)
        self.root = self.cache_dir / VECTORS_DIR
        self.staging = self.cache_dir / STAGING_DIR
        self.trash = self.cache_dir / TRASH_DIR
        self.catalog = catalog
        self.readonly = readonly
        self.durable = durable
        self._owns_catalog = owns_catalog
        self._handles: dict[tuple[str, str], _Handle] = {}
        self._next: dict[tuple[str, str], int] = {}
        #: Damage found by this store's reads: (model id, array) → (chunks, book ids).
        self.damage: dict[tuple[str, str], tuple[set[int], set[int]]] = {}
        #: What :meth:`recover` / :meth:`heal` repaired: (model id, array) → (chunks or None for
        #: the whole array, book ids whose analysis is to be done again).
        self.healed: dict[tuple[str, str], tuple[set[int] | None, set[int]]] = {}

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, cache_dir: Path, *, catalog: "Catalog | None" = None, readonly: bool = False,
             durable: bool = True) -> "VectorStore":
        """Open the store. A writer (the lock holder) finishes or rolls back an interrupted
        compaction here. ``durable=False`` skips fsync (tests, throwaway caches)."""
        from comicdesk.library.catalog import Catalog

        owns = catalog is None
        if catalog is None:
            catalog = Catalog.open(cache_dir, readonly=readonly)
        store = cls(cache_dir, catalog, readonly=readonly, durable=durable, owns_catalog=owns)
        try:
            if not readonly:
                store.root.mkdir(parents=True, exist_ok=True)
                store._root_group()
                store.recover()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        self._handles.clear()
        if self._owns_catalog:
            self.catalog.close()

    def __enter__(self) -> "VectorStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _root_group(self):
        import zarr

        return zarr.open_group(str(self.root), mode="r" if self.readonly else "a", zarr_format=3,
                               use_consolidated=False)

    def _array_path(self, model_id: str, array: str) -> Path:
        return self.root / model_id / array

    @staticmethod
    def _check_name(name: str, what: str) -> None:
        if not name or name.startswith(".") or "/" in name or "\\" in name or name.startswith("__"):
            raise ValueError(f"{what} {name!r} is not a valid Zarr node name")

    # -- schema --------------------------------------------------------------------------------
    def ensure_group(self, model_id: str, attrs: dict[str, Any] | None = None) -> None:
        """The group of one model id, with its attributes (model name, revision, dims,
        preprocessing ...); given attributes are merged into what is there."""
        self._writable()
        self._check_name(model_id, "model id")
        root = self._root_group()
        group = root.require_group(model_id)
        if attrs:
            current = dict(group.attrs)
            if any(current.get(k) != v for k, v in attrs.items()):
                current.update(attrs)
                group.attrs.update(current)

    def ensure_array(self, model_id: str, array: str, dims: int, *, dtype: str = "float16",
                     normalised: bool = False) -> None:
        """Declare an array (created empty on first use). Its dims, dtype and normalisation are
        fixed for its life: a model whose output changes shape needs a new model id."""
        self._writable()
        self._check_name(array, "array name")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
        if int(dims) < 1:
            raise ValueError("dims must be at least 1")
        known = self.catalog.vector_array(model_id, array)
        if known is not None:
            if (known.dims, known.dtype, known.normalised) != (int(dims), dtype, bool(normalised)):
                raise CacheError(f"{model_id}/{array} is stored as {known.dims} × {known.dtype}"
                                 f"{' normalised' if known.normalised else ''}; a model whose output "
                                 f"changes needs a new model id")
            return
        self.ensure_group(model_id)
        self._create_zarr_array(self._array_path(model_id, array), 0, int(dims), dtype, bool(normalised), 0)
        with self._tx():
            self.catalog.add_vector_array(model_id, array, int(dims), dtype, bool(normalised))

    def _create_zarr_array(self, path: Path, rows: int, dims: int, dtype: str, normalised: bool,
                           generation: int):
        import numpy as np
        import zarr

        chunk = chunk_rows_for(dims, np.dtype(dtype).itemsize)
        codecs = [zarr.codecs.ZstdCodec(level=ZSTD_LEVEL)] if ZSTD_LEVEL is not None else []
        if CHECKSUMS:
            codecs.append(zarr.codecs.Crc32cCodec())
        attrs = {"generation": generation, "normalised": normalised, "dims": dims}
        cache_id = self.catalog.cache_id
        if cache_id:
            attrs["cache_id"] = cache_id
        return zarr.create_array(
            store=str(path), shape=(rows, dims), chunks=(chunk, dims), dtype=dtype,
            compressors=codecs or None, fill_value=0, zarr_format=3, overwrite=True,
            config={"write_empty_chunks": True}, attributes=attrs)

    def arrays(self) -> list[tuple[str, str]]:
        return sorted(self.catalog.vector_arrays())

    def group_attrs(self, model_id: str) -> dict[str, Any]:
        import zarr

        try:
            return dict(zarr.open_group(str(self.root / model_id), mode="r", zarr_format=3,
                                        use_consolidated=False).attrs)
        except (FileNotFoundError, KeyError) as exc:
            raise KeyError(f"no vectors for model {model_id!r}") from exc
        except Exception as exc:  # zarr raises its own "node not found" errors
            if type(exc).__name__ in ("GroupNotFoundError", "NodeNotFoundError"):
                raise KeyError(f"no vectors for model {model_id!r}") from exc
            raise

    # -- writing ------------------------------------------------------------------------------
    def write(self, model_id: str, array: str, vectors, keys: Sequence[Sequence[int]]) -> PendingRows:
        """Append rows (durable when this returns) without mapping them yet."""
        import numpy as np

        self._writable()
        info = self.catalog.vector_array(model_id, array)
        if info is None:
            raise KeyError(f"{model_id}/{array} was not declared (ensure_array)")
        keys_n = [_norm_key(k) for k in keys]
        vec = np.asarray(vectors)
        if vec.ndim == 1 and info.dims == vec.shape[0] and len(keys_n) == 1:
            vec = vec[None, :]
        if vec.ndim != 2 or vec.shape[1] != info.dims:
            raise ValueError(f"{model_id}/{array} takes rows of {info.dims} values, not shape {vec.shape}")
        if vec.shape[0] != len(keys_n):
            raise ValueError(f"{vec.shape[0]} rows for {len(keys_n)} keys")
        if len(set(keys_n)) != len(keys_n):
            raise ValueError("the same key twice in one write")
        if not np.all(np.isfinite(vec)):
            raise ValueError(f"{model_id}/{array}: vectors hold NaN or infinity")
        if info.normalised:
            v32 = vec.astype(np.float32)
            norms = np.linalg.norm(v32, axis=1, keepdims=True)
            vec = np.divide(v32, norms, out=np.zeros_like(v32), where=norms > 0)
        vec = vec.astype(info.dtype, copy=False)
        handle = self._handle(model_id, array, info.generation)
        key = (model_id, array)
        start = max(info.length, self._next.get(key, 0))
        n = vec.shape[0]
        arr = handle.array
        if arr.shape[0] != start + n:
            arr.resize((start + n, info.dims))
        if n:
            arr[start:start + n] = vec
        self._next[key] = start + n
        if self.durable and n:
            self._flush(model_id, array, handle, start, start + n)
        return PendingRows(model_id, array, info.generation, keys_n, list(range(start, start + n)))

    def commit(self, pending: PendingRows | Iterable[PendingRows]) -> None:
        """Map written rows; joins the caller's open catalogue transaction (or opens one)."""
        self._writable()
        items = [pending] if isinstance(pending, PendingRows) else list(pending)
        with self._tx():
            for p in items:
                info = self.catalog.vector_array(p.model_id, p.array)
                if info is None or info.generation != p.generation:
                    raise CacheError(f"{p.model_id}/{p.array} was compacted between writing and "
                                     f"committing rows; write them again")
                self.catalog.map_vector_rows(p.model_id, p.array, p.generation,
                                             [(*k, r) for k, r in zip(p.keys, p.rows)])
                if p.rows:
                    self.catalog.extend_vector_array(p.model_id, p.array, max(p.rows) + 1)

    def append(self, model_id: str, array: str, vectors, keys: Sequence[Sequence[int]]) -> list[int]:
        """Write and map rows in one go; returns their row ids (valid until the next compaction:
        keep keys, not row ids, for anything that lasts)."""
        pending = self.write(model_id, array, vectors, keys)
        self.commit(pending)
        return pending.rows

    def tombstone(self, book_ids: Iterable[int], model_id: str | None = None,
                  array: str | None = None, *, pages: Iterable[int] | None = None) -> int:
        """Unmap every row of these books (optionally of one model id / array, of some pages): their
        rows become garbage for :meth:`compact`. Joins the caller's transaction when one is open."""
        self._writable()
        with self._tx():
            return self.catalog.delete_vector_rows(list(book_ids), model_id, array, pages=pages)

    def _flush(self, model_id: str, array: str, handle: _Handle, start: int, end: int) -> None:
        """fsync the chunks holding rows [start, end), the array metadata and their folders, so
        the catalogue never maps a row a power cut could lose."""
        base = self._array_path(model_id, array)
        c = handle.chunk_rows
        dirs = {base, base / "c"}
        for ci in range(start // c, (end - 1) // c + 1):
            path = base / "c" / str(ci) / "0"
            _fsync_path(path)
            dirs.add(path.parent)
        _fsync_path(base / "zarr.json")
        for d in dirs:
            _fsync_path(d, directory=True)

    # -- reading ------------------------------------------------------------------------------
    def rows(self, model_id: str, array: str, *, book_ids: Iterable[int] | None = None,
             include_removed: bool = False) -> list[tuple[int, int, int, int]]:
        """Mapped rows ``(book_id, page, panel, row)`` in row order (removed books left out)."""
        return self.catalog.vector_rows(model_id, array, book_ids=book_ids, include_removed=include_removed)

    def read(self, model_id: str, array: str, row_ids: Sequence[int]) -> "np.ndarray":
        """Rows by id (as :meth:`append` returned them, before any later compaction).
        :class:`VectorsDamaged` when some cannot be read (recorded for the next run)."""
        import numpy as np

        data, bad = self.read_checked(model_id, array, row_ids)
        if bad is not None:
            raise self._damaged(model_id, array, np.asarray(list(row_ids), dtype=np.int64)[bad])
        return data

    def read_checked(self, model_id: str, array: str, row_ids: Sequence[int]):
        """``(rows, bad)``: rows by id, and a boolean mask of those that could not be read (None
        when all were; their data is zeros). Damage found is recorded for the next run."""
        import numpy as np

        ids = np.asarray(list(row_ids), dtype=np.int64)

        def attempt(info):
            if ids.size and (ids.min() < 0 or ids.max() >= info.length):
                raise IndexError(f"{model_id}/{array}: row ids outside the {info.length} committed rows")
            return self._fetch(model_id, array, info, ids)

        data, bad, info = self._consistent(model_id, array, attempt)
        if bad is not None:
            self._record(model_id, array, info, ids[bad])
        return data, bad

    def read_keys(self, model_id: str, array: str, keys: Sequence[Sequence[int]]) -> "np.ndarray":
        """The rows mapped to these keys (``KeyError`` for a key that has none;
        :class:`VectorsDamaged` for one whose row cannot be read)."""
        import numpy as np

        wanted = [_norm_key(k) for k in keys]
        books = sorted({k[0] for k in wanted})

        def attempt(info):
            mapping = {(b, p, n): r for b, p, n, r in
                       self.catalog.vector_rows(model_id, array, book_ids=books, include_removed=True)}
            try:
                ids = np.asarray([mapping[k] for k in wanted], dtype=np.int64)
            except KeyError as exc:
                raise KeyError(f"{model_id}/{array} has no row for {exc.args[0]}") from None
            data, bad, _ = self._fetch(model_id, array, info, ids)
            return (data, ids if bad is not None else None, bad), None, info

        (data, ids, bad), _, info = self._consistent(model_id, array, attempt)
        if bad is not None:
            self._record(model_id, array, info, ids[bad])
            raise self._damaged(model_id, array, ids[bad], info=info)
        return data

    def load(self, model_id: str, array: str, *, book_ids: Iterable[int] | None = None,
             skip_damaged: bool = False):
        """Every live row (removed books left out), as ``(keys, vectors)``: ``keys`` an
        ``(n, 3)`` int64 array of book, page, panel; a consistent snapshot. Rows that cannot be
        read raise :class:`VectorsDamaged`, or with ``skip_damaged`` are left out (every row of
        a book with a damaged row) and recorded in :attr:`damage`."""
        import numpy as np


        def attempt(info):
            mapped = self.catalog.vector_rows(model_id, array, book_ids=book_ids)
            keys = np.asarray([m[:3] for m in mapped], dtype=np.int64).reshape(-1, 3)
            ids = np.asarray([m[3] for m in mapped], dtype=np.int64)
            data, bad, _ = self._fetch(model_id, array, info, ids)
            return (keys, data, ids, bad), None, info

        (keys, data, ids, bad), _, info = self._consistent(model_id, array, attempt)
        if bad is None:
            return keys, data
        err = self._record(model_id, array, info, ids[bad])
        if not skip_damaged:
            raise err
        keep = ~np.isin(keys[:, 0], np.asarray(sorted(err.books), dtype=np.int64))
        return keys[keep], data[keep]

    def _consistent(self, model_id: str, array: str, attempt, tries: int = 50):
        """Run ``attempt(info)`` until the array's generation is the same before and after it (a
        compaction switching generations meanwhile may have moved rows or files). ``attempt``
        returns ``(data, bad, info)``; so does this."""
        last: Exception | None = None
        for i in range(tries):
            info = self.catalog.vector_array(model_id, array)
            if info is None:
                raise KeyError(f"no array {model_id}/{array} in the vector cache")
            try:
                result = attempt(info)
            except (FileNotFoundError, _StaleHandle) as exc:
                last = exc
                result = None
            except VectorsDamaged:
                again = self.catalog.vector_array(model_id, array)
                if again is not None and again.generation == info.generation:
                    raise
                last, result = None, None
            except Exception as exc:  # zarr's own not-found errors while files are swapped
                if type(exc).__name__ not in ("ArrayNotFoundError", "NodeNotFoundError", "GroupNotFoundError"):
                    raise
                last = exc
                result = None
            again = self.catalog.vector_array(model_id, array)
            if result is not None and again is not None and again.generation == info.generation:
                return result
            self._handles.pop((model_id, array), None)
            time.sleep(min(0.2, 0.005 * (i + 1)))
        raise CacheError(f"could not read {model_id}/{array} consistently ({last or 'it kept changing'})")

    def _fetch(self, model_id: str, array: str, info, ids):
        """``(rows, bad, info)``: rows by id; ``bad`` a mask of rows whose chunk is missing or does
        not decode (None: all good). Raises :class:`_StaleHandle` when the files moved meanwhile."""
        import numpy as np

        if ids.size == 0:
            return np.zeros((0, info.dims), dtype=info.dtype), None, info
        try:
            handle = self._handle(model_id, array, info.generation, min_rows=int(ids.max()) + 1)
        except _ForeignArray:
            return np.zeros((len(ids), info.dims), dtype=info.dtype), np.ones(len(ids), bool), info
        except _ShortArray:
            handle = self._handle(model_id, array, info.generation)
        unique, inverse = np.unique(ids, return_inverse=True)
        c = handle.chunk_rows
        shape = handle.array.shape[0]
        chunks = np.unique(unique // c)
        bad_chunks = {int(ci) for ci in chunks if ci * c >= shape or not _chunk_file(handle.path, ci).is_file()}
        data = None
        if not bad_chunks:
            try:
                data = handle.array.get_orthogonal_selection((unique, slice(None)))
            except Exception as exc:  # noqa: BLE001 - a chunk that does not decode: found below
                if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
                    raise
                data = None
        if data is None:
            data = np.zeros((len(unique), info.dims), dtype=info.dtype)
            for ci in (int(x) for x in chunks):
                sel = (unique // c) == ci
                if ci in bad_chunks:
                    continue
                try:
                    block = handle.array[ci * c:min((ci + 1) * c, shape)]
                    data[sel] = block[unique[sel] - ci * c]
                except Exception as exc:  # noqa: BLE001 - missing, truncated, checksum, shape ...
                    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
                        raise
                    bad_chunks.add(ci)
        if not (handle.path / "zarr.json").exists():
            # Renamed away while we read (a staged generation put in place): missing chunks
            # would have read as zeros, so read again.
            raise _StaleHandle(f"{handle.path} moved during the read")
        out = data[inverse.reshape(-1)]
        if not bad_chunks:
            return out, None, info
        bad = np.isin(ids // c, np.asarray(sorted(bad_chunks), dtype=np.int64))
        out[bad] = 0
        return out, bad, info

    def _chunk_rows(self, model_id: str, array: str, info) -> int:
        import numpy as np

        try:
            return self._handle(model_id, array, info.generation).chunk_rows
        except Exception:  # noqa: BLE001 - the array's metadata is gone: its own chunk size
            return chunk_rows_for(info.dims, np.dtype(info.dtype).itemsize)

    def _record(self, model_id: str, array: str, info, rows) -> VectorsDamaged:
        """Note damaged rows: every book with a row in their chunks, here and in the side file."""
        import numpy as np

        c = self._chunk_rows(model_id, array, info)
        chunks = {int(r) // c for r in np.asarray(rows).reshape(-1)}
        books = self.catalog.vector_books_in_rows(model_id, array, [(ci * c, (ci + 1) * c) for ci in chunks])
        seen_chunks, seen_books = self.damage.setdefault((model_id, array), (set(), set()))
        seen_chunks |= chunks
        seen_books |= books
        record_damage(self.cache_dir, self.catalog.cache_id, model_id, array, info.generation, chunks, books)
        return VectorsDamaged(f"the vector cache is damaged ({model_id}/{array}: "
                              f"{len(chunks)} chunk{'s' if len(chunks) != 1 else ''} missing or unreadable, "
                              f"{len(books)} book{'s' if len(books) != 1 else ''}); the next comicdesk "
                              f"index analyses {'them' if len(books) != 1 else 'it'} again",
                              model_id=model_id, array=array, books=books, chunks=chunks)

    def _damaged(self, model_id: str, array: str, rows, info=None) -> VectorsDamaged:
        import numpy as np

        info = info or self.catalog.vector_array(model_id, array)
        c = self._chunk_rows(model_id, array, info)
        chunks = {int(r) // c for r in np.asarray(rows).reshape(-1)}
        seen_chunks, seen_books = self.damage.get((model_id, array), (set(), set()))
        return VectorsDamaged(f"the vector cache is damaged ({model_id}/{array}); the next comicdesk "
                              f"index analyses the books it held again",
                              model_id=model_id, array=array, books=seen_books, chunks=chunks)

    def _handle(self, model_id: str, array: str, generation: int, min_rows: int = 0) -> _Handle:
        import numpy as np
        import zarr

        key = (model_id, array)
        h = self._handles.get(key)
        if h is not None and h.generation == generation and h.array.shape[0] >= min_rows:
            return h
        path = self._array_path(model_id, array)
        if _stored_generation(path) != generation and self.readonly:
            # A compaction switched the catalogue but has not put the new generation in place
            # yet (or crashed right there): it is readable where it was staged.
            staged = self.staging / model_id / f"{array}.g{generation}"
            if _stored_generation(staged) == generation:
                path = staged
        if not (path / "zarr.json").exists():
            raise FileNotFoundError(f"{path} is missing")
        arr = zarr.open_array(str(path), mode="r" if self.readonly else "r+", zarr_format=3)
        if not self.readonly:
            arr = arr.with_config({"write_empty_chunks": True})
        got = arr.attrs.get("generation")
        if got != generation:
            raise _StaleHandle(f"{path} holds generation {got}, the catalogue says {generation}")
        theirs, ours = arr.attrs.get("cache_id"), self.catalog.cache_id
        if theirs and ours and theirs != ours:
            raise _ForeignArray(f"{path} was made for another catalogue")
        h = _Handle(generation, arr, arr.shape[1], str(arr.dtype), bool(arr.attrs.get("normalised")),
                    int(arr.chunks[0]), path)
        if np.dtype(h.dtype).name not in DTYPES:
            raise CacheError(f"{path} has an unexpected dtype {h.dtype}")
        self._handles[key] = h
        if h.array.shape[0] < min_rows:
            raise _ShortArray(f"{path} holds {h.array.shape[0]} rows, fewer than the catalogue maps")
        return h

    # -- repairing (the writer) ------------------------------------------------------------------
    def heal(self, *, verify: bool = False) -> dict[tuple[str, str], tuple[set[int] | None, set[int]]]:
        """Repair what readers recorded (``vectors.damaged.json``) and what a look at the files
        finds: chunk files missing under mapped rows, rows past the end of the array, and with
        ``verify`` every chunk that does not decode (reads the whole store: ``comicdesk index``
        asks for it). Damaged chunks are deleted and the rows of every book that had one there
        unmapped. Returns (and adds to :attr:`healed`) ``(model id, array) → (chunks, books)``:
        the caller makes those books count as not analysed. Holds no surprises for a healthy
        store: a stat per chunk holding mapped rows."""
        import numpy as np

        self._writable()
        cache_id = self.catalog.cache_id
        reported: dict[tuple[str, str], set[int]] = {}
        side = _read_damage(self.cache_dir)
        if side is not None and side.get("cache_id") == cache_id:
            for name, entry in (side.get("arrays") or {}).items():
                try:
                    m, a = name.split("/", 1)
                    info = self.catalog.vector_array(m, a)
                    if info is not None and int(entry.get("generation", -1)) == info.generation:
                        reported.setdefault((m, a), set()).update(int(c) for c in entry.get("chunks", []))
                except (TypeError, ValueError, AttributeError):
                    continue
        done: dict[tuple[str, str], tuple[set[int] | None, set[int]]] = {}
        for (m, a), info in sorted(self.catalog.vector_arrays().items()):
            try:
                handle = self._handle(m, a, info.generation)
            except (FileNotFoundError, _StaleHandle, _ForeignArray):
                continue  # recover() starts such an array again
            c = handle.chunk_rows
            shape = handle.array.shape[0]

            def unreadable(ci: int) -> bool:
                try:
                    handle.array[ci * c:min((ci + 1) * c, shape)]
                except Exception as exc:  # noqa: BLE001 - truncated, checksum, garbage
                    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
                        raise
                    return True
                return False

            bad: set[int] = set()
            for ci in self.catalog.vector_row_chunks(m, a, c):
                f = _chunk_file(handle.path, ci)
                if ci * c >= shape or not f.is_file():
                    bad.add(ci)
                elif (verify or ci in reported.get((m, a), ())) and unreadable(ci):
                    bad.add(ci)
            # The chunk the next append writes into is read back first: it must decode.
            tail = info.length // c
            if (info.length % c and tail not in bad and tail * c < shape
                    and _chunk_file(handle.path, tail).is_file() and unreadable(tail)):
                bad.add(tail)
            # rows past the end of the array (an older copy of the files put back)
            top = self.catalog.vector_max_row(m, a)
            if top is not None and top >= shape:
                bad |= set(range(shape // c, top // c + 1)) & set(self.catalog.vector_row_chunks(m, a, c))
            if not bad:
                continue
            books = self.catalog.vector_books_in_rows(m, a, [(ci * c, (ci + 1) * c) for ci in bad])
            for ci in bad:
                _chunk_file(handle.path, ci).unlink(missing_ok=True)
            with self._tx():
                self.catalog.delete_vector_rows(sorted(books), m, a)
                self._note_lost(m, a, books)
            done[(m, a)] = (bad, books)
        _clear_damage(self.cache_dir)
        self._handles.clear()
        self.healed.update(done)
        return done

    def _note_lost(self, model_id: str, array: str, books: Iterable[int]) -> None:
        """In the transaction that unmaps their rows: these books lost their rows of this array
        (catalogue meta :data:`LOST_KEY`), so a crash before the runner makes them not analysed
        cannot leave them counted as analysed with no vectors."""
        import json

        lost = take_lost(self.catalog, clear=False)
        have = set(lost.get(f"{model_id}/{array}", []))
        lost[f"{model_id}/{array}"] = sorted(have | {int(b) for b in books})
        self.catalog.set_meta(LOST_KEY, json.dumps(lost))

    def healed_books(self) -> set[int]:
        return {b for _chunks, books in self.healed.values() for b in books}

    # -- garbage and compaction ----------------------------------------------------------------
    def stats(self, model_id: str, array: str) -> tuple[int, int]:
        """``(rows stored, rows mapped)``; the difference is garbage."""
        info = self.catalog.vector_array(model_id, array)
        if info is None:
            raise KeyError(f"no array {model_id}/{array} in the vector cache")
        mapped = self.catalog.count_vector_rows(model_id, array)
        try:
            stored = self._handle(model_id, array, info.generation).array.shape[0]
        except FileNotFoundError:
            stored = 0
        return stored, mapped

    def compact(self, model_id: str | None = None, array: str | None = None, *,
                min_garbage: float = 0.0) -> list[CompactResult]:
        """Rewrite arrays whose garbage share (unmapped rows / rows stored) is above
        ``min_garbage`` (and nonzero) with their mapped rows only; see the module docstring for
        why a crash at any point leaves a consistent store."""
        import numpy as np

        self._writable()
        done = []
        for (m, a), info in sorted(self.catalog.vector_arrays().items()):
            if (model_id is not None and m != model_id) or (array is not None and a != array):
                continue
            stored, mapped = self.stats(m, a)
            garbage = stored - mapped
            if garbage <= 0 or garbage / max(1, stored) < min_garbage:
                continue
            live = [r[3] for r in self.catalog.vector_rows(m, a, include_removed=True)]
            old = self._handle(m, a, info.generation)
            gen = info.generation + 1
            staged = self.staging / m / f"{a}.g{gen}"
            if staged.exists():
                shutil.rmtree(staged)
            staged.parent.mkdir(parents=True, exist_ok=True)
            new = self._create_zarr_array(staged, len(live), info.dims, info.dtype, info.normalised, gen)
            ids = np.asarray(live, dtype=np.int64)
            step = max(old.chunk_rows, 4096)
            for i in range(0, len(ids), step):
                part = ids[i:i + step]
                new[i:i + len(part)] = old.array.get_orthogonal_selection((part, slice(None)))
            if self.durable:
                for dirpath, _dirs, files in os.walk(staged):
                    for f in files:
                        _fsync_path(Path(dirpath) / f)
                    _fsync_path(Path(dirpath), directory=True)
                _fsync_path(staged.parent, directory=True)
            self._step("staged")
            with self._tx():
                self.catalog.remap_vector_rows(m, a, gen, [(o, n) for n, o in enumerate(live)])
                self.catalog.set_vector_array(m, a, generation=gen, length=len(live))
            self._next.pop((m, a), None)
            self._handles.pop((m, a), None)
            self._step("switched")
            self._swap(m, a, gen)
            self._step("swapped")
            done.append(CompactResult(m, a, stored, len(live), gen))
        return done

    def _swap(self, model_id: str, array: str, generation: int) -> None:
        """Put the staged array of ``generation`` in place (the catalogue already points at it)."""
        active = self._array_path(model_id, array)
        staged = self.staging / model_id / f"{array}.g{generation}"
        if staged.exists():
            if active.exists():
                gone = self.trash / f"{model_id}.{array}.{uuid.uuid4().hex}"
                gone.parent.mkdir(parents=True, exist_ok=True)
                os.replace(active, gone)
            active.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, active)
            _fsync_path(active.parent, directory=True)
            for folder in (staged.parent, self.staging):
                try:
                    folder.rmdir()  # only when empty
                except OSError:
                    pass
        shutil.rmtree(self.trash, ignore_errors=True)

    def recover(self) -> None:
        """Make the files agree with the catalogue after a crash (writer only): finish or drop an
        interrupted compaction; stamp arrays from before the identity with the catalogue's
        ``cache_id``; start again (empty, in a new generation) an array whose files are gone,
        unreadable, of another generation or made for another catalogue — its books are
        analysed again (:attr:`healed`)."""
        self._writable()
        cache_id = self.catalog.cache_id
        for (m, a), info in self.catalog.vector_arrays().items():
            path = self._array_path(m, a)
            gen = _stored_generation(path)
            if gen != info.generation and (self.staging / m / f"{a}.g{info.generation}" / "zarr.json").exists():
                self._swap(m, a, info.generation)  # the switch was committed: finish it
                gen = _stored_generation(path)
            theirs = _stored_attr(path, "cache_id")
            if gen == info.generation and (not theirs or not cache_id or theirs == cache_id):
                if cache_id and not theirs:
                    self._stamp(path, cache_id)
                continue
            if gen is None and info.length == 0 and info.generation == 0:
                self._create_zarr_array(path, 0, info.dims, info.dtype, info.normalised, 0)
                continue
            # Files the catalogue cannot explain: start the array again, analyse its books again.
            books = {b for b, _p, _n, _r in self.catalog.vector_rows(m, a, include_removed=True)}
            new_gen = max(info.generation, gen if isinstance(gen, int) else -1) + 1
            if path.exists():
                gone = self.trash / f"{m}.{a}.{uuid.uuid4().hex}"
                gone.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, gone)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._create_zarr_array(path, 0, info.dims, info.dtype, info.normalised, new_gen)
            with self._tx():
                self.catalog.delete_vector_rows(sorted(books), m, a)
                self._note_lost(m, a, books)
                self.catalog.set_vector_array(m, a, generation=new_gen, length=0)
            self.healed[(m, a)] = (None, books)
        # A staged copy the catalogue never switched to, and old generations: garbage.
        shutil.rmtree(self.staging, ignore_errors=True)
        shutil.rmtree(self.trash, ignore_errors=True)
        self._handles.clear()
        self._next.clear()

    def _stamp(self, path: Path, cache_id: str) -> None:
        """Record the catalogue's identity in an array made before it had one (no data touched)."""
        import zarr

        arr = zarr.open_array(str(path), mode="r+", zarr_format=3)
        arr.attrs.update({"cache_id": cache_id})
        if self.durable:
            _fsync_path(path / "zarr.json")

    # -- helpers ------------------------------------------------------------------------------
    def _writable(self) -> None:
        if self.readonly:
            raise CacheError("the vector cache was opened read-only")

    @contextmanager
    def _tx(self) -> Iterator[None]:
        if self.catalog.conn.in_transaction:
            yield
        else:
            with self.catalog.transaction():
                yield

    @staticmethod
    def _step(name: str) -> None:
        if _step_hook is not None:
            _step_hook(name)


class _StaleHandle(Exception):
    pass


class _ForeignArray(Exception):
    """The array's files were made for another catalogue (its ``cache_id`` differs)."""


class _ShortArray(Exception):
    """The array holds fewer rows than the catalogue maps (an older copy of its files)."""


def take_lost(catalog: "Catalog", *, clear: bool = True) -> dict[str, list[int]]:
    """``{"model/array": [book ids]}`` whose rows a repair unmapped and whose analysis is still to
    be made undone; ``clear`` forgets them (inside the caller's transaction)."""
    import json

    try:
        lost = json.loads(catalog.get_meta(LOST_KEY) or "{}")
    except ValueError:
        lost = {}
    if clear:
        catalog.conn.execute("DELETE FROM meta WHERE key = ?", (LOST_KEY,))
    return lost if isinstance(lost, dict) else {}


def _chunk_file(path: Path, chunk: int) -> Path:
    """The file of row chunk ``chunk`` of a 2-D array chunked by rows only (Zarr v3 keys)."""
    return Path(path) / "c" / str(int(chunk)) / "0"


def _stored_attr(path: Path, name: str):
    import json

    try:
        meta = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (meta.get("attributes") or {}).get(name)


def _read_damage(cache_dir: Path) -> dict | None:
    import json

    try:
        data = json.loads((Path(cache_dir) / DAMAGE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_damage(cache_dir: Path, cache_id: str | None, model_id: str, array: str, generation: int,
                  chunks: Iterable[int], books: Iterable[int]) -> bool:
    """Add damaged chunks (and the books with rows in them) to ``vectors.damaged.json``, for the
    next writer to repair. Written to a temp file and renamed; a read-only cache records nothing
    (the next ``comicdesk index`` verifies every chunk anyway). Returns whether it was written."""
    import json

    path = Path(cache_dir) / DAMAGE_FILE
    data = _read_damage(cache_dir)
    if data is None or data.get("cache_id") != cache_id or not isinstance(data.get("arrays"), dict):
        data = {"cache_id": cache_id, "arrays": {}}
    entry = data["arrays"].get(f"{model_id}/{array}")
    if not isinstance(entry, dict) or entry.get("generation") != generation:
        entry = {"generation": generation, "chunks": [], "books": []}
    entry["chunks"] = sorted({int(c) for c in entry.get("chunks", [])} | {int(c) for c in chunks})
    entry["books"] = sorted({int(b) for b in entry.get("books", [])} | {int(b) for b in books})
    data["arrays"][f"{model_id}/{array}"] = entry
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        return False


def _clear_damage(cache_dir: Path) -> None:
    try:
        (Path(cache_dir) / DAMAGE_FILE).unlink()
    except OSError:
        pass


def _stored_generation(path: Path) -> int | None:
    import json

    try:
        meta = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    gen = (meta.get("attributes") or {}).get("generation")
    return gen if isinstance(gen, int) else None


__all__ = ["DAMAGE_FILE", "CacheError", "CompactResult", "PendingRows", "VectorStore", "VectorsDamaged",
           "chunk_rows_for", "record_damage", "take_lost"]
