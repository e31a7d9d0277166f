"""Standard-profile feature benchmark: seconds per page / panel / line / text for every model stage.

    python tests/bench/bench_features.py [--repeats 3] [--threads 1,2] [--quick]

Pages are the usual digital-comic size, 1988x3056:

- a *dense* page: four real xkcd strips (shared fixtures) scaled to the page width and stacked,
  about 90 lettered lines at ~30 px letter height (a text-heavy page);
- *synthetic* pages (tests/ml/feat_data.py): six panels of shapes and one balloon each.

Stages, each timed best-of ``--repeats`` after one warm-up (the median is printed too), at every
thread count of ``--threads`` (torch's intra-op threads via ``torch.set_num_threads``, onnxruntime's
``intra_op_num_threads`` per session):

- ``phash``: 64-bit DCT hash of a decoded page;
- ``effnet_page``: EfficientNet-Lite0 features of one page (224x224), batch 1 and batch 8;
- ``effnet_crop``: features of the six panel crops of a page, as one batch (per panel);
- ``ocr_det``: text detection at 960 px (long side) of the dense page;
- ``ocr_rec``: recognition of every selected line of the dense page (per page and per line);
- ``minilm``: 32 panel-sized texts as one call (per text);
- ``panel_embed``: the 256-d panel vector from the three inputs (per panel, numpy only).

Then retrieval quality of the panel embedding with real OCR text (re-scan = JPEG q75 + 90 %
resize, boxes moved <= 3 px): top-1 rate and margins over all seven xkcd strips' panels (+ five
sub-crops each as hard negatives) and 20 synthetic pages; and the process's peak RSS with every
model loaded. Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "ml"))
sys.path.insert(0, str(REPO / "tests"))

PAGE_W, PAGE_H = 1988, 3056


def timed(fn, repeats: int) -> tuple[float, float]:
    """(best, median) seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), statistics.median(ts)


