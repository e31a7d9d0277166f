"""Text embeddings, pass 2: MiniLM of the page's text (``standard-1/page_text``) and of each
panel's text (``panel_text``), and the panel search vectors with their text block filled in
(``panel_emb``, refined from pass 1's rows: :func:`comicdesk.ml.panel_embed.with_text`)."""

from __future__ import annotations

from comicdesk.pipeline.stage import PANELS, TEXT_LINES, TEXT_PANELS, StageContext, StageSpec
from comicdesk.pipeline.stages.standard import PAGE_TEXT, PANEL_EMB, PANEL_TEXT, PROFILES, set_torch_threads

NAME = "text_embed"
#: Word pieces read per text. all-MiniLM-L6-v2 was fine-tuned on 128 (sentence-transformers reads
#: up to 256); a panel's text is far shorter, and a page's first 128 word pieces say what kind of
#: page it is (its whole text stays searchable in the catalogue). On the pipeline bench's pages this
#: halved the stage's time (243 → 117 ms a page, one thread): dense text pages dominate it.
TEXT_TOKENS = 128
#: Texts per MiniLM forward pass on a GPU (32 on the CPU); halved on out-of-memory.
GPU_BATCH = 256


def _version() -> str:
    from comicdesk.ml.panel_embed import VERSION

    return f"minilm-l6-{TEXT_TOKENS}+{VERSION}"


class _Line:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def texts_for(page) -> tuple[str, list[str]]:
    """The page's text and each panel's, joined in reading order (:func:`join_lines`)."""
    from comicdesk.ml.ocr import join_lines

    rows = [r for r in (page.outputs.get(TEXT_LINES) or []) if r.get("text")]
    n = len(page.outputs.get(PANELS) or [])
    per_panel = [[] for _ in range(n)]
    for r in rows:
        if 0 <= r.get("panel", -1) < n:
            per_panel[r["panel"]].append(_Line(r["text"]))
    return join_lines([_Line(r["text"]) for r in rows]), [join_lines(x) for x in per_panel]


def _load(ctx: StageContext):
    import numpy as np

    from comicdesk.ml.device import plan_for_run
    from comicdesk.ml.minilm import MiniLM
    from comicdesk.ml.panel_embed import DIM, with_text

    set_torch_threads(ctx)
    plan = plan_for_run(ctx, cpu_batch=32, gpu_batch=GPU_BATCH)
    model = MiniLM(max_tokens=TEXT_TOKENS, batch_size=plan.batch, precision=plan.precision, device=plan.device)

    def run(pages):
        texts, spans = [], []
        for p in pages:
            page_text, panel_texts = texts_for(p)
            spans.append((len(texts), len(panel_texts)))
            texts += [page_text, *panel_texts]
        wanted = [i for i, t in enumerate(texts) if t]
        vecs = np.zeros((len(texts), 384), np.float32)
        if wanted:
            vecs[wanted] = model.encode([texts[i] for i in wanted])
        out = []
        for p, (at, n) in zip(pages, spans):
            panel_vecs = vecs[at + 1:at + 1 + n]
            stored = p.outputs.get(PANEL_EMB.kind)
            item = {PAGE_TEXT.kind: vecs[at].astype(np.float16), PANEL_TEXT.kind: panel_vecs.astype(np.float16)}
            if stored is not None and len(stored) == n:
                item[PANEL_EMB.kind] = with_text(np.asarray(stored).reshape(n, DIM), panel_vecs)
            out.append(item)
        return out

    return run


SPEC = StageSpec(name=NAME, pass_no=2, needs=(TEXT_LINES, TEXT_PANELS, PANELS, PANEL_EMB.kind),
                 produces=(PAGE_TEXT.kind, PANEL_TEXT.kind, PANEL_EMB.kind), load=_load, version=_version,
                 level="page", batchable=True, batch_size=16, gpu_batch_size=64,
                 vectors=(PAGE_TEXT, PANEL_TEXT, PANEL_EMB), profiles=PROFILES)
