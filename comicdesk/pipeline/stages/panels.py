"""Panels: boxes in reading order on every page, pass 1: the classical detector
(``comicdesk.ml.panels``) proposes, the learned refiner (``comicdesk.ml.panel_net``) corrects.

Pages are laid out right to left when the book's ComicInfo says ``Manga=YesAndRightToLeft``.
Every page gets at least one panel (the detector's promise: the whole page when nothing is
found); the stage checks that and clips boxes to the page, so the catalogue never holds an
empty or outside box whatever a detector returns.
"""

from __future__ import annotations

from typing import Any, Callable

from comicdesk.pipeline.stage import IMAGE, PANELS, PageData, StageContext, StageSpec

NAME = "panels"


def _version() -> str:
    from comicdesk.ml.panel_net import panels_version

    return panels_version()


def boxes_for_page(detect: Callable[..., list], page: PageData) -> list[tuple[int, int, int, int]]:
    """The page's panel boxes: the detector's, as int tuples clipped to the page, never empty."""
    from comicdesk.core.geometry import clip_box, whole_page

    iw, ih = page.image.size
    width, height = page.width or iw, page.height or ih
    sx, sy = iw / width, ih / height  # the image may be a reduced decode of the page
    found = detect(page.image, rtl=page.rtl)
    boxes = []
    for p in found:
        x, y, w, h = (float(v) for v in getattr(p, "box", p))
        boxes.append(clip_box((x / sx, y / sy, w / sx, h / sy), width, height))
    return boxes or [whole_page(width, height)]


def make_stage(detect: Callable[..., list]) -> Callable[[list[PageData]], list[dict[str, Any]]]:
    """The stage's function over a batch, around any ``detect(image, *, rtl)`` callable."""

    def run(pages: list[PageData]) -> list[dict[str, Any]]:
        return [{PANELS: boxes_for_page(detect, page)} for page in pages]

    return run


def _load(ctx: StageContext):
    from comicdesk.ml.panel_net import detect_panels_refined, load_model
    from comicdesk.ml.panels import PanelParams

    params = PanelParams(threads=max(1, ctx.threads))
    model = load_model()

    def detect(image, *, rtl=False):
        return detect_panels_refined(image, rtl=rtl, model=model, detector_params=params)

    return make_stage(detect)


#: The detector's working size (``PanelParams.work_size``; a test keeps them equal): a page
#: decoded with at least this long side gives it the same working copy.
WORK_SIZE = 1000

SPEC = StageSpec(name=NAME, pass_no=1, needs=(IMAGE,), produces=(PANELS,), load=_load,
                 version=_version, level="page", batchable=False, image_size=WORK_SIZE)
