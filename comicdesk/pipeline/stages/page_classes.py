"""Page classes of the standard profile: two book-level stages (``comicdesk.ml.page_classes``).

- ``page_classes`` (pass 1): from what is known quickly — position, panels, where text is and how
  big, image statistics, page image features.
- ``page_classes_text`` (pass 2): the same plus the recognised words, the page-text vectors and
  the repetition of pages across the library; same ``model_id`` (``standard-1``), so its output
  replaces pass 1's in ``page_outputs``.

Both apply the library's head (learnt from the person's labels, ``comicdesk.ml.page_head``) when
there is one. Stages are pure, so the head comes from a *head provider*: a callable
``provider(ctx) -> PageHead | None`` called once in ``load``. :func:`make_specs` takes one (tests
inject theirs); :data:`SPECS` use :func:`default_head_provider`, which reads the head from the
library's data dir when the runner passes it in the context (``ctx.data_dir``; until then no head
is applied by a run, and ``comicdesk.pipeline.rescore.relabel`` re-scores the library after each
change). A stored head that cannot be applied (another version, other features) gives None here;
the run's end retrains it (``comicdesk.pipeline.rescore.rescore_pending``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from comicdesk.pipeline.stage import (
    PAGE_CLASS,
    PAGE_REPEATS,
    PAGE_STATS,
    PANELS,
    STANDARD_MODEL,
    TEXT_BOXES,
    TEXT_LINES,
    BookData,
    StageContext,
    StageSpec,
)

PASS1 = "page_classes"
PASS2 = "page_classes_text"

HeadProvider = Callable[[StageContext], Any]


def _version() -> str:
    """The classifier's version and the head's: ``HEAD_VERSION`` and its features. A head of
    another version or with other features cannot be applied (``load_head`` gives None); with
    them in the fingerprint, the first run after such a change re-classifies every book, and
    that run's end (``comicdesk.pipeline.rescore.rescore_pending``) retrains the head from the
    stored labels and re-scores the library with it."""
    import hashlib

    from comicdesk.ml import page_head
    from comicdesk.ml.page_classes import VERSION

    features = hashlib.sha256(",".join(page_head.FEATURES).encode()).hexdigest()[:8]
    return f"{VERSION}/head{page_head.HEAD_VERSION}-{features}"


def default_head_provider(ctx: StageContext):
    """The library's head from ``<data dir>/user.sqlite`` when the context names the data dir
    (``ctx.data_dir``), else None."""
    data_dir = getattr(ctx, "data_dir", None)
    if data_dir is None:
        return None
    from comicdesk.pipeline.heads import HEAD_STALE, head_state, load_head

    head = load_head(data_dir)
    if head is None and head_state(data_dir) == HEAD_STALE:
        import logging

        logging.getLogger(__name__).info(
            "the library's page-class head was made by another version: this run classifies without it, "
            "and its end retrains it from your labels")
    return head


def classify(book: BookData, head=None) -> list[dict[str, Any]]:
    """The stage's work on one book: ``{PAGE_CLASS: {"label", "probs"}}`` per page (a bad page
    gets ``{}``: nothing is stored for it)."""
    from comicdesk.ml.page_classes import classify_book, top_label
    from comicdesk.pipeline.signals import signals_from_book

    pages = signals_from_book(book)
    probs = classify_book(pages)
    if head is not None:
        probs = head.apply(pages, probs)
    return [{} if s.bad else {PAGE_CLASS: {"label": top_label(p), "probs": p}} for s, p in zip(pages, probs)]


def _loader(head_provider: HeadProvider | None):
    def load(ctx: StageContext):
        head = head_provider(ctx) if head_provider is not None else None

        def run(book: BookData) -> list[dict[str, Any]]:
            return classify(book, head)

        return run

    return load


IMAGE_VECTORS = "vectors:" + STANDARD_MODEL + "/page_image"
TEXT_VECTORS = "vectors:" + STANDARD_MODEL + "/page_text"


def make_specs(head_provider: HeadProvider | None = default_head_provider) -> tuple[StageSpec, StageSpec]:
    load = _loader(head_provider)
    pass1 = StageSpec(name=PASS1, pass_no=1, needs=(PAGE_STATS, PANELS, TEXT_BOXES, IMAGE_VECTORS),
                      produces=(PAGE_CLASS,), load=load, version=_version, level="book",
                      model_id=STANDARD_MODEL, profiles=("standard",))
    pass2 = StageSpec(name=PASS2, pass_no=2,
                      needs=(PAGE_STATS, PANELS, TEXT_BOXES, IMAGE_VECTORS, TEXT_LINES, TEXT_VECTORS,
                             PAGE_REPEATS),
                      produces=(PAGE_CLASS,), load=load, version=_version, level="book",
                      model_id=STANDARD_MODEL, profiles=("standard",))
    return pass1, pass2


SPECS: tuple[StageSpec, StageSpec] = make_specs()
SPEC, SPEC_TEXT = SPECS
