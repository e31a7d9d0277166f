"""Perceptual page hashes: robustness to re-encoding, distinctness, duplicate groups."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from feat_data import captain_science, rescan, synthetic_page, xkcd_pages
from PIL import Image, ImageEnhance

from comicdesk.ml import phash as ph


@pytest.fixture(scope="module")
def pages() -> list[Image.Image]:
    real = list(xkcd_pages().values())
    real += [p.resize((p.width * 8, p.height * 8), Image.BICUBIC) for p in captain_science()]
    return real + [synthetic_page(s)[0] for s in range(12)]


def test_dct_is_orthonormal_and_bits_are_balanced():
    d = ph._dct_matrix(ph.HASH_SIZE)
    assert np.allclose(d @ d.T, np.eye(ph.HASH_SIZE), atol=1e-12)
    assert len(set(zip(ph._ROWS.tolist(), ph._COLS.tolist()))) == 64
    assert (0, 0) not in set(zip(ph._ROWS.tolist(), ph._COLS.tolist()))  # no DC bit
    page, _ = synthetic_page(3)
    assert 28 <= ph.phash_bits(page).sum() <= 32  # median split: half the bits set


def test_hash_is_a_deterministic_64_bit_int(pages):
    h = ph.phash(pages[0])
    assert isinstance(h, int) and 0 <= h < 2**64
    assert h == ph.phash(pages[0].copy())
    assert ph.phash(pages[0].convert("L")) == h


def test_same_page_reencoded_resized_or_brightened_stays_close(pages):
    for p in pages:
        h = ph.phash(p)
        assert ph.hamming(h, ph.phash(rescan(p, 75, 0.9))) <= 4
        assert ph.hamming(h, ph.phash(rescan(p, 50, 0.5))) <= 6
        assert ph.hamming(h, ph.phash(ImageEnhance.Brightness(p).enhance(1.15))) <= 8


def test_different_pages_are_far_apart(pages):
    hashes = [ph.phash(p) for p in pages]
    d = [ph.hamming(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert min(d) > ph.DEFAULT_MAX_DISTANCE
    real = hashes[:12]
    assert min(ph.hamming(a, b) for a, b in itertools.combinations(real, 2)) >= 16


def test_signed_storage_round_trip_and_distance_matrix():
    hs = [0, 1, 2**63, 2**64 - 1, 0x0123456789ABCDEF]
    for h in hs:
        assert ph.from_int64(ph.to_int64(h)) == h
        assert -(2**63) <= ph.to_int64(h) < 2**63
    m = ph.hamming_matrix(hs)
    assert m.shape == (5, 5)
    for i, j in itertools.product(range(5), repeat=2):
        assert m[i, j] == ph.hamming(hs[i], hs[j])
    assert ph.hamming(0, 2**64 - 1) == 64
    assert np.array_equal(ph.hamming_matrix([ph.to_int64(h) for h in hs]), m)


def test_group_duplicates_by_hash_and_optional_embedding():
    base = [0x0F0F0F0F0F0F0F0F, 0xFFFF0000FFFF0000, 0x123456789ABCDEF0]
    hashes = [
        base[0], base[0] ^ 0b111,          # 0, 1: 3 bits apart
        base[1], base[2], base[1] ^ 0b1,   # 2, 4: 1 bit apart
        base[2] ^ (2**40 - 1),             # 5: 40 bits from 3
        base[0] ^ (0b1 << 60),             # 6: 1 bit from 0, 4 from 1
    ]
    assert ph.group_duplicates(hashes, max_distance=4) == [[0, 1, 6], [2, 4]]
    assert ph.group_duplicates(hashes, max_distance=2) == [[0, 6], [2, 4]]
    # tiling gives the same answer as one block
    assert ph.group_duplicates(hashes, max_distance=4, block=2) == [[0, 1, 6], [2, 4]]
    # embeddings veto the pair (2, 4): their cosine is 0
    emb = np.eye(7, dtype=np.float32)
    emb[[0, 1, 6]] = 1.0
    assert ph.group_duplicates(hashes, max_distance=4, embeddings=emb, min_cosine=0.9) == [[0, 1, 6]]
    assert ph.group_duplicates(hashes[:1]) == []
    with pytest.raises(ValueError):
        ph.group_duplicates(hashes, embeddings=emb[:3])


def test_grouping_real_pages_with_their_rescans(pages):
    originals = pages[:7]
    copies = [rescan(p, 75, 0.9) for p in originals[:4]]
    hashes = [ph.phash(p) for p in originals + copies]
    groups = ph.group_duplicates(hashes)
    assert groups == [[0, 7], [1, 8], [2, 9], [3, 10]]
