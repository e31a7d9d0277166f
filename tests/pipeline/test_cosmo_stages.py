"""The cosmo profile's stages end to end through the runner, with tiny random models saved where
``comicdesk.ml.weights`` finds them ($COMICDESK_MODELS_DIR): SigLIP page vectors (pass 1), Qwen3
page-text vectors, CoSMo classes over the whole book and panel-encoder vectors (pass 2)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import torch  # a declared dependency: missing is a failure, not a skip
import transformers  # noqa: F401,E402 - declared too

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))

from cosmo_tiny import PANEL_DIM, QWEN_DIM, SIGLIP_DIM, save_all
from fakes import jpeg, make_cbz, png_bomb, whole_page_stage
from helpers import one_line

from comicdesk.library.catalog import Catalog
from comicdesk.library.service import ScanOptions, scan_library
from comicdesk.pipeline.runner import RunError, Runner, RunOptions
from comicdesk.pipeline.stage import IMAGE, PANELS, TEXT_PANELS, StageSpec
from comicdesk.pipeline.stages import cosmo as stages

torch.set_num_threads(2)
FAST = RunOptions(durable=False, lock_timeout=2.0, profile="cosmo")
WORDS = ["the hero flies", "pow bam !", "buy now", "chapter one", "credits by the hero"]


def ocr_stage(seen: list | None = None) -> StageSpec:
    """Stands in for the standard profile's OCR: two lines, one in panel 0, one in the last panel."""

    def load(ctx):
        def run(pages):
            out = []
            for p in pages:
                if seen is not None:
                    seen.append((p.book_id, p.index))
                n = len(p.outputs[PANELS])
                out.append({stages.TEXT_LINES: [
                    {"box": [1, 1, 10, 5], "text": WORDS[p.index % 5], "conf": 0.9, "panel": 0},
                    {"box": [1, 20, 10, 5], "text": "pow", "conf": 0.8, "panel": n - 1}],
                    TEXT_PANELS: [0, n - 1]})
            return out
        return run

    # Reads and assigns in one (the standard profile splits it: text_read, then text_assign).
    return StageSpec("ocr", 2, (IMAGE, PANELS), (stages.TEXT_LINES, TEXT_PANELS), load, "ocr-fake-1",
                     batchable=True)


def tiny_specs():
    return stages.build_specs(visual_dim=SIGLIP_DIM, text_dim=QWEN_DIM, panel_dim=PANEL_DIM)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return save_all(tmp_path_factory.mktemp("weights") / "models")


@pytest.fixture
def env(monkeypatch, tmp_path, models_dir):
    monkeypatch.setenv("COMICDESK_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-hf-cache"))
    monkeypatch.setenv("COMICDESK_DEVICE", "cpu")
    for k in ("COMICDESK_DTYPE", "COMICDESK_BATCH", "COMICDESK_MODEL_COSMO_V4"):
        monkeypatch.delenv(k, raising=False)
    return models_dir


def _library(root: Path) -> list[Path]:
    a = make_cbz(root / "A.cbz", [jpeg(90, 120, (200, 30, 30)), jpeg(160, 100, (30, 200, 30)),
                                  jpeg(90, 120, (30, 30, 200))])
    b = make_cbz(root / "B.cbz", [jpeg(80, 110, (120, 120, 20)), png_bomb(), jpeg(80, 110, (20, 120, 120))])
    return [a, b]


def _images(path: Path) -> dict[int, object]:
    from PIL import Image

    out = {}
    with zipfile.ZipFile(path) as zf:
        for i, name in enumerate(sorted(zf.namelist())):
            try:
                im = Image.open(zf.open(name))
                im.load()
                out[i] = im.convert("RGB")
            except Exception:  # noqa: BLE001 - the bomb page: no image
                out[i] = None
        out = {i: im for i, im in out.items() if im is not None}
    return out


