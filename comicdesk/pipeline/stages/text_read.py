"""Text recognition, pass 2: the lines text detection found, read with RapidOCR's PP-OCR
recogniser (batched by aspect ratio; tiny lines skipped: docs/features.md) on the full-size page
→ ``TEXT_LINES`` → ``text_lines.text/conf``.

Recognition does not look at the panels: each line's ``panel`` is left at -1 and the cheap
``text_assign`` stage, which runs right after it, fills it in. So a new panel detector re-runs
the assignment, not the recognition (about 0.7 s a page on one core).
"""

from __future__ import annotations

from comicdesk.pipeline.stage import IMAGE, PANELS, TEXT_BOXES, TEXT_LINES, StageContext, StageSpec

NAME = "text_read"
VERSION = "ppocr-v6-rec"


def detection_from(found: dict, width: int, height: int):
    """A :class:`comicdesk.ml.ocr.Detection` back from stored ``TEXT_BOXES`` (axis-aligned)."""
    from comicdesk.ml.ocr import Detection, TextBox

    boxes = []
    for (x, y, w, h), score in zip(found.get("boxes") or (), found.get("scores") or ()):
        quad = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
        boxes.append(TextBox(box=(int(x), int(y), int(w), int(h)), quad=tuple((float(a), float(b)) for a, b in quad),
                             score=float(score)))
    return Detection(width=width, height=height, boxes=tuple(boxes), coverage=float(found.get("coverage") or 0.0))


def _load(ctx: StageContext):
    from comicdesk.ml.device import resolve_device
    from comicdesk.ml.ocr import TextOcr

    # onnxruntime's CUDA provider on cuda when the installed onnxruntime has it, else the CPU
    ocr = TextOcr(threads=max(1, ctx.threads), device=resolve_device(getattr(ctx, "device", None) or "auto"))

    def run(pages):
        out = []
        for p in pages:
            found = p.outputs.get(TEXT_BOXES) or {}
            det = detection_from(found, p.width, p.height)
            lines = ocr.recognise(p.image, det) if det.boxes else []
            by_box = {ln.box: ln for ln in lines}
            rows = []
            for b in det.boxes:
                ln = by_box.get(b.box)
                rows.append({"box": b.box, "text": ln.text if ln else None,
                             "conf": round(float(ln.score), 4) if ln else None, "panel": -1})
            out.append({TEXT_LINES: rows})
        return out

    return run


#: Until this change the stage needed the panels (and assigned lines itself): its records from then
#: name the panel stage's fingerprint, and their text is still what it would read today.
SPEC = StageSpec(name=NAME, pass_no=2, needs=(IMAGE, TEXT_BOXES), produces=(TEXT_LINES,), load=_load,
                 version=VERSION, level="page", batchable=False, image_size=None,
                 profiles=("standard", "cosmo"),  # OCR feeds both profiles
                 former_needs=(PANELS,))
