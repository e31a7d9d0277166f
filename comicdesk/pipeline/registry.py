"""The stage registry: adding an analysis step is one module plus one :func:`register` line here.

Stages run in registration order within each pass (a stage must come after the stages whose
outputs it needs). Built-in stages, in the order ``ARCHITECTURE.md`` gives for pass 1 — decode →
page image features → panels → text detection → page classes → panel embeddings — and pass 2 —
text recognition → lines to panels → text embeddings → refined classes. Today only the panel detector exists;
the others land as ``comicdesk/pipeline/stages/<name>.py`` with a ``SPEC`` and one line below.

Importing this module imports no model code: each stage's ``load`` does that on the inference
executor, and versions that live in model modules are resolved when a run plans its work.
"""

from __future__ import annotations

from typing import Iterable

from comicdesk.pipeline.stage import CONTEXT_KINDS, IMAGE, StageSpec

_STAGES: dict[str, StageSpec] = {}


def register(spec: StageSpec, *, replace: bool = False) -> StageSpec:
    """Add a stage (at the end of the order; ``replace`` keeps an existing stage's place)."""
    if spec.name in _STAGES and not replace:
        raise ValueError(f"a stage named {spec.name!r} is already registered")
    _STAGES[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _STAGES.pop(name, None)


def stages(profile: str | None = None) -> list[StageSpec]:
    """The registered stages (for one profile), in run order."""
    return [s for s in _STAGES.values() if profile is None or profile in s.profiles]


def producers(specs: Iterable[StageSpec]) -> dict[str, StageSpec]:
    out: dict[str, StageSpec] = {}
    for s in specs:
        for kind in s.produces:
            out.setdefault(kind, s)
    return out


def validate(specs: list[StageSpec]) -> None:
    """Every need is the page image or an output of an earlier stage (of this or pass 1); no
    page-level stage needs a book-level stage's output; names are unique."""
    seen: dict[str, StageSpec] = {}
    names = set()
    for pass_no in (1, 2):
        for s in (x for x in specs if x.pass_no == pass_no):
            if s.name in names:
                raise ValueError(f"two stages named {s.name!r}")
            names.add(s.name)
            for need in s.needs:
                if need == IMAGE or need in CONTEXT_KINDS:
                    continue
                u = seen.get(need)
                if u is None:
                    raise ValueError(f"stage {s.name!r} needs {need!r}, which no earlier stage produces")
                if s.level == "page" and u.level == "book" and u.pass_no == s.pass_no:
                    raise ValueError(f"page-level stage {s.name!r} cannot need {need!r} from the "
                                     f"book-level stage {u.name!r} of the same pass")
            for kind in s.produces:
                seen.setdefault(kind, s)


# -- built-in stages (one line each, in run order) ----------------------------------------------
from comicdesk.pipeline.stages import page_classes as _page_classes  # noqa: E402
from comicdesk.pipeline.stages import page_image as _page_image  # noqa: E402
from comicdesk.pipeline.stages import panel_emb as _panel_emb  # noqa: E402
from comicdesk.pipeline.stages import panels as _panels  # noqa: E402
from comicdesk.pipeline.stages import text_assign as _text_assign  # noqa: E402
from comicdesk.pipeline.stages import text_detect as _text_detect  # noqa: E402
from comicdesk.pipeline.stages import text_embed as _text_embed  # noqa: E402
from comicdesk.pipeline.stages import text_read as _text_read  # noqa: E402

register(_page_image.SPEC)
register(_panels.SPEC)
register(_text_detect.SPEC)
register(_page_classes.SPEC)  # book level, pass 1
register(_panel_emb.SPEC)
register(_text_read.SPEC)
register(_text_assign.SPEC)  # lines to panels: re-runs alone when the panels change
register(_text_embed.SPEC)
register(_page_classes.SPEC_TEXT)  # book level, pass 2: refined with the words
from comicdesk.pipeline.stages import cosmo as _cosmo  # noqa: E402

for _spec in _cosmo.SPECS:  # the cosmo profile (after the OCR stages it reads)
    register(_spec)