def dense_page():
    from feat_data import xkcd_pages
    from PIL import Image

    strips = xkcd_pages()
    names = ["xkcd2434.jpg", "xkcd2443.jpg", "xkcd2444.jpg", "xkcd2446.jpg"]
    page = Image.new("RGB", (PAGE_W, PAGE_H), "white")
    y = 20
    for n in names:
        s = strips[n]
        h = round(s.height * PAGE_W / s.width)
        page.paste(s.resize((PAGE_W, h), Image.LANCZOS), (0, y))
        y += h + 4
    return page


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="skip the retrieval-quality part")
    ap.add_argument("--crop-size", type=int, default=None,
                    help="panel crops' input size for the retrieval part (default: the panel_emb stage's)")
    ap.add_argument("--retrieval-only", action="store_true", help="only the retrieval-quality part")
    ap.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"),
                    help="panel crops' EfficientNet precision for the retrieval part (the pipeline uses auto)")
    args = ap.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]

    import numpy as np
    import torch
    from feat_data import synthetic_page

    from comicdesk.ml import panel_embed as pe
    from comicdesk.ml.efficientnet import EfficientNetLite0, crop_boxes
    from comicdesk.ml.minilm import MiniLM
    from comicdesk.ml.ocr import TextOcr
    from comicdesk.ml.phash import phash

    load = os.getloadavg()
    print(f"cpu cores: {os.cpu_count()}, load average at start: {load[0]:.2f}")
    results: dict = {"cpu_count": os.cpu_count(), "loadavg_start": round(load[0], 2), "stages": {}}

    t0 = time.perf_counter()
    eff = EfficientNetLite0()
    t_eff = time.perf_counter() - t0
    t0 = time.perf_counter()
    enc = MiniLM()
    t_lm = time.perf_counter() - t0
    results["load_s"] = {"efficientnet": round(t_eff, 3), "minilm": round(t_lm, 3)}
    from comicdesk.ml.efficientnet import LiteConfig
    from comicdesk.pipeline.stages.panel_emb import CROP_SIZE

    crop_size = args.crop_size or CROP_SIZE
    crop_eff = EfficientNetLite0(config=LiteConfig(image_size=crop_size), precision=args.precision)
    results["retrieval_crop_size"] = crop_size
    results["retrieval_precision"] = str(crop_eff.dtype).replace("torch.", "")
    if args.retrieval_only:
        torch.set_num_threads(thread_counts[-1])
        print(f"panel crops at {crop_size} px, {results['retrieval_precision']}")
        results["retrieval"] = retrieval_quality(crop_eff, enc, TextOcr(threads=thread_counts[-1]))
        print(json.dumps(results, sort_keys=True))
        return 0

    dense = dense_page()
    synth = []
    for s in range(8):
        page, boxes = synthetic_page(s, size=(PAGE_W, PAGE_H))
        synth.append((page, boxes))
    crops = crop_boxes(synth[0][0], synth[0][1])
    texts = [
        " ".join(random.Random(i).choice(["the", "rocket", "is", "ready", "captain", "science",
                                           "where", "are", "robots", "we", "must", "escape"])
                 for _ in range(12 + i % 10))
        for i in range(32)
    ]

    def record(stage: str, threads: int, best: float, med: float, per: float = 1.0, unit: str = "page"):
        key = f"{stage}@{threads}t"
        results["stages"][key] = {"s_per_" + unit: round(best / per, 5),
                                  "median_s_per_" + unit: round(med / per, 5)}
        print(f"  {stage:22s} {threads}t  {best / per * 1000:9.1f} ms/{unit}  (median {med / per * 1000:.1f})")

    b, m = timed(lambda: phash(synth[1][0]), args.repeats)
    print("per-stage times (best of repeats):")
    record("phash", 1, b, m)

    ocr_by_threads = {}
    for th in thread_counts:
        torch.set_num_threads(th)
        b, m = timed(lambda: eff.features([synth[2][0]]), args.repeats)
        record("effnet_page", th, b, m)
        b, m = timed(lambda: eff.features([p for p, _ in synth]), args.repeats)
        record("effnet_page_batch8", th, b, m, per=len(synth))
        b, m = timed(lambda: eff.features(crops), args.repeats)
        record("effnet_crop", th, b, m, per=len(crops), unit="panel")

        ocr = TextOcr(threads=th)
        ocr_by_threads[th] = ocr
        det = ocr.detect(dense)
        b, m = timed(lambda o=ocr: o.detect(dense), args.repeats)
        record("ocr_det_960", th, b, m)
        n_sel = len(ocr.select_lines(det))
        b, m = timed(lambda o=ocr, d=det: o.recognise(dense, d), args.repeats)
        record("ocr_rec_dense_page", th, b, m)
        record("ocr_rec_line", th, b, m, per=max(1, n_sel), unit="line")
        b, m = timed(lambda: enc.encode(texts), args.repeats)
        record("minilm", th, b, m, per=len(texts), unit="text")

    comp = np.stack([pe.composition_features(bx, (PAGE_W, PAGE_H)) for bx in synth[0][1]])
    f6 = eff.features(crops)
    t6 = enc.encode(texts[: len(crops)])
    b, m = timed(lambda: pe.embed_panels(f6, t6, comp), args.repeats)
    record("panel_embed", 1, b, m, per=len(crops), unit="panel")

    det = ocr_by_threads[thread_counts[0]].detect(dense)
    lines = ocr_by_threads[thread_counts[0]].recognise(dense, det)
    results["dense_page"] = {"boxes": det.count, "recognised_lines": len(lines),
                             "coverage": round(det.coverage, 3), "det_size": list(det.det_size)}
    print(f"dense page: {det.count} boxes, {len(lines)} lines recognised, coverage {det.coverage:.2f},"
          f" detector input {det.det_size[0]}x{det.det_size[1]}")
    print("  sample:", " | ".join(ln.text for ln in lines[:6]))

    # Whole-pass estimates per page (one worker, the stage figures above; decode not included).
    for th in thread_counts:
        s = results["stages"]
        p1 = (s["phash@1t"]["s_per_page"] + s[f"effnet_page_batch8@{th}t"]["s_per_page"]
              + 6 * s[f"effnet_crop@{th}t"]["s_per_panel"] + s[f"ocr_det_960@{th}t"]["s_per_page"]
              + 6 * s["panel_embed@1t"]["s_per_panel"])
        p2 = s[f"ocr_rec_dense_page@{th}t"]["s_per_page"] + 7 * s[f"minilm@{th}t"]["s_per_text"]
        results.setdefault("estimates", {})[f"{th}t"] = {
            "pass1_s_per_page": round(p1, 4), "pass1_pages_per_s": round(1 / p1, 2),
            "pass2_dense_s_per_page": round(p2, 4),
            "both_dense_pages_per_s": round(1 / (p1 + p2), 2),
        }
        print(f"estimate, {th} thread(s): pass 1 {p1:.3f} s/page ({1 / p1:.1f} pages/s); "
              f"pass 2 on a dense page {p2:.3f} s; both {1 / (p1 + p2):.2f} pages/s")

    if not args.quick:
        results["retrieval"] = retrieval_quality(crop_eff, enc, ocr_by_threads[thread_counts[-1]])

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["peak_rss_mb"] = round(rss, 1)
    results["loadavg_end"] = round(os.getloadavg()[0], 2)
    print(f"peak RSS with all models loaded: {rss:.0f} MB; load average at end: "
          f"{results['loadavg_end']:.2f}")
    print(json.dumps(results, sort_keys=True))
    return 0


