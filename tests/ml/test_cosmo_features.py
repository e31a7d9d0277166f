"""CoSMo v4's page features (SigLIP pooler_output, Qwen3 last-token embeddings) through the real
loading code, on tiny random models saved to a temporary folder. Nothing is downloaded."""

from __future__ import annotations

import numpy as np
import pytest

import torch  # a declared dependency: missing is a failure, not a skip
import transformers  # noqa: F401,E402 - declared too

from cosmo_tiny import (
    QWEN_DIM,
    SIGLIP_DIM,
    SIGLIP_IMAGE,
    save_tiny_qwen,
    save_tiny_siglip,
)
from helpers import one_line
from PIL import Image

from comicdesk.ml import cosmo_features as cf
from comicdesk.ml import device as dev
from comicdesk.ml.cosmo_features import (
    FeatureModelError,
    QwenTextEncoder,
    SiglipPageEncoder,
    page_text,
    siglip_pixels,
)

torch.set_num_threads(2)

TEXTS = ["pow bam !", "the hero flies . the hero flies now !", "", "buy now", "chapter one credits by the hero"]


def _pages(n=5, seed=0):
    rng = np.random.RandomState(seed)
    out = []
    for i in range(n):
        arr = rng.randint(0, 256, (60 + 7 * i, 40 + 5 * i, 3), dtype=np.uint8)
        out.append(Image.fromarray(arr))
    if n >= 3:  # greyscale and RGBA pages are converted to RGB first
        out[1] = out[1].convert("L")
        out[2] = out[2].convert("RGBA")
    return out


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory):
    return save_tiny_siglip(tmp_path_factory.mktemp("siglip") / "siglip-so400m")


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    return save_tiny_qwen(tmp_path_factory.mktemp("qwen") / "qwen3")


# -- inputs ---------------------------------------------------------------------------------------
def test_siglip_pixels_equal_transformers_pil_processor():
    from transformers.models import siglip

    proc_cls = getattr(siglip, "SiglipImageProcessorPil", None) or siglip.SiglipImageProcessor
    proc = proc_cls(size={"height": 384, "width": 384})
    assert int(proc.resample) == int(Image.BICUBIC) and list(proc.image_mean) == [0.5, 0.5, 0.5]
    for page in _pages(3):
        want = proc(images=[page.convert("RGB")], return_tensors="np")["pixel_values"][0]
        got = siglip_pixels(page)
        assert got.shape == (3, 384, 384) and got.dtype == np.float32
        assert np.abs(got - want).max() < 1e-5
    # mean = std = 0.5: black is -1, white is +1
    assert siglip_pixels(Image.new("RGB", (10, 20), (0, 255, 0)), 8)[:, 4, 4].tolist() == [-1, 1, -1]


def test_page_text_joins_ocr_lines_in_order():
    lines = [{"box": [0, 0, 5, 5], "text": " POW! ", "conf": 0.9, "panel": 0},
             {"box": [0, 9, 5, 5], "text": "", "conf": 0.2, "panel": 0},
             {"box": [0, 20, 5, 5], "text": "The hero flies.", "conf": 0.8, "panel": 1}]
    assert page_text(lines) == "POW!\nThe hero flies."
    assert page_text(None) == "" and page_text([]) == ""
    assert page_text(["a", " b "]) == "a\nb"


# -- SigLIP ---------------------------------------------------------------------------------------
def test_siglip_encoder_gives_the_vision_towers_pooler_output(siglip_dir):
    from transformers import SiglipModel

    enc = SiglipPageEncoder(siglip_dir, device="cpu")
    assert enc.dims == SIGLIP_DIM and enc.image_size == SIGLIP_IMAGE and enc.dtype == torch.float32
    pages = _pages()
    got = enc.encode(pages)
    assert got.shape == (5, SIGLIP_DIM) and got.dtype == np.float32
    full = SiglipModel.from_pretrained(siglip_dir, local_files_only=True).eval()  # an independent path
    pix = torch.from_numpy(np.stack([siglip_pixels(p, SIGLIP_IMAGE) for p in pages]))
    with torch.inference_mode():
        want = full.vision_model(pixel_values=pix).pooler_output.numpy()
    assert np.abs(got - want).max() < 1e-5
    # a page's vector does not depend on its batch
    one = np.concatenate([enc.encode([p]) for p in pages])
    assert np.abs(one - got).max() < 1e-5
    assert enc.encode([]).shape == (0, SIGLIP_DIM)


def test_siglip_vision_only_folder_loads_too(tmp_path):
    folder = save_tiny_siglip(tmp_path / "v", vision_only=True)
    enc = SiglipPageEncoder(folder)
    assert enc.encode(_pages(2)).shape == (2, SIGLIP_DIM)


