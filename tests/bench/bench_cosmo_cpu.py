"""CPU cost of the seeds' models: CoSMo v4's page features (SigLIP so400m, Qwen3-Embedding-0.6B)
and head per page, and comic-panel-encoder-v1 per panel.

    python tests/bench/bench_cosmo_cpu.py [--parts features,cosmo,panels] [--pages 64] [--panels 16]
                                          [--chunk 4] [--repeat 5] [--feature-repeat 2]
                                          [--tokens 256] [--threads 2] [--no-bf16] [--no-load]

Both models are the full-size architectures with random weights (the real checkpoints cannot be
downloaded here; speed does not depend on the values). Measured:

- CoSMo v4 (``BookBERTMultimodal2``): one book of ``pages`` pages of random features, as one
  sequence (2·pages BERT tokens), seconds per book and per page. Features (SigLIP so400m, Qwen3
  embedding) are *not* included: they are computed elsewhere and cost far more.
- Panel encoder: a page of ``panels`` panels (224×224 crops, 128 tokens each); seconds per panel
  timed on batches of ``chunk`` of them (rows are independent), the whole page once, its parts
  (SigLIP-B/16, ResNet-50, MiniLM) alone, and through ``embed_panels`` (which drops all-padding
  token columns before MiniLM).
- bf16 (unless ``--no-bf16``): the same with the models cast to bfloat16, and how far their
  outputs are from fp32 (max |Δlogit| and argmax agreement for CoSMo, cosine for the encoder).
- Loading (unless ``--no-load``): ``load_checkpoint`` of full-size checkpoints saved to a
  temporary folder (318 MB and 574 MB), against building the model with random initialisation.

- Page features (part ``features``): the full-size SigLIP so400m-patch14-384 vision tower and
  Qwen3-Embedding-0.6B built from their configs (written here, no download) with random weights,
  run through ``comicdesk.ml.cosmo_features`` (preprocessing of a 1300×1950 page included):
  seconds per page image and per page text of ``tokens`` tokens (and one run of 64 tokens, a
  sparse page), fp32 and bf16, and how far bf16 is from fp32 (min cosine). ``feature-repeat``
  timed runs each after a warm-up (a page costs seconds).

Times are the fastest of ``repeat`` runs after a warm-up (others sharing the machine only add
time), with the process CPU seconds per run beside the main figures (wall ≈ CPU / threads when
the machine is otherwise idle). Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


CPU_SECONDS: dict[str, float] = {}


def timed(fn, repeat: int, name: str | None = None) -> float:
    """Fastest wall-clock seconds of ``repeat`` calls after one warm-up call.

    The fastest run, not the median: on a shared machine other processes only ever add time. The
    process CPU seconds per call (all threads) go to ``CPU_SECONDS[name]``; with the machine to
    itself, wall ≈ CPU / threads.
    """
    fn()
    runs = []
    c0 = time.process_time()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    if name:
        CPU_SECONDS[name] = (time.process_time() - c0) / repeat
    return min(runs)


def bench_cosmo(args, out: dict) -> None:
    import torch

    from comicdesk.ml.cosmo import BookBERTMultimodal2, load_checkpoint

    t0 = time.perf_counter()
    model = BookBERTMultimodal2().eval()
    out["cosmo_build_s"] = round(time.perf_counter() - t0, 2)
    g = torch.Generator().manual_seed(0)
    text = torch.randn(1, args.pages, 1024, generator=g)
    vis = torch.randn(1, args.pages, 1152, generator=g)

    def run(m, dtype):
        with torch.inference_mode():
            return m(text.to(dtype), vis.to(dtype))

    sec = timed(lambda: run(model, torch.float32), args.repeat, "cosmo_fp32")
    cpu = CPU_SECONDS["cosmo_fp32"]
    out["cosmo_fp32_s_per_book"] = round(sec, 4)
    out["cosmo_fp32_s_per_page"] = round(sec / args.pages, 5)
    out["cosmo_fp32_cpu_s_per_page"] = round(cpu / args.pages, 5)
    print(
        f"CoSMo v4 fp32: {sec:.3f} s per {args.pages}-page book, {1000 * sec / args.pages:.2f} ms/page "
        f"({1000 * cpu / args.pages:.2f} CPU-ms/page)"
    )

    if args.bf16:
        ref = run(model, torch.float32).float()
        half = BookBERTMultimodal2().eval()
        half.load_state_dict(model.state_dict())
        half = half.to(torch.bfloat16)
        sec = timed(lambda: run(half, torch.bfloat16), args.repeat)
        got = run(half, torch.bfloat16).float()
        diff = float((got - ref).abs().max())
        agree = float((got.argmax(-1) == ref.argmax(-1)).float().mean())
        out.update(
            cosmo_bf16_s_per_page=round(sec / args.pages, 5),
            cosmo_bf16_max_abs_logit_diff=round(diff, 4),
            cosmo_bf16_argmax_agreement=round(agree, 4),
        )
        print(
            f"CoSMo v4 bf16: {1000 * sec / args.pages:.2f} ms/page; max |Δlogit| {diff:.4f}, "
            f"argmax agreement {agree:.1%} (random weights)"
        )

    if args.load:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "best_Multimodal_MultiToken_v4.pt"
            torch.save(model.state_dict(), path)
            t0 = time.perf_counter()
            load_checkpoint(path)
            out["cosmo_load_s"] = round(time.perf_counter() - t0, 2)
        print(
            f"CoSMo v4 load_checkpoint (318 MB): {out['cosmo_load_s']:.2f} s "
            f"(building it with random init: {out['cosmo_build_s']:.2f} s)"
        )


def bench_panels(args, out: dict) -> None:
    import numpy as np
    import torch

    from comicdesk.ml.panel_encoder import (
        PanelBatch,
        PanelFeatureExtractor,
        embed_panels,
        load_checkpoint,
    )

    t0 = time.perf_counter()
    model = PanelFeatureExtractor().eval()
    out["panel_build_s"] = round(time.perf_counter() - t0, 2)
    n = args.panels
    g = torch.Generator().manual_seed(1)
    ids = torch.zeros(n, 128, dtype=torch.long)
    mask = torch.zeros(n, 128, dtype=torch.long)
    for i in range(n):  # short panel texts, as speech balloons are, padded to 128
        k = 4 + (i * 7) % 30
        ids[i, :k] = torch.randint(1000, 30000, (k,), generator=g)
        mask[i, :k] = 1
    batch = {
        "images": torch.randn(n, 3, 224, 224, generator=g),
        "input_ids": ids,
        "attention_mask": mask,
        "comp_feats": torch.rand(n, 7, generator=g),
        "modality_mask": torch.ones(n, 3),
    }

    c = min(args.chunk, n)  # timed on chunks: short runs dodge other processes' bursts

    def run(m, dtype, rows=c):
        with torch.inference_mode():
            b = {
                k: (v[:rows].to(dtype) if v.is_floating_point() else v[:rows])
                for k, v in batch.items()
            }
            return m(b)

    sec = timed(lambda: run(model, torch.float32), args.repeat, "panel_fp32")
    cpu = CPU_SECONDS["panel_fp32"]
    out["panel_fp32_s_per_panel"] = round(sec / c, 4)
    out["panel_fp32_cpu_s_per_panel"] = round(cpu / c, 4)
    print(
        f"panel encoder fp32: {1000 * sec / c:.0f} ms/panel ({1000 * cpu / c:.0f} CPU-ms/panel), "
        f"batches of {c}"
    )
    t0 = time.perf_counter()
    run(model, torch.float32, rows=n)
    page = time.perf_counter() - t0
    out["panel_fp32_s_per_page"] = round(page, 3)
    print(f"  one page of {n} panels in one batch: {page:.2f} s (single run)")
    pb = PanelBatch(
        images=batch["images"][:c].numpy(),
        input_ids=ids[:c].numpy(),
        attention_mask=mask[:c].numpy(),
        comp_feats=batch["comp_feats"][:c].numpy(),
        modality_mask=batch["modality_mask"][:c].numpy(),
        panel=np.arange(c),
    )
    sec = timed(lambda: embed_panels(model, pb), args.repeat, "panel_api")
    out["panel_fp32_embed_panels_s_per_panel"] = round(sec / c, 4)
    print(f"  embed_panels (token padding trimmed): {1000 * sec / c:.0f} ms/panel")
    with torch.inference_mode():
        parts = {
            "siglip": lambda: model.vision.siglip(batch["images"][:c]),
            "resnet": lambda: model.vision.resnet(batch["images"][:c]),
            "minilm": lambda: model.text(batch["input_ids"][:c], batch["attention_mask"][:c]),
        }
        for name, fn in parts.items():
            s = timed(fn, args.repeat)
            out[f"panel_fp32_{name}_s_per_panel"] = round(s / c, 4)
            print(f"  {name}: {1000 * s / c:.0f} ms/panel")

    if args.bf16:
        ref = run(model, torch.float32).float()
        half = PanelFeatureExtractor().eval()
        half.load_state_dict(model.state_dict())
        half = half.to(torch.bfloat16)
        sec = timed(lambda: run(half, torch.bfloat16), args.repeat)
        got = run(half, torch.bfloat16).float()
        cos = torch.nn.functional.cosine_similarity(got, ref, dim=-1)
        out.update(
            panel_bf16_s_per_panel=round(sec / c, 4),
            panel_bf16_min_cosine_to_fp32=round(float(cos.min()), 5),
        )
        print(
            f"panel encoder bf16: {1000 * sec / c:.0f} ms/panel; "
            f"min cosine to fp32 {float(cos.min()):.5f}"
        )

    if args.load:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "best_model.pt"
            torch.save(model.state_dict(), path)
            t0 = time.perf_counter()
            load_checkpoint(path)
            out["panel_load_s"] = round(time.perf_counter() - t0, 2)
        print(
            f"panel encoder load_checkpoint (574 MB): {out['panel_load_s']:.2f} s "
            f"(building it with random init: {out['panel_build_s']:.2f} s)"
        )


SIGLIP_SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                     image_size=384, patch_size=14, num_channels=3, hidden_act="gelu_pytorch_tanh",
                     layer_norm_eps=1e-6)
QWEN3_06B = dict(vocab_size=151669, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                 num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=32768,
                 rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, hidden_act="silu")


class _FixedTokens:
    """Stands in for the Qwen tokenizer (not downloadable here): ``n`` random ids + end-of-text."""

    pad_token_id = 151643
    eos_token_id = 151643

    def __init__(self, n: int, seed: int = 0):
        import numpy as np

        self.ids = np.random.RandomState(seed).randint(0, 151000, n - 1).tolist() + [151643]

    def __call__(self, texts, **kw):
        return {"input_ids": [self.ids[: int(t)] if t.isdigit() else self.ids for t in texts]}


def _random_model(cls, config):
    """``cls(config)`` with random weights drawn fast: transformers' own initialisation of a
    400M-parameter tower takes a minute on a busy 2-core box; values do not change the speed.
    Matrices N(0, 1/fan_in), norms' weights 1, biases 0; buffers (position ids, RoPE) as built."""
    import torch

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        from transformers.modeling_utils import no_init_weights
    with no_init_weights():
        model = cls(config)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, p.shape[1] ** -0.5, generator=g)
            elif p.dim() > 2:
                p.normal_(0.0, 0.02, generator=g)
            elif name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()
    return model.eval()


