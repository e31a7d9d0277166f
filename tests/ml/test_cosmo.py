"""CoSMo v4 (BookBERTMultimodal2): key manifest, equality with the model card's code, checkpoint
loading and its one-line errors. Random weights only; nothing is downloaded."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import torch  # a declared dependency: missing is a failure, not a skip
import transformers  # noqa: F401,E402 - declared too

from cosmo_helpers import (
    manifest,
    randomise,
    shapes_of,
    tiny_cosmo_config,
    tiny_panel_config,
)
from torch import nn

from comicdesk.core.errors import ComicdeskError
from comicdesk.ml import cosmo
from comicdesk.ml.cosmo import (
    BookBERTMultimodal2,
    CheckpointError,
    CosmoV4Config,
    book_logits,
    load_checkpoint,
)

torch.set_num_threads(2)


# -- the model card's code, transcribed as printed (shared/seeds/000_*.txt) -----------------------
class CardBookBERT(nn.Module):
    def __init__(self, bert_input=768, num_classes=9, hidden_dim=512, dropout_p=0.0):
        super().__init__()
        from transformers import BertConfig, BertModel

        config = BertConfig(
            hidden_size=bert_input, num_hidden_layers=4, num_attention_heads=4,
            intermediate_size=bert_input * 4, max_position_embeddings=1024
        )  # fmt: skip
        self.bert_encoder = BertModel(config)
        self.classifier = nn.Sequential(
            nn.Linear(bert_input, hidden_dim),
            nn.Linear(hidden_dim, hidden_dim // 2),
            nn.LayerNorm(hidden_dim // 2),
            nn.GELU(),
            nn.Dropout(dropout_p),
            nn.Linear(hidden_dim // 2, hidden_dim // 4),
            nn.LayerNorm(hidden_dim // 4),
            nn.GELU(),
            nn.Dropout(dropout_p),
            nn.Linear(hidden_dim // 4, num_classes),
        )


class CardBookBERTMultimodal2(CardBookBERT):
    def __init__(self, textual_dim=1024, visual_dim=1152, bert_dim=768, classes=9):
        super().__init__(bert_input=bert_dim, num_classes=classes, hidden_dim=512, dropout_p=0.0)
        sz1_v = (visual_dim + bert_dim) * 2
        self.visual_projection = nn.Sequential(
            nn.Linear(visual_dim, sz1_v), nn.LayerNorm(sz1_v), nn.GELU(), nn.Dropout(0.0),
            nn.Linear(sz1_v, sz1_v//2), nn.LayerNorm(sz1_v//2), nn.GELU(), nn.Dropout(0.0),
            nn.Linear(sz1_v//2, bert_dim)
        )  # fmt: skip
        sz1_t = (textual_dim + bert_dim) * 2
        self.textual_projection = nn.Sequential(
            nn.Linear(textual_dim, sz1_t), nn.LayerNorm(sz1_t), nn.GELU(), nn.Dropout(0.0),
            nn.Linear(sz1_t, sz1_t//2), nn.LayerNorm(sz1_t//2), nn.GELU(), nn.Dropout(0.0),
            nn.Linear(sz1_t//2, bert_dim)
        )  # fmt: skip
        self.norm = nn.LayerNorm(bert_dim)

    def forward(self, textual_features, visual_features):
        batch_size, seq_len, _ = textual_features.shape
        mask = torch.ones((batch_size, seq_len), device=textual_features.device)
        return self._run(textual_features, visual_features, mask)

    def forward_masked(self, textual_features, visual_features, mask):
        """The card's forward with upstream's page mask instead of its all-ones mask
        (mserra0 CoSMo: the page mask repeated for the page's two tokens)."""
        return self._run(textual_features, visual_features, mask)

    def _run(self, textual_features, visual_features, mask):
        batch_size, seq_len, _ = textual_features.shape
        t_norm = self.norm(self.textual_projection(textual_features))
        v_norm = self.norm(self.visual_projection(visual_features))
        combined = torch.stack([t_norm, v_norm], dim=2).view(batch_size, seq_len * 2, -1)
        exp_mask = mask.unsqueeze(2).expand(-1, -1, 2).reshape(batch_size, seq_len * 2)
        bert_out = self.bert_encoder(inputs_embeds=combined, attention_mask=exp_mask)
        reshaped = bert_out.last_hidden_state.view(batch_size, seq_len, 2, -1)
        return self.classifier(reshaped[:, :, -1, :])


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def full_model():
    """The full-size model (79M parameters), built once, with every weight random."""
    torch.manual_seed(0)
    model = BookBERTMultimodal2()
    randomise(model, seed=1)
    return model.eval()


@pytest.fixture(scope="module")
def tiny_cfg():
    return tiny_cosmo_config()


@pytest.fixture()
def tiny_model(tiny_cfg):
    model = BookBERTMultimodal2(config=tiny_cfg)
    randomise(model, seed=2)
    return model.eval()


def _features(cfg, batch, pages, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, pages, cfg.textual_dim, generator=g),
        torch.randn(batch, pages, cfg.visual_dim, generator=g),
    )


