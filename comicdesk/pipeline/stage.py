"""What a stage is: the protocol every analysis step follows, and the data it sees.

A stage is a small pure function over pages, described by a :class:`StageSpec` and registered
once (:mod:`comicdesk.pipeline.registry`). The runner owns everything else: decoding, batching
across books, threads, priorities, cancelling, progress, and persisting what stages produce.

- ``load(ctx)`` builds the stage's model once, on the inference executor (the only place models
  live), and returns a callable.
- A **page-level** stage's callable takes a list of :class:`PageData` (one or more, from any books;
  a single page when the stage is not ``batchable``) and returns one ``dict`` of outputs per page.
  It never sees a bad page.
- A **book-level** stage's callable takes a :class:`BookData` (every page, images dropped, bad
  pages included and flagged) and returns one ``dict`` per page: e.g. page classes, which look at
  the whole book as one sequence. Book-level stages run once all the book's pages went through
  the page-level stages, so a page-level stage cannot need a book-level stage's output.
- ``needs`` names what the stage reads: :data:`IMAGE` (the decoded page: an 8-bit RGB Pillow
  image) or outputs of earlier stages. ``produces`` names what it writes into each page's outputs.
- ``version`` changes whenever the output for the same input may change. A stage's *fingerprint*
  is its version plus the fingerprints of the stages it needs, so a new panel detector also
  re-runs whatever reads panels. Work recorded with the same fingerprint is never redone.
- ``former_needs`` / ``former_host`` describe records written by an earlier comicdesk whose
  stages were cut differently (text recognition needed the panels and assigned lines to them
  itself): the runner takes such a record for the current one, and rewrites it, instead of
  redoing work whose output did not change (docs/pipeline.md, "Records of earlier versions").

Outputs the runner persists (other names live only in memory during one book's run):

- :data:`PANELS` — ``[(x, y, w, h), ...]`` in reading order (or objects with a ``.box``), in
  pixels of the decoded page → catalogue ``panels``.
- :data:`PAGE_CLASS` — ``{"label": str | None, "probs": {class: p}}`` → ``page_outputs`` under the
  stage's ``model_id`` (source ``model``).
- :data:`PAGE_STATS`, :data:`TEXT_BOXES`, :data:`TEXT_LINES`, :data:`TEXT_PANELS` — page features
  and text → catalogue ``page_features`` / ``text_lines`` (shapes below).
- ``vectors:<model id>/<array>`` (declared with :class:`VectorOutput`) — page level: one
  ``(dims,)`` row per page; panel level: ``(n_panels, dims)`` in the page's panel order →
  ``vectors.zarr`` rows mapped from the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from comicdesk.core.models import STANDARD_MODEL, vectors_kind  # noqa: F401  (the stages' names for them)

IMAGE = "image"
PANELS = "panels"
PAGE_CLASS = "page_class"
#: ``{"phash": int (64-bit, unsigned), "stats": {name: float}}`` → catalogue ``page_features``
PAGE_STATS = "page_stats"
#: ``{"boxes": [(x, y, w, h), ...] in reading order, "scores": [float], "coverage": float}``
#: → catalogue ``text_lines`` (text NULL) + ``page_features.text_count/text_coverage``
TEXT_BOXES = "text_boxes"
#: ``[{"box": (x, y, w, h), "text": str | None, "conf": float | None, "panel": int}, ...]``, one per
#: detected box, same order → catalogue ``text_lines.text/conf/panel``. Recognition (``text_read``)
#: fills ``text``/``conf`` with ``panel`` -1; the assignment (``text_assign``) fills ``panel``.
TEXT_LINES = "text_lines"
#: ``[panel index (-1: none), ...]``, one per text line in ``TEXT_LINES`` order: the panel each line
#: falls in (``text_assign``, which also writes it into the lines' ``panel``) → catalogue
#: ``text_lines.panel``. A stage that reads the lines' panels needs it (its fingerprint then
#: follows the assignment, and through it the panels); one that reads only the text does not,
#: and new panels leave it be.
TEXT_PANELS = "text_panels"
#: Library context, never produced by a stage; the runner loads it from the catalogue for the
#: stages that need it: ``{"other_books": n, "within_book": n}`` — how many other books hold a
#: near-identical page (perceptual hash), and how many other pages of this book do.
PAGE_REPEATS = "page_repeats"
CONTEXT_KINDS = frozenset({PAGE_REPEATS})
LEVELS = ("page", "book")


@dataclass
class PageData:
    """One page as a stage sees it."""

    book_id: int
    index: int
    name: str
    #: 8-bit RGB Pillow image while page-level stages run, else None. It may be a reduced decode
    #: (see ``StageSpec.image_size``): ``width``/``height`` are always the page's own size, and
    #: every box a stage reads or writes is in those page pixels (:meth:`scale` maps them).
    image: Any | None
    width: int | None
    height: int | None
    bad: bool = False
    error: str | None = None
    rtl: bool = False  # the book reads right to left (ComicInfo Manga=YesAndRightToLeft)
    content_hash: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def scale(self) -> tuple[float, float]:
        """Image pixels per page pixel, ``(sx, sy)`` (1, 1 for a full decode)."""
        if self.image is None or not self.width or not self.height:
            return (1.0, 1.0)
        w, h = self.image.size
        return (w / self.width, h / self.height)


@dataclass
class BookData:
    """A whole book as a book-level stage sees it (no images)."""

    book_id: int
    path: str
    rtl: bool
    pages: list[PageData]


@dataclass(frozen=True)
class StageContext:
    """What a stage's ``load`` gets: the run's choices, never global configuration."""

    profile: str = "standard"
    threads: int = 1  # most threads a model may use (OpenCV, torch, onnxruntime)
    device: str = "auto"  # auto | cpu | cuda | mps (comicdesk.ml.device)
    dtype: str | None = None  # the CoSMo models' precision (None: the device's)
    batch: int | None = None  # the CoSMo models' batch (None: the device's)
    cpu_precision: str = "auto"  # float32 | bfloat16 | auto: the small CPU models
    #: the environment as read at start-up, for the weights locator (None: the process's)
    env: Any = None
    #: the library's data dir (the person's own: the classifier head learnt from their labels),
    #: when the caller gives it; stages only read it
    data_dir: Any = None
    #: where downloaded model weights live (``comicdesk.ml.weights``), when the caller gives it
    models_dir: Any = None


@dataclass(frozen=True)
class VectorOutput:
    """A Zarr array a stage fills (``vectors.zarr/<model_id>/<array>``)."""

    model_id: str
    array: str
    dims: int
    level: str = "page"  # "page" | "panel"
    dtype: str = "float16"
    normalised: bool = False  # search vectors: L2-normalised when stored; model inputs: raw
    #: All-zero rows (no input: a page or panel without text) are not stored; readers take a
    #: missing row as zero. A run unmaps the rows its pages had before.
    skip_zero: bool = False
    #: model name, revision, preprocessing; or a function giving them (so that declaring a stage
    #: imports no model module)
    group_attrs: dict[str, Any] | Callable[[], dict[str, Any]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return vectors_kind(self.model_id, self.array)

    def attrs(self) -> dict[str, Any]:
        return self.group_attrs() if callable(self.group_attrs) else dict(self.group_attrs)


@dataclass(frozen=True)
class StageSpec:
    name: str
    pass_no: int  # 1: fast pass; 2: slow pass (after the book's pass 1, at lower priority)
    needs: tuple[str, ...]
    produces: tuple[str, ...]
    load: Callable[[StageContext], Callable[..., list[dict[str, Any]]]]
    version: str | Callable[[], str]
    level: str = "page"
    batchable: bool = False
    batch_size: int = 8
    #: Most pages per call when the run's device is a GPU (``RunOptions.gpu_batch_size`` bounds
    #: it); None: ``batch_size``. Only for a batchable stage; a CPU run uses ``batch_size``.
    gpu_batch_size: int | None = None
    model_id: str | None = None  # page_outputs' model id (defaults to the name)
    #: Long side (pixels) of the page image the stage needs at least; None: the full page. The
    #: runner decodes each page once, at the largest size the job's stages ask for (JPEG draft).
    image_size: int | None = None
    vectors: tuple[VectorOutput, ...] = ()
    profiles: tuple[str, ...] = ("standard", "cosmo")
    #: Kinds the stage needed in an earlier comicdesk and no longer reads: its records from then
    #: name their producers' fingerprints, whatever those were; such a record counts as this
    #: stage's when the rest of it matches (``text_read`` once needed the panels).
    former_needs: tuple[str, ...] = ()
    #: ``(stage name, version)``: an earlier comicdesk did this stage's work inside that stage.
    #: While this stage's version is the given one, a record of that stage from then (whose
    #: fingerprint matches with today's inputs) counts as this stage's too (``text_assign`` was
    #: part of ``text_read``).
    former_host: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.pass_no not in (1, 2):
            raise ValueError(f"stage {self.name}: pass must be 1 or 2")
        if self.level not in LEVELS:
            raise ValueError(f"stage {self.name}: level must be one of {LEVELS}")
        if self.gpu_batch_size is not None and self.gpu_batch_size < 1:
            raise ValueError(f"stage {self.name}: gpu_batch_size must be at least 1")
        if self.level == "book" and IMAGE in self.needs:
            raise ValueError(f"stage {self.name}: a book-level stage cannot need page images")
        for v in self.vectors:
            if v.kind not in self.produces:
                raise ValueError(f"stage {self.name}: declares {v.kind} but does not produce it")
            if v.level not in ("page", "panel"):
                raise ValueError(f"stage {self.name}: vector level must be page or panel")

    def resolve_version(self) -> str:
        v = self.version() if callable(self.version) else self.version
        return str(v)

    @property
    def output_model_id(self) -> str:
        return self.model_id or self.name