def _min_cos(a, b) -> float:
    import numpy as np

    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def bench_features(args, out: dict) -> None:
    import gc

    import numpy as np
    import torch
    from PIL import Image
    from transformers import (
        Qwen3Config,
        Qwen3Model,
        SiglipVisionConfig,
        SiglipVisionModel,
    )

    from comicdesk.ml.cosmo_features import QwenTextEncoder, SiglipPageEncoder

    r = args.feature_repeat
    rng = np.random.RandomState(0)
    pages = [Image.fromarray(rng.randint(0, 256, (1950, 1300, 3), dtype=np.uint8))]  # a 300-dpi-ish page
    last: dict = {}

    def keep(name, fn):
        def call():
            last[name] = fn()
        return call

    t0 = time.perf_counter()
    model = _random_model(SiglipVisionModel, SiglipVisionConfig(**SIGLIP_SO400M))
    out["siglip_build_s"] = round(time.perf_counter() - t0, 1)
    enc = SiglipPageEncoder.from_model(model, batch_size=2)
    sec = timed(keep("siglip", lambda: enc.encode(pages)), r, "siglip_fp32")
    out["siglip_fp32_s_per_page"] = round(sec, 2)
    out["siglip_fp32_cpu_s_per_page"] = round(CPU_SECONDS["siglip_fp32"], 2)
    print(f"SigLIP so400m fp32: {sec:.2f} s/page ({CPU_SECONDS['siglip_fp32']:.2f} CPU-s/page; "
          f"build {out['siglip_build_s']} s)")
    if args.bf16:
        half = SiglipPageEncoder.from_model(model, dtype=torch.bfloat16, batch_size=2)
        sec = timed(keep("siglip_bf16", lambda: half.encode(pages)), r)
        cos = _min_cos(last["siglip_bf16"], last["siglip"])
        out.update(siglip_bf16_s_per_page=round(sec, 2), siglip_bf16_min_cosine=round(cos, 5))
        print(f"SigLIP so400m bf16: {sec:.2f} s/page; min cosine to fp32 {cos:.5f}")
        half = None
    enc = model = None
    gc.collect()

    t0 = time.perf_counter()
    model = _random_model(Qwen3Model, Qwen3Config(**QWEN3_06B))
    out["qwen_build_s"] = round(time.perf_counter() - t0, 1)
    n = args.tokens
    enc = QwenTextEncoder.from_model(model, _FixedTokens(n), batch_size=8)
    texts = ["page", "64"]  # _FixedTokens: n ids for "page", the first 64 for "64"
    sec = timed(keep("qwen", lambda: enc.encode(texts[:1])), r, "qwen_fp32")
    t0 = time.perf_counter()
    ref = enc.encode(texts[1:])
    short = time.perf_counter() - t0
    out.update(qwen_fp32_s_per_page=round(sec, 2), qwen_tokens=n, qwen_fp32_s_per_64_token_page=round(short, 2),
               qwen_fp32_cpu_s_per_page=round(CPU_SECONDS["qwen_fp32"], 2))
    print(f"Qwen3-Embedding-0.6B fp32: {sec:.2f} s per {n}-token page, {short:.2f} s per 64-token page "
          f"(single run) ({CPU_SECONDS['qwen_fp32']:.2f} CPU-s; build {out['qwen_build_s']} s)")
    if args.bf16:
        half = QwenTextEncoder.from_model(model, _FixedTokens(n), dtype=torch.bfloat16, batch_size=8)
        sec = timed(keep("qwen_bf16", lambda: half.encode(texts[:1])), r)
        cos = min(_min_cos(last["qwen_bf16"], last["qwen"]), _min_cos(half.encode(texts[1:]), ref))
        out.update(qwen_bf16_s_per_page=round(sec, 2), qwen_bf16_min_cosine=round(cos, 5))
        print(f"Qwen3-Embedding-0.6B bf16: {sec:.2f} s per {n}-token page; min cosine to fp32 {cos:.5f}")
        half = None
    enc = model = None
    gc.collect()
    page = out["siglip_fp32_s_per_page"] + out["qwen_fp32_s_per_page"]
    out["cosmo_features_fp32_s_per_page"] = round(page, 2)
    print(f"CoSMo features per page on this CPU, fp32: {page:.1f} s (about {3600 / page:.0f} pages an hour)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=64)
    ap.add_argument("--panels", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=4, help="panels per timed batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-bf16", dest="bf16", action="store_false")
    ap.add_argument("--no-load", dest="load", action="store_false")
    ap.add_argument("--parts", default="features,cosmo,panels", help="comma-separated: features,cosmo,panels")
    ap.add_argument("--feature-repeat", type=int, default=1, help="timed runs of the feature models")
    ap.add_argument("--tokens", type=int, default=256, help="tokens of a page text for Qwen3")
    args = ap.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    out = {
        "bench": "cosmo_cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "pages": args.pages,
        "panels": args.panels,
    }
    if "features" in parts:
        bench_features(args, out)
    if "cosmo" in parts:
        bench_cosmo(args, out)
    if "panels" in parts:
        bench_panels(args, out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