# -- structure ---------------------------------------------------------------------------------------
def test_state_dict_matches_the_real_checkpoint_manifest(full_model):
    expected = manifest("cosmo_v4_keys.json")
    got = shapes_of(full_model.state_dict())
    assert set(got) == set(expected)
    assert got == expected
    assert not [k for k, _ in full_model.named_buffers() if k in full_model.state_dict()]
    counts = manifest("counts.json")
    by_module = counts["transformers_5.23.0"]["cosmo_v4"]["params_by_top_module"]
    for name, n in by_module.items():
        assert sum(p.numel() for p in getattr(full_model, name).parameters()) == n, name
    assert sum(p.numel() for p in full_model.parameters()) == 79_394_185


def test_card_keywords_and_config():
    assert CosmoV4Config().max_pages == 512
    with pytest.raises(ValueError):
        BookBERTMultimodal2(textual_dim=16, config=tiny_cosmo_config())
    with torch.device("meta"):
        m = BookBERTMultimodal2(textual_dim=16, visual_dim=8, bert_dim=32, classes=3)
    assert m.textual_projection[0].in_features == 16
    assert m.textual_projection[0].out_features == (16 + 32) * 2
    assert m.visual_projection[4].out_features == (8 + 32)
    assert m.classifier[-1].out_features == 3
    assert m.projection.in_features == 8 and m.projection.out_features == 32
    assert cosmo.CLASSES[0] == "advertisement" and cosmo.CLASSES[-1] == "back_cover"


# -- same logits as the card -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def card_model(full_model):
    card = CardBookBERTMultimodal2()
    sd = {k: v for k, v in full_model.state_dict().items() if not k.startswith("projection.")}
    card.load_state_dict(sd, strict=True)  # the card's class lacks only the unused projection
    return card.eval()


def test_same_logits_as_the_card_without_mask(full_model, card_model):
    text, vis = _features(full_model.config, 2, 24, seed=3)
    with torch.inference_mode():
        ours = full_model(text, vis)
        theirs = card_model(text, vis)
    assert ours.shape == (2, 24, 9)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)
    assert ours.std(dim=1).mean() > 0.05  # pages differ: the comparison is not between constants


def test_same_logits_as_the_card_with_a_page_mask(full_model, card_model):
    text, vis = _features(full_model.config, 2, 12, seed=4)
    mask = torch.ones(2, 12)
    mask[1, 9:] = 0  # the second book has 9 pages, padded to 12
    with torch.inference_mode():
        ours = full_model(text, vis, attention_mask=mask)
        theirs = card_model.forward_masked(text, vis, mask)
        alone = full_model(text[1:, :9], vis[1:, :9])
        unmasked = full_model(text, vis)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)
    # padding pages hidden by the mask change nothing for the real pages (same positions)
    assert torch.allclose(ours[1, :9], alone[0], atol=1e-5, rtol=0)
    assert torch.allclose(ours[0], unmasked[0], atol=1e-5, rtol=0)
    assert not torch.allclose(ours[1, :9], unmasked[1, :9], atol=1e-3)
    # a boolean or integer mask means the same
    with torch.inference_mode():
        assert torch.allclose(full_model(text, vis, attention_mask=mask.bool()), ours, atol=1e-6)


def test_each_page_reads_its_visual_token_and_context(tiny_model):
    cfg = tiny_model.config
    text, vis = _features(cfg, 1, 6, seed=5)
    with torch.inference_mode():
        base = tiny_model(text, vis)
        vis2 = vis.clone()
        vis2[0, 5] += 1.0
        changed = tiny_model(text, vis2)
    # changing page 5 changes every page (one sequence), page 5 most
    diff = (changed - base).abs().amax(dim=-1)[0]
    assert (diff > 0).all()