def retrieval_quality(eff, enc, ocr) -> dict:
    import numpy as np
    from feat_data import gutter_panels, rescan, scale_box, synthetic_page, xkcd_pages

    from comicdesk.ml import panel_embed as pe
    from comicdesk.ml.efficientnet import crop_boxes
    from comicdesk.ml.ocr import assign_to_panels, join_lines

    rng = random.Random(11)
    db_c, db_comp, db_t, q_c, q_comp, q_t, targets = [], [], [], [], [], [], []

    def panel_texts(page, boxes):
        lines = ocr.read(page)[1]
        groups = [[] for _ in boxes]
        for ln, j in zip(lines, assign_to_panels([ln.box for ln in lines], boxes)):
            if j >= 0:
                groups[j].append(ln)
        return [join_lines(g) for g in groups]

    def add_page(page, boxes, with_queries, negatives):
        again = rescan(page)
        qboxes = [scale_box(b, again.width / page.width, jitter=3, rng=rng) for b in boxes]
        texts = panel_texts(page, boxes)
        qtexts = panel_texts(again, qboxes) if with_queries else []
        for k, box in enumerate(boxes):
            if with_queries:
                targets.append(len(db_c))
                q_c.extend(crop_boxes(again, [qboxes[k]]))
                q_comp.append(pe.composition_features(qboxes[k], again.size))
                q_t.append(qtexts[k])
            db_c.extend(crop_boxes(page, [box]))
            db_comp.append(pe.composition_features(box, page.size))
            db_t.append(texts[k])
            if negatives:
                x, y, w, h = box
                for sub in ([x, y, w, h // 2], [x, y + h // 2, w, h - h // 2], [x, y, w // 2, h],
                            [x + w // 2, y, w - w // 2, h],
                            [x + w // 6, y + h // 6, 2 * w // 3, 2 * h // 3]):
                    db_c.extend(crop_boxes(page, [sub]))
                    db_comp.append(pe.composition_features(sub, page.size))
                    db_t.append("")

    t0 = time.perf_counter()
    for page in xkcd_pages().values():
        add_page(page, gutter_panels(page), True, True)
    for s in range(20):
        page, boxes = synthetic_page(100 + s)
        add_page(page, boxes, s < 6, False)
    f_db, t_db, c_db = eff.features(db_c), enc.encode(db_t), np.stack(db_comp)
    f_q, t_q, c_q = eff.features(q_c), enc.encode(q_t), np.stack(q_comp)
    tgt = np.array(targets)

    out = {}
    for label, cfg in [("image+text+layout (default)", pe.PanelEmbedConfig()),
                       ("image only", pe.PanelEmbedConfig(1.0, 0.0, 0.0)),
                       ("image only, uncentred", pe.PanelEmbedConfig(1.0, 0.0, 0.0, center_image=False))]:
        dbv = pe.embed_panels(f_db, t_db, c_db, cfg)
        qv = pe.embed_panels(f_q, t_q, c_q, cfg)
        s = pe.similarity(qv, dbv)
        rows = np.arange(len(qv))
        hit = s[rows, tgt].copy()
        s[rows, tgt] = -np.inf
        margin = hit - s.max(1)
        ranks = (s > hit[:, None]).sum(1)
        out[label] = {"panels": len(dbv), "queries": len(qv), "top1": round(float((ranks == 0).mean()), 4),
                      "margin_min": round(float(margin.min()), 4),
                      "margin_mean": round(float(margin.mean()), 4),
                      "cos_same_min": round(float(hit.min()), 4)}
        print(f"retrieval, {label}: {len(qv)} re-scanned panels among {len(dbv)}: top-1 "
              f"{(ranks == 0).mean():.3f}, margin min {margin.min():.3f} mean {margin.mean():.3f}, "
              f"cosine to own original >= {hit.min():.3f}")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


if __name__ == "__main__":
    sys.exit(main())