def test_cosmo_profile_end_to_end(tmp_path, settings, env):
    from comicdesk.cache.vectors import VectorStore
    from comicdesk.core.pages import PAGE_CLASSES
    from comicdesk.ml.cosmo import (
        CosmoV4Config,
        book_logits,
        load_checkpoint,
        probabilities,
    )
    from comicdesk.ml.cosmo_features import (
        QwenTextEncoder,
        SiglipPageEncoder,
        page_text,
    )
    from comicdesk.pipeline.stages.cosmo import _sidecar_config

    books = _library(tmp_path / "lib")
    scan = scan_library(tmp_path / "lib", settings, options=ScanOptions(executor="inline", lock_timeout=2.0))
    cache = settings.library_cache_dir(scan.library_id)
    seen: list = []
    specs = [whole_page_stage(), ocr_stage(seen), *tiny_specs()]
    assert all(s.profiles == ("cosmo",) for s in specs[2:])
    events: list = []
    result = Runner(cache, stages=specs, options=FAST, on_event=events.append).run()
    assert result.done == 2 and result.failed == 0, events

    siglip = SiglipPageEncoder(env / "siglip-so400m")
    qwen = QwenTextEncoder(env / "qwen3-embedding-0.6b")
    cosmo_path = env / "cosmo-v4" / "best_Multimodal_MultiToken_v4.pt"
    cosmo = load_checkpoint(cosmo_path, config=_sidecar_config(cosmo_path, CosmoV4Config))
    with Catalog.open(cache, readonly=True) as cat, VectorStore.open(cache, readonly=True) as store:
        ids = {Path(b.path).name: b.id for b in cat.all_books()}
        keys, vis = store.load("cosmo-v4", "page_visual")
        vis_by = {(int(k[0]), int(k[1])): v for k, v in zip(keys, vis)}
        keys, txt = store.load("cosmo-v4", "page_text")
        txt_by = {(int(k[0]), int(k[1])): v for k, v in zip(keys, txt)}
        keys, logit = store.load("cosmo-v4", "page_logits")
        logit_by = {(int(k[0]), int(k[1])): v for k, v in zip(keys, logit)}
        keys, pan = store.load("panel-encoder-v1", "panel_emb")
        pan_by: dict = {}
        for k, v in zip(keys, pan):
            pan_by.setdefault((int(k[0]), int(k[1])), {})[int(k[2])] = v
        assert vis.dtype == np.float16 and vis.shape[1] == SIGLIP_DIM and txt.shape[1] == QWEN_DIM
        assert logit.shape[1] == 9 and pan.shape[1] == PANEL_DIM
        bad = (ids["B.cbz"], 1)
        assert bad not in vis_by and bad not in txt_by and bad not in logit_by and bad not in pan_by
        assert len(vis_by) == len(txt_by) == len(logit_by) == 5

        for path in books:
            b = ids[path.name]
            images = _images(path)
            good = sorted(images)
            # pass 1: SigLIP pooler_output of each page, stored raw in float16
            want = siglip.encode([images[i] for i in good])
            got = np.stack([vis_by[(b, i)] for i in good]).astype(np.float32)
            assert np.abs(got - want).max() < 2e-2 * max(1.0, np.abs(want).max())
            # pass 2: Qwen3 of the page's OCR lines joined
            lines = [[{"text": WORDS[i % 5]}, {"text": "pow"}] for i in good]
            want = qwen.encode([page_text(ln) for ln in lines])
            got = np.stack([txt_by[(b, i)] for i in good]).astype(np.float32)
            assert np.abs(got - want).max() < 5e-3
            # CoSMo over the whole book (bad page masked), from the stored float16 features
            n = max(good) + 1
            t = np.zeros((n, QWEN_DIM), np.float32)
            v = np.zeros((n, SIGLIP_DIM), np.float32)
            mask = np.zeros(n, np.float32)
            for i in good:
                t[i], v[i], mask[i] = txt_by[(b, i)], vis_by[(b, i)], 1
            ref = book_logits(cosmo, t, v, mask).numpy()
            probs = probabilities(ref)
            outs = cat.page_outputs(b)
            for i in good:
                assert np.abs(logit_by[(b, i)].astype(np.float32) - ref[i]).max() < 2e-2
                out = next(o for o in outs[i] if o.model_id == "cosmo-v4")
                assert out.source == "model" and out.label in PAGE_CLASSES
                assert out.label == PAGE_CLASSES[int(probs[i].argmax())]
                assert abs(sum(out.probs.values()) - 1) < 1e-3 and list(out.probs) == list(PAGE_CLASSES)
            assert not [o for o in outs.get(1, []) if o.model_id == "cosmo-v4"] or path.name == "A.cbz"
            # panel vectors: one per catalogued panel, stored L2-normalised
            panels = cat.panels(b)
            for i in good:
                rows = pan_by[(b, i)]
                assert sorted(rows) == list(range(len(panels[i])))
                assert all(abs(np.linalg.norm(r.astype(np.float32)) - 1) < 1e-2 for r in rows.values())
        # the wide page has two panels, each with its own text: their vectors differ
        two = pan_by[(ids["A.cbz"], 1)]
        assert len(two) == 2 and np.abs(two[0].astype(np.float32) - two[1].astype(np.float32)).max() > 1e-3

    # Nothing left to do: a second run skips every book and loads no model.
    seen.clear()
    result = Runner(cache, stages=[whole_page_stage(), ocr_stage(seen), *tiny_specs()], options=FAST).run()
    assert result.skipped == 2 and result.done == 0 and seen == []


