"""Helpers for the CoSMo v4 and panel-encoder tests: tiny configs, random weights, a tiny vocab.

Nothing here downloads anything: every model is built from a local config with random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from helpers import fixtures_dir

#: A WordPiece vocabulary small enough to write in a test, with BERT's special tokens first.
TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "a", "batman", "joker", "punch", "##es", "hit", "##s", "bread", "recipe", "for",
    "pow", "!", ",", ".", "wh", "##am", "kr", "##ak", "look", "out",
]  # fmt: skip


def manifest(name: str) -> dict:
    return json.loads((fixtures_dir() / "checkpoints" / name).read_text())


def shapes_of(state_dict) -> dict:
    """``{key: [shape, dtype]}`` in the manifests' exact form."""
    return {k: [list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in state_dict.items()}


def write_tiny_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    return folder


def randomise(model, seed: int = 0) -> None:
    """Every floating parameter and buffer (LayerNorm and BatchNorm too) drawn at random, so a
    test cannot pass by the luck of ones/zeros initialisation; BN variances kept positive."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point():
                if name.endswith("num_batches_tracked"):
                    t.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("residual_weight"):
                t.fill_(0.37)
            elif t.dim() <= 1 and name.endswith("weight"):  # LayerNorm / BatchNorm scales
                t.copy_(1.0 + 0.2 * noise)
            elif t.dim() <= 1:  # biases, running means
                t.copy_(0.1 * noise)
            else:  # matrices, convolutions, embeddings: unit gain
                fan_in = int(np.prod(t.shape[1:]))
                t.copy_(noise / np.sqrt(fan_in))


def tiny_cosmo_config(**over):
    from comicdesk.ml.cosmo import CosmoV4Config

    base = {
        "textual_dim": 24,
        "visual_dim": 20,
        "bert_dim": 32,
        "classes": 9,
        "classifier_hidden": 32,
        "bert_layers": 2,
        "bert_heads": 4,
        "max_positions": 64,
        "vocab_size": 50,
    }
    base.update(over)
    return CosmoV4Config(**base)


def tiny_panel_config(**over):
    from comicdesk.ml.panel_encoder import PanelEncoderConfig

    base = {
        "feature_dim": 16,
        "image_size": 32,
        "patch_size": 16,
        "siglip_hidden": 16,
        "siglip_layers": 1,
        "siglip_heads": 2,
        "siglip_intermediate": 32,
        "resnet_layers": (1, 1, 1, 1),
        "resnet_width": 4,
        "text_hidden": 16,
        "text_layers": 1,
        "text_heads": 2,
        "text_intermediate": 32,
        "text_max_positions": 160,
        "vocab_size": len(TINY_VOCAB),
        "comp_hidden": 8,
    }
    base.update(over)
    return PanelEncoderConfig(**base)
