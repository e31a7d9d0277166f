"""Whole books through CoSMo v4: windows of ≤ 512 pages (here the tiny model's 32) that never
leave a book, overlapping, logits averaged in the overlap, and a real attention mask for padding
and bad pages."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

import torch  # a declared dependency: missing is a failure, not a skip
import transformers  # noqa: F401,E402 - declared too

from cosmo_helpers import randomise, tiny_cosmo_config

from comicdesk.ml.cosmo import (
    MAX_PAGES,
    BookBERTMultimodal2,
    book_logits,
    books_logits,
    probabilities,
    windows,
)

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def model():
    m = BookBERTMultimodal2(config=tiny_cosmo_config()).eval()  # 64 positions: 32 pages a pass
    randomise(m, 3)
    return m


def _book(cfg, n, seed):
    g = np.random.RandomState(seed)
    return (g.randn(n, cfg.textual_dim).astype(np.float32), g.randn(n, cfg.visual_dim).astype(np.float32))


def _alone(model, t, v):
    with torch.inference_mode():
        return model(torch.from_numpy(t)[None], torch.from_numpy(v)[None])[0]


def test_windows_cover_the_book_with_full_windows_and_overlap():
    assert windows(0) == [] and windows(1) == [(0, 1)] and windows(MAX_PAGES) == [(0, 512)]
    assert windows(600) == [(0, 512), (88, 600)]
    assert windows(1000) == [(0, 512), (384, 896), (488, 1000)]
    for n in (513, 700, 896, 897, 2000, 5000):
        ws = windows(n)
        assert ws[0][0] == 0 and ws[-1][1] == n
        assert all(z - a == 512 for a, z in ws)  # every page keeps a full window of context
        assert all(b[0] - a[0] <= 384 for a, b in pairwise(ws))  # ≥ 128 pages shared
        assert all(b[0] > a[0] for a, b in pairwise(ws))
    assert windows(70, 32, 8) == [(0, 32), (24, 56), (38, 70)]
    assert windows(70, 32, 0) == [(0, 32), (32, 64), (38, 70)]
    with pytest.raises(ValueError):
        windows(10, 32, 32)


def test_a_short_book_is_one_sequence(model):
    t, v = _book(model.config, 10, 0)
    out = book_logits(model, t, v)
    assert out.shape == (10, 9) and out.dtype == torch.float32
    assert torch.allclose(out, _alone(model, t, v), atol=1e-5)
    assert book_logits(model, np.zeros((0, 24)), np.zeros((0, 20))).shape == (0, 9)


def test_a_long_book_averages_its_overlapping_windows(model):
    t, v = _book(model.config, 70, 1)
    got = book_logits(model, t, v, overlap=8)
    ws = windows(70, 32, 8)
    sums = torch.zeros(70, 9)
    counts = torch.zeros(70, 1)
    for a, z in ws:
        sums[a:z] += _alone(model, t[a:z], v[a:z])
        counts[a:z] += 1
    assert counts.min() == 1 and counts.max() == 2
    assert torch.allclose(got, sums / counts, atol=1e-5)
    # in an overlap both windows count; outside it only one
    only_first = _alone(model, t[0:32], v[0:32])
    assert torch.allclose(got[:24], only_first[:24], atol=1e-5)
    assert not torch.allclose(got[24:32], only_first[24:32], atol=1e-3)


def test_books_share_batches_but_never_windows(model):
    cfg = model.config
    books = [_book(cfg, n, 10 + n) for n in (3, 40, 17, 1)]
    together = books_logits(model, books, batch_size=8)
    for (t, v), got in zip(books, together):
        assert got.shape == (len(t), 9)
        assert torch.allclose(got, book_logits(model, t, v), atol=1e-5)
    # padded batches give what each window gives alone: the padding is masked, not attended
    t, v = books[2]
    assert torch.allclose(together[2], _alone(model, t, v), atol=1e-5)
    # unlike the seed's script, which attended zero padding
    with torch.inference_mode():
        pad_t = torch.cat([torch.from_numpy(t), torch.zeros(15, cfg.textual_dim)])[None]
        pad_v = torch.cat([torch.from_numpy(v), torch.zeros(15, cfg.visual_dim)])[None]
        attended = model(pad_t, pad_v)[0, :17]
    assert not torch.allclose(attended, together[2], atol=1e-3)


def test_masked_pages_keep_their_place_but_are_not_attended(model):
    cfg = model.config
    t, v = _book(cfg, 12, 5)
    mask = np.ones(12, np.float32)
    mask[4] = 0
    base = book_logits(model, t, v, mask)
    t2, v2 = t.copy(), v.copy()
    t2[4] += 50
    v2[4] -= 50  # whatever a masked page holds, the others do not see it
    other = book_logits(model, t2, v2, mask)
    keep = np.arange(12) != 4
    assert torch.allclose(base[keep], other[keep], atol=1e-5)
    # without the mask the change is seen by every page
    assert not torch.allclose(book_logits(model, t, v)[keep], book_logits(model, t2, v2)[keep], atol=1e-3)
    with pytest.raises(ValueError, match="page_mask"):
        book_logits(model, t, v, np.ones(3))


def test_bad_features_are_refused(model):
    with pytest.raises(ValueError, match="dims"):
        book_logits(model, np.zeros((3, 5)), np.zeros((3, 20)))
    with pytest.raises(ValueError):
        book_logits(model, np.zeros((3, 24)), np.zeros((4, 20)))


def test_probabilities_sum_to_one(model):
    t, v = _book(model.config, 6, 2)
    p = probabilities(book_logits(model, t, v))
    assert p.shape == (6, 9) and np.allclose(p.sum(1), 1, atol=1e-5)