def test_forward_rejects_bad_input(tiny_model):
    cfg = tiny_model.config
    text, vis = _features(cfg, 1, cfg.max_pages + 1)
    with pytest.raises(ValueError, match="book_logits"):
        tiny_model(text, vis)
    with pytest.raises(ValueError, match="disagree"):
        tiny_model(text[:, :3], vis[:, :4])
    with pytest.raises(ValueError):
        tiny_model(text[:, :3], vis[:, :3], attention_mask=torch.ones(1, 4))


# -- loading checkpoints -------------------------------------------------------------------------------
def _save(obj, path):
    torch.save(obj, path)
    return path


def _assert_same_model(a, b, cfg, seed=7):
    text, vis = _features(cfg, 2, 9, seed=seed)
    with torch.inference_mode():
        assert torch.equal(a(text, vis), b(text, vis))


def test_load_raw_and_wrapped_state_dicts(tiny_model, tiny_cfg, tmp_path):
    sd = tiny_model.state_dict()
    raw = _save(sd, tmp_path / "raw.pt")
    wrapped = _save(
        {"model_state_dict": sd, "epoch": 3, "optimizer_state_dict": {}}, tmp_path / "w.pt"
    )
    for path in (raw, wrapped):
        loaded = load_checkpoint(path, config=tiny_cfg)
        assert isinstance(loaded, BookBERTMultimodal2) and not loaded.training
        assert not any(p.requires_grad for p in loaded.parameters())
        _assert_same_model(loaded, tiny_model, tiny_cfg)
    # str path and map_location work too
    assert isinstance(
        load_checkpoint(str(raw), map_location="cpu", config=tiny_cfg), BookBERTMultimodal2
    )


def test_load_drops_legacy_position_ids_and_wrapper_prefixes(tiny_model, tiny_cfg, tmp_path):
    sd = dict(tiny_model.state_dict())
    sd["bert_encoder.embeddings.position_ids"] = torch.arange(tiny_cfg.max_positions)[None]
    loaded = load_checkpoint(_save(sd, tmp_path / "old.pt"), config=tiny_cfg)
    _assert_same_model(loaded, tiny_model, tiny_cfg)
    # the model's own non-persistent buffers are real (not left on the meta device)
    ids = loaded.bert_encoder.embeddings.position_ids
    assert not ids.is_meta and ids[0, :4].tolist() == [0, 1, 2, 3]
    dp = {"module." + k: v for k, v in tiny_model.state_dict().items()}
    _assert_same_model(
        load_checkpoint(_save(dp, tmp_path / "dp.pt"), config=tiny_cfg), tiny_model, tiny_cfg
    )


def test_load_casts_a_half_precision_upload(tiny_model, tiny_cfg, tmp_path):
    half = {k: v.half() for k, v in tiny_model.state_dict().items()}
    loaded = load_checkpoint(_save(half, tmp_path / "fp16.pt"), config=tiny_cfg)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    text, vis = _features(tiny_cfg, 1, 5)
    with torch.inference_mode():
        assert torch.allclose(loaded(text, vis), tiny_model(text, vis), atol=0.05)


def test_loading_equals_a_normally_built_model(tiny_model, tiny_cfg, tmp_path):
    """The fast path (built on the meta device, tensors assigned) gives the same model as building
    it for real and copying the weights in."""
    path = _save(tiny_model.state_dict(), tmp_path / "m.pt")
    fast = load_checkpoint(path, config=tiny_cfg)
    slow = BookBERTMultimodal2(config=tiny_cfg)
    slow.load_state_dict(torch.load(path, weights_only=True), strict=True)
    _assert_same_model(fast, slow.eval(), tiny_cfg)
    assert {k: v.dtype for k, v in fast.state_dict().items()} == {
        k: v.dtype for k, v in slow.state_dict().items()
    }


def _one_line_error(path, cfg=None, match=None):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, config=cfg)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400, msg
    assert isinstance(info.value, ComicdeskError) and info.value.kind == "bad-checkpoint"
    if match is not None:
        assert match in msg, msg
    return msg