def test_panel_texts_follow_the_ocr_panel_index():
    lines = [{"text": "a", "panel": 1}, {"text": " b ", "panel": 0}, {"text": "c", "panel": 1},
             {"text": "lost", "panel": 7}, {"text": "", "panel": 0}, {"text": "none", "panel": -1}]
    assert stages.panel_texts(lines, 2) == ["b", "a\nc"]
    assert stages.panel_texts(None, 3) == ["", "", ""]


def test_a_missing_model_stops_the_run_with_what_to_fetch(tmp_path, settings, env, monkeypatch):
    monkeypatch.setenv("COMICDESK_MODELS_DIR", str(tmp_path / "empty-models"))
    make_cbz(tmp_path / "lib" / "A.cbz", [jpeg(60, 90)])
    scan = scan_library(tmp_path / "lib", settings, options=ScanOptions(executor="inline", lock_timeout=2.0))
    cache = settings.library_cache_dir(scan.library_id)
    with pytest.raises(RunError) as e:
        Runner(cache, stages=[whole_page_stage(), ocr_stage(), *tiny_specs()], options=FAST).run()
    msg = one_line(e.value)
    assert "cosmo-visual" in msg and "comicdesk models download siglip-so400m" in msg


def test_a_model_of_the_wrong_size_is_refused(tmp_path, settings, env):
    make_cbz(tmp_path / "lib" / "A.cbz", [jpeg(60, 90)])
    scan = scan_library(tmp_path / "lib", settings, options=ScanOptions(executor="inline", lock_timeout=2.0))
    cache = settings.library_cache_dir(scan.library_id)
    with pytest.raises(RunError) as e:  # the released sizes against the tiny SigLIP
        Runner(cache, stages=[whole_page_stage(), ocr_stage(), *stages.SPECS], options=FAST).run()
    assert "16-d" in one_line(e.value) and "1152-d" in str(e.value)


def test_specs_are_the_cosmo_profiles():
    from comicdesk.pipeline import registry

    names = [s.name for s in stages.SPECS]
    assert names == ["cosmo-visual", "cosmo-text", "cosmo-classes", "panel-encoder"]
    by = {s.name: s for s in stages.SPECS}
    assert by["cosmo-visual"].pass_no == 1 and by["cosmo-visual"].vectors[0].dims == 1152
    assert by["cosmo-text"].vectors[0].dims == 1024 and by["cosmo-classes"].level == "book"
    assert by["cosmo-classes"].vectors[0].dims == 9 and by["panel-encoder"].vectors[0].dims == 512
    assert by["panel-encoder"].vectors[0].level == "panel" and by["panel-encoder"].vectors[0].normalised
    assert not by["cosmo-visual"].vectors[0].normalised  # model inputs are stored raw
    registry.validate([whole_page_stage(), ocr_stage(), *stages.SPECS])


def test_the_panel_stage_and_similar_text_queries_load_one_panel_encoder(tmp_path, models_dir):
    """One loader (``stages.load_panel_encoder``): the stage's encoder and ``comicdesk similar``'s
    cosmo text encoder are the same checkpoint, config and tokenizer, so a text query lands in the
    panel vectors' space; a checkpoint of another size is refused."""
    from comicdesk.core.settings import Settings
    from comicdesk.ml import panel_encoder as pe
    from comicdesk.ml.weights import Locator
    from comicdesk.services.similar import cosmo_encoder

    env = {"COMICDESK_MODELS_DIR": str(models_dir), "HF_HUB_CACHE": str(tmp_path / "no-hf-cache")}
    settings = Settings.resolve(tmp_path / "cache", tmp_path / "data", profile="cosmo", env=env)
    model, tokenizer = stages.load_panel_encoder(Locator.from_env(env), dims=PANEL_DIM)
    want = pe.encode_texts(model, tokenizer, ["a bird over the city"])[0]
    got = cosmo_encoder(settings)("a bird over the city")
    assert got.shape == (PANEL_DIM,) and np.allclose(got, want, atol=1e-6)
    with pytest.raises(stages.StageModelError, match=f"gives {PANEL_DIM}-d vectors; this stage stores 7-d"):
        stages.load_panel_encoder(Locator.from_env(env), dims=7)
