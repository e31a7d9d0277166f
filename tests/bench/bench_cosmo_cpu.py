"""CPU cost of the seeds' models: the CoSMo v4 head per page and comic-panel-encoder-v1 per panel.

    python tests/bench/bench_cosmo_cpu.py [--pages 64] [--panels 16] [--chunk 4] [--repeat 5]
                                          [--threads 2] [--no-bf16] [--no-load]

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=64)
    ap.add_argument("--panels", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=4, help="panels per timed batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-bf16", dest="bf16", action="store_false")
    ap.add_argument("--no-load", dest="load", action="store_false")
    args = ap.parse_args()

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
    bench_cosmo(args, out)
    bench_panels(args, out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
