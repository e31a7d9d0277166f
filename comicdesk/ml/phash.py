"""Perceptual hashes of pages (64-bit DCT pHash) and grouping of repeated pages.

``phash(image)``: the image in greyscale, resized (antialiased) to 32x32, its 2-D DCT-II, and the
64 lowest-frequency coefficients after the DC term in zig-zag order (``u + v`` ascending, then
``u``), each compared with their median: bit 63 is the first coefficient, bit 0 the last. The DC
term is left out because it is positive for every image and would be a constant bit. A hash is an
``int`` in ``[0, 2**64)``; :func:`to_int64` / :func:`from_int64` convert for SQLite's signed
INTEGER.

The same page re-encoded or resized lands within a few bits; different pages are ~32 bits apart.
The default thresholds below come from the measurement in ``docs/features.md``.

Only numpy and Pillow are used (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

HASH_SIZE = 32
BITS = 64
#: Pages whose hashes differ in at most this many bits are candidates for "the same page".
DEFAULT_MAX_DISTANCE = 10
#: With page embeddings given, a candidate pair must also reach this cosine similarity.
DEFAULT_MIN_COSINE = 0.90


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix: ``D @ x`` is the DCT of a length-n column x."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


_DCT = _dct_matrix(HASH_SIZE)
# Zig-zag order of the low frequencies, DC first; positions 1..64 make the hash.
_ORDER = sorted(((u, v) for u in range(12) for v in range(12)), key=lambda p: (p[0] + p[1], p[0]))
_ROWS = np.array([p[0] for p in _ORDER[1 : BITS + 1]])
_COLS = np.array([p[1] for p in _ORDER[1 : BITS + 1]])
_WEIGHTS = (1 << np.arange(BITS - 1, -1, -1, dtype=np.uint64)).astype(np.uint64)


def _grey32(image: Image.Image) -> np.ndarray:
    from PIL import Image as PILImage

    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    if image.mode != "L":
        image = image.convert("L")
    # Plain area averaging; no reducing_gap: its integer pre-reduction shifts content by a
    # size-dependent fraction of a cell, which cost up to 10 bits on a 90 % resize.
    small = image.resize((HASH_SIZE, HASH_SIZE), PILImage.BOX)
    return np.asarray(small, dtype=np.float64)


def phash_bits(image: Image.Image) -> np.ndarray:
    """The 64 hash bits of ``image`` as a bool array (most significant first)."""
    pixels = _grey32(image)
    coeffs = _DCT @ pixels @ _DCT.T
    low = coeffs[_ROWS, _COLS]
    return low > np.median(low)


def phash(image: Image.Image) -> int:
    """64-bit DCT perceptual hash of a page as an unsigned ``int``."""
    bits = phash_bits(image)
    return int(np.bitwise_or.reduce(np.where(bits, _WEIGHTS, np.uint64(0))))


def to_int64(h: int) -> int:
    """The hash as a signed 64-bit integer (the same bits), for SQLite."""
    return h - (1 << 64) if h >= (1 << 63) else h


def from_int64(v: int) -> int:
    """Back from :func:`to_int64`."""
    return v + (1 << 64) if v < 0 else v


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()


_POP8 = np.array([i.bit_count() for i in range(256)], dtype=np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Bits set per uint64 element."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x).astype(np.uint8)
    return _POP8[x.view(np.uint8)].reshape(*x.shape, 8).sum(-1, dtype=np.uint8)


def as_array(hashes: Sequence[int]) -> np.ndarray:
    """Hashes (unsigned or signed ints) as a uint64 array."""
    return np.array([from_int64(int(h)) for h in hashes], dtype=np.uint64)


def hamming_matrix(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """(len(a), len(b)) uint8 matrix of Hamming distances (``b`` defaults to ``a``)."""
    a = a if isinstance(a, np.ndarray) else as_array(a)
    b = a if b is None else (b if isinstance(b, np.ndarray) else as_array(b))
    return _popcount(a[:, None] ^ b[None, :])


def group_duplicates(
    hashes: Sequence[int] | np.ndarray,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    embeddings: np.ndarray | None = None,
    min_cosine: float = DEFAULT_MIN_COSINE,
    block: int = 2048,
) -> list[list[int]]:
    """Groups (index lists, each sorted, groups ordered by first index) of repeated pages.

    Two pages are linked when their hashes differ in at most ``max_distance`` bits and, when
    ``embeddings`` (one row per page, e.g. EfficientNet page features) are given, their cosine
    similarity is at least ``min_cosine``. Groups are the connected components of those links;
    pages linked to nothing are left out. Hashes may be unsigned or as stored by
    :func:`to_int64`; pages without a hash (bad pages) are the caller's to leave out. Cost: all
    pairs, compared in ``block`` x ``block`` numpy tiles.
    """
    h = hashes if isinstance(hashes, np.ndarray) else as_array(hashes)
    n = len(h)
    if n < 2:
        return []
    unit = None
    if embeddings is not None:
        e = np.asarray(embeddings, dtype=np.float32)
        if e.shape[0] != n:
            raise ValueError(f"{e.shape[0]} embeddings for {n} hashes")
        norms = np.linalg.norm(e, axis=1, keepdims=True)
        unit = e / np.maximum(norms, 1e-12)

    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for s in range(0, n, block):
        rows = h[s : s + block]
        for t in range(s, n, block):
            d = _popcount(rows[:, None] ^ h[None, t : t + block])
            close = d <= max_distance
            if t == s:
                close = np.triu(close, k=1)
            ii, jj = np.nonzero(close)
            if not len(ii):
                continue
            ii = ii + s
            jj = jj + t
            if unit is not None:
                cos = np.einsum("ij,ij->i", unit[ii], unit[jj])
                keep = cos >= min_cosine
                ii, jj = ii[keep], jj[keep]
            for i, j in zip(ii.tolist(), jj.tolist()):
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)

    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])