def test_errors_for_files_that_are_not_checkpoints(tiny_model, tiny_cfg, tmp_path):
    assert "not found" in _one_line_error(tmp_path / "missing.pt")
    assert "folder" in _one_line_error(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    _one_line_error(tmp_path / "empty.pt", match="empty")
    (tmp_path / "notes.pt").write_text("these are not weights\n")
    _one_line_error(tmp_path / "notes.pt", match="not a PyTorch checkpoint")
    (tmp_path / "page.pt").write_text("<!DOCTYPE html><html><body>404</body></html>")
    _one_line_error(tmp_path / "page.pt", match="web page")
    (tmp_path / "lfs.pt").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 317000000\n"
    )
    _one_line_error(tmp_path / "lfs.pt", match="Git LFS pointer")
    header = json.dumps({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "st.pt").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    _one_line_error(tmp_path / "st.pt", match="safetensors")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hello")
    (tmp_path / "other.zip").write_bytes(buf.getvalue())
    _one_line_error(tmp_path / "other.zip", match="zip file but not a PyTorch checkpoint")


def test_errors_for_truncated_files(tiny_model, tmp_path):
    data = io.BytesIO()
    torch.save(tiny_model.state_dict(), data)
    blob = data.getvalue()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    _one_line_error(tmp_path / "cut.pt", match="truncated")
    legacy = io.BytesIO()
    torch.save(tiny_model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    (tmp_path / "cut_legacy.pt").write_bytes(legacy.getvalue()[:1000])
    _one_line_error(tmp_path / "cut_legacy.pt", match="truncated")


class _NotATensor:
    pass


def test_errors_for_unsafe_or_odd_contents(tiny_cfg, tmp_path):
    _save({"weights": _NotATensor()}, tmp_path / "pickled.pt")
    _one_line_error(tmp_path / "pickled.pt", tiny_cfg, match="refusing")
    _save([torch.zeros(3)], tmp_path / "list.pt")
    _one_line_error(tmp_path / "list.pt", tiny_cfg, match="holds a list, not a model state_dict")
    _save({"epoch": 3, "state": {"a": torch.zeros(1)}}, tmp_path / "train.pt")
    msg = _one_line_error(tmp_path / "train.pt", tiny_cfg, match="not a model state_dict")
    assert "'epoch'" in msg
    _save({}, tmp_path / "nothing.pt")
    _one_line_error(tmp_path / "nothing.pt", tiny_cfg, match="empty state_dict")


def test_errors_for_wrong_keys_shapes_and_models(tiny_model, tiny_cfg, tmp_path):
    sd = dict(tiny_model.state_dict())
    del sd["classifier.9.weight"], sd["norm.bias"]
    sd["extra.head.weight"] = torch.zeros(2)
    msg = _one_line_error(_save(sd, tmp_path / "keys.pt"), tiny_cfg, match="does not match")
    assert "2 missing" in msg and "classifier.9.weight" in msg and "norm.bias" in msg
    assert "1 unexpected (extra.head.weight)" in msg

    other = tiny_cosmo_config(textual_dim=30)
    wrong = BookBERTMultimodal2(config=other).state_dict()
    msg = _one_line_error(_save(wrong, tmp_path / "shape.pt"), tiny_cfg)
    assert "textual_projection.0.weight has shape [124, 30], expected [112, 24]" in msg

    sd = dict(tiny_model.state_dict())
    sd["classifier.0.weight"] = sd["classifier.0.weight"].long()
    _one_line_error(_save(sd, tmp_path / "dtype.pt"), tiny_cfg, match="is int64, expected float32")

    # a panel-encoder checkpoint given to CoSMo (and the real-size model: keys checked on meta)
    from comicdesk.ml.panel_encoder import PanelFeatureExtractor

    with torch.device("meta"):
        panel = PanelFeatureExtractor(config=tiny_panel_config())
    panel_sd = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in panel.state_dict().items()}
    msg = _one_line_error(_save(panel_sd, tmp_path / "best_model.pt"))
    assert "comic-panel-encoder-v1" in msg and "not CoSMo v4" in msg

    later = {
        "input_projection.weight": torch.zeros(2, 2),
        "transformer_encoder.layers.0.w": torch.zeros(1),
    }
    _one_line_error(_save(later, tmp_path / "later.pt"), tiny_cfg, match="different CoSMo model")


def test_full_size_checkpoint_round_trip(full_model, tmp_path):
    """A checkpoint the size of the real one loads strictly and gives the same logits."""
    path = _save(full_model.state_dict(), tmp_path / "best_Multimodal_MultiToken_v4.pt")
    loaded = load_checkpoint(path)
    assert shapes_of(loaded.state_dict()) == manifest("cosmo_v4_keys.json")
    text, vis = _features(loaded.config, 1, 8, seed=9)
    with torch.inference_mode():
        assert torch.equal(loaded(text, vis), full_model(text, vis))


def test_importing_comicdesk_does_not_import_torch():
    code = (
        "import sys, comicdesk, comicdesk.cli, comicdesk.ml, comicdesk.ml.torch_checkpoint\n"
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
