"""Text detection, pass 1: where the text is and how much (RapidOCR's PP-OCR detector) →
``TEXT_BOXES`` → ``text_lines`` (no text yet) and ``page_features.text_count/text_coverage``.

The detector runs at ``DET_SIDE`` pixels on the page's long side (docs/features.md measured 960,
736, 640, 512; see docs/pipeline.md for the choice), on the reduced decode the runner gives it;
boxes are in page pixels.
"""

from __future__ import annotations

from comicdesk.pipeline.stage import IMAGE, TEXT_BOXES, StageContext, StageSpec

NAME = "text_detect"
DET_SIDE = 640
VERSION = f"ppocr-v6-det-{DET_SIDE}"


def _load(ctx: StageContext):
    from comicdesk.ml.device import resolve_device
    from comicdesk.ml.ocr import OcrConfig, TextOcr

    # onnxruntime's CUDA provider on cuda when the installed onnxruntime has it, else the CPU
    ocr = TextOcr(OcrConfig(det_max_side=DET_SIDE), threads=max(1, ctx.threads),
                  device=resolve_device(getattr(ctx, "device", None) or "auto"))

    def run(pages):
        out = []
        for p in pages:
            det = ocr.detect(p.image, page_size=(p.width, p.height))
            out.append({TEXT_BOXES: {"boxes": [b.box for b in det.boxes], "scores": [round(float(b.score), 4) for b in det.boxes],
                                     "coverage": float(det.coverage)}})
        return out

    return run


SPEC = StageSpec(name=NAME, pass_no=1, needs=(IMAGE,), produces=(TEXT_BOXES,), load=_load, version=VERSION,
                 level="page", batchable=False, image_size=DET_SIDE, profiles=("standard", "cosmo"))  # OCR feeds both profiles
