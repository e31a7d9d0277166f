"""Tiny random versions of the cosmo profile's four models, saved the way the real ones are found
(Hugging Face folders for SigLIP and Qwen3, ``.pt`` files for CoSMo and the panel encoder), so
tests load them through the real code paths with ``local_files_only``. Nothing is downloaded:
every model is built from a config written here."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from cosmo_helpers import (
    randomise,
    tiny_cosmo_config,
    tiny_panel_config,
    write_tiny_vocab,
)

SIGLIP_DIM = 16
SIGLIP_IMAGE = 28
QWEN_DIM = 32
QWEN_WORDS = ["<|endoftext|>", "[unk]", "pow", "bam", "the", "hero", "flies", "ad", "buy", "now",
              "chapter", "one", "credits", "by", "!", "."]  # fmt: skip
PANEL_DIM = 16


def save_tiny_siglip(folder: Path, *, seed: int = 0, vision_only: bool = False) -> Path:
    """A full ``SiglipModel`` (text tower too, as the hub folder holds), or its vision tower alone."""
    import torch
    from transformers import (
        SiglipConfig,
        SiglipModel,
        SiglipVisionConfig,
        SiglipVisionModel,
    )

    torch.manual_seed(seed)
    vision = dict(hidden_size=SIGLIP_DIM, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=32, image_size=SIGLIP_IMAGE, patch_size=14)
    if vision_only:
        model = SiglipVisionModel(SiglipVisionConfig(**vision))
    else:
        cfg = SiglipConfig(text_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                            intermediate_size=32, vocab_size=64, max_position_embeddings=16,
                                            eos_token_id=1, pad_token_id=1, bos_token_id=1),
                           vision_config=vision)
        model = SiglipModel(cfg)
    randomise(model, seed)
    model.save_pretrained(folder)
    return folder


def save_tiny_qwen(folder: Path, *, seed: int = 0, eos_appended: bool = True) -> Path:
    """A 2-layer Qwen3 with a word-level tokenizer that appends ``<|endoftext|>`` (as the real one
    does) and pads on the left."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(QWEN_WORDS)}, unk_token="[unk]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if eos_appended:
        tok.post_processor = processors.TemplateProcessing(single="$A <|endoftext|>",
                                                           special_tokens=[("<|endoftext|>", 0)])
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                            padding_side="left").save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = Qwen3Config(vocab_size=len(QWEN_WORDS), hidden_size=QWEN_DIM, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                      max_position_embeddings=256)
    model = Qwen3Model(cfg)
    randomise(model, seed)
    model.save_pretrained(folder)
    return folder


def tiny_cosmo(seed: int = 0):
    from comicdesk.ml.cosmo import BookBERTMultimodal2

    cfg = tiny_cosmo_config(textual_dim=QWEN_DIM, visual_dim=SIGLIP_DIM)
    model = BookBERTMultimodal2(config=cfg).eval()
    randomise(model, seed)
    return model


def save_tiny_cosmo(folder: Path, *, seed: int = 0) -> Path:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_cosmo(seed)
    torch.save(model.state_dict(), folder / "best_Multimodal_MultiToken_v4.pt")
    (folder / "config.json").write_text(json.dumps(asdict(model.config)))
    return folder / "best_Multimodal_MultiToken_v4.pt"


def save_tiny_panel_encoder(folder: Path, *, seed: int = 0) -> Path:
    import torch

    from comicdesk.ml.panel_encoder import PanelFeatureExtractor

    folder.mkdir(parents=True, exist_ok=True)
    cfg = tiny_panel_config(feature_dim=PANEL_DIM)
    model = PanelFeatureExtractor(config=cfg).eval()
    randomise(model, seed)
    torch.save(model.state_dict(), folder / "best_model.pt")
    (folder / "config.json").write_text(json.dumps(asdict(cfg)))
    write_tiny_vocab(folder / "tokenizer")
    return folder / "best_model.pt"


def save_all(models_dir: Path) -> Path:
    """``<models_dir>/<name>/`` for the four models, as ``comicdesk models download`` lays them out."""
    save_tiny_siglip(models_dir / "siglip-so400m")
    save_tiny_qwen(models_dir / "qwen3-embedding-0.6b")
    save_tiny_cosmo(models_dir / "cosmo-v4")
    save_tiny_panel_encoder(models_dir / "panel-encoder-v1")
    return models_dir
