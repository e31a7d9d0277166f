"""The library's stored page-class heads as the pipeline applies them: whether this comicdesk can
use the head stored in ``user.sqlite`` for a model (:func:`head_state`), and the head itself
(:func:`load_head`). ``comicdesk.library.userdata`` keeps the bytes; reading them as a
``comicdesk.ml.page_head.PageHead`` needs ``ml``, which the library layer may not import."""

from __future__ import annotations

from pathlib import Path

from comicdesk.core.models import STANDARD_MODEL
from comicdesk.library.userdata import USER_FILE, UserData

#: :func:`head_state` answers.
HEAD_NONE, HEAD_CURRENT, HEAD_STALE = "none", "current", "stale"


def head_state(data_dir: Path, model_id: str = STANDARD_MODEL) -> str:
    """Whether the library has a stored head for this model that this comicdesk can apply:
    :data:`HEAD_NONE` (none stored, or no data yet), :data:`HEAD_CURRENT`, or :data:`HEAD_STALE`
    (made by another ``HEAD_VERSION``, with other features or classes, or unreadable).
    ``comicdesk.pipeline.rescore`` retrains a stale head from the stored labels on the next index
    run or relabel; until then :func:`load_head` gives None for it."""
    path = Path(data_dir) / USER_FILE
    if not path.is_file():
        return HEAD_NONE
    from comicdesk.ml.page_head import HEAD_VERSION, PageHead

    try:
        with UserData(data_dir, readonly=True) as user:
            stored = user.head(model_id)
    except Exception:  # noqa: BLE001 - an older file without the table: nothing stored
        return HEAD_NONE
    if stored is None:
        return HEAD_NONE
    if stored[0] != HEAD_VERSION:
        return HEAD_STALE
    try:
        PageHead.from_bytes(stored[1])
    except ValueError:
        return HEAD_STALE
    return HEAD_CURRENT


def load_head(data_dir: Path, model_id: str = STANDARD_MODEL):
    """The library's page-class head (``comicdesk.ml.page_head.PageHead``), or None when there is
    none, it learnt nothing, or another version made it (:func:`head_state` says "stale": the
    next index run or relabel retrains it)."""
    path = Path(data_dir) / USER_FILE
    if not path.is_file():
        return None
    from comicdesk.ml.page_head import HEAD_VERSION, PageHead

    try:
        with UserData(data_dir, readonly=True) as user:
            stored = user.head(model_id)
    except Exception:  # noqa: BLE001 - an older file without the table, or unreadable: no head
        return None
    if stored is None or stored[0] != HEAD_VERSION:
        return None
    try:
        head = PageHead.from_bytes(stored[1])
    except ValueError:
        return None
    return None if head.identity else head