def test_bad_folders_are_one_line(tmp_path, qwen_dir):
    with pytest.raises(FeatureModelError) as e:
        SiglipPageEncoder(tmp_path / "nowhere")
    assert "not found" in one_line(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(FeatureModelError) as e:
        SiglipPageEncoder(empty)
    assert "no weights" in one_line(e.value)
    # a folder of another model: never silently run with random weights
    with pytest.raises(FeatureModelError) as e:
        SiglipPageEncoder(qwen_dir)
    assert "SigLIP" in one_line(e.value)


# -- Qwen3 ----------------------------------------------------------------------------------------
def _reference_qwen(folder, texts):
    """One text at a time, no padding: the model's last hidden state at the last token, L2."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    out = []
    for t in texts:
        ids = tok(t)["input_ids"]
        with torch.inference_mode():
            h = model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
        out.append(torch.nn.functional.normalize(h, dim=-1).numpy())
    return np.stack(out)


def test_qwen_encoder_is_last_token_l2_and_batch_independent(qwen_dir):
    enc = QwenTextEncoder(qwen_dir, batch_size=3)
    assert enc.dims == QWEN_DIM
    got = enc.encode(TEXTS)
    assert got.shape == (len(TEXTS), QWEN_DIM) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    want = _reference_qwen(qwen_dir, TEXTS)
    assert np.abs(got - want).max() < 1e-4
    # the empty page text is the end-of-text token alone, as the tokenizer makes it
    assert enc.token_ids([""]) == [[0]]
    # different texts, different vectors (the model really reads them)
    assert np.abs(got[0] - got[3]).max() > 1e-3
    assert enc.encode([]).shape == (0, QWEN_DIM)


def test_qwen_matches_sentence_transformers_recipe(qwen_dir):
    """The seed used SentenceTransformer (last-token pooling, Normalize): same vectors."""
    st = pytest.importorskip("sentence_transformers", reason="cross-check against the seed's library")
    from sentence_transformers import models as st_models

    t = st_models.Transformer(str(qwen_dir), model_kwargs={"local_files_only": True},
                              processor_kwargs={"local_files_only": True})
    model = st.SentenceTransformer(modules=[t, st_models.Pooling(QWEN_DIM, pooling_mode="lasttoken"),
                                            st_models.Normalize()], device="cpu")
    want = model.encode(TEXTS)
    got = QwenTextEncoder(qwen_dir).encode(TEXTS)
    assert np.abs(got - want).max() < 1e-4


def test_a_tokenizer_that_appends_nothing_still_embeds_empty_text(tmp_path):
    folder = save_tiny_qwen(tmp_path / "q", eos_appended=False)
    enc = QwenTextEncoder(folder)
    assert enc.token_ids(["", "pow"]) == [[0], [2]]
    out = enc.encode(["", "pow"])
    assert np.isfinite(out).all() and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)


def test_truncation_keeps_the_end_of_text_token(qwen_dir):
    enc = QwenTextEncoder(qwen_dir, max_tokens=4)
    ids = enc.token_ids(["the hero flies the hero flies"])[0]
    assert len(ids) == 4 and ids[-1] == 0


# -- precision ------------------------------------------------------------------------------------
def test_bf16_on_cpu_stays_within_tolerance(siglip_dir, qwen_dir, monkeypatch):
    """bfloat16 on CPU is allowed (when the CPU has it natively) because outputs stay close:
    cosine to float32 ≥ 0.99 here on tiny random models (docs/models.md gives the full-size
    figures from the benchmark)."""
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    pages = _pages()
    for cls, folder, inputs in ((SiglipPageEncoder, siglip_dir, pages), (QwenTextEncoder, qwen_dir, TEXTS)):
        ref = cls(folder).encode(inputs)
        half = cls(folder, dtype="bf16")
        assert half.dtype == torch.bfloat16
        got = half.encode(inputs)
        assert got.dtype == np.float32
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() > 0.99, cos
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    with pytest.raises(dev.DeviceError) as e:
        SiglipPageEncoder(siglip_dir, dtype="bf16")
    assert "bfloat16" in one_line(e.value)
    with pytest.raises(dev.DeviceError):
        SiglipPageEncoder(siglip_dir, dtype="fp16")  # float16 is for GPUs


def test_out_of_memory_halves_the_encoders_batch(siglip_dir, monkeypatch):
    enc = SiglipPageEncoder(siglip_dir, batch_size=4)
    real = enc.model.forward
    sizes = []

    def forward(*a, **kw):
        n = kw["pixel_values"].shape[0]
        sizes.append(n)
        if n > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*a, **kw)

    monkeypatch.setattr(enc.model, "forward", forward)
    pages = _pages(3)
    got = enc.encode(pages)
    assert got.shape == (3, SIGLIP_DIM)
    assert sizes == [3, 2, 1, 1, 1]  # 4 → 2 → 1, then the remaining pages one at a time
    assert enc.batcher.size == 1  # remembered for the next batch
    monkeypatch.setattr(enc.model, "forward", real)
    assert np.abs(enc.encode(pages) - got).max() < 1e-6


def test_module_imports_no_heavy_library():
    import subprocess
    import sys

    code = ("import sys, comicdesk.ml.cosmo_features, comicdesk.ml.weights, comicdesk.ml.device; "
            "print(any(m in sys.modules for m in ('torch', 'transformers')))")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
    assert cf.VISUAL_DIM == 1152 and cf.TEXT_DIM == 1024
