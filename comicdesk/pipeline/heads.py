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


def _stored(data_dir: Path, model_id: str):
    """The stored ``(version, blob, ...)`` row of this model's head, or None (no data yet, an older
    file without the table, or an unreadable one)."""
    if not (Path(data_dir) / USER_FILE).is_file():
        return None
    try:
        with UserData(data_dir, readonly=True) as user:
            return user.head(model_id)
    except Exception:  # noqa: BLE001 - no table, or unreadable: nothing stored
        return None


def head_state(data_dir: Path, model_id: str = STANDARD_MODEL) -> str:
    """Whether the library has a stored head for this model that this comicdesk can apply:
    :data:`HEAD_NONE` (none stored, or no data yet), :data:`HEAD_CURRENT`, or :data:`HEAD_STALE`
    (made by another ``HEAD_VERSION``, with other features or classes, or unreadable).
    ``comicdesk.pipeline.rescore`` retrains a stale head from the stored labels on the next index
    run or relabel; until then :func:`load_head` gives None for it."""
    from comicdesk.ml.page_head import HEAD_VERSION, PageHead

    stored = _stored(data_dir, model_id)
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
    from comicdesk.ml.page_head import HEAD_VERSION, PageHead

    stored = _stored(data_dir, model_id)
    if stored is None or stored[0] != HEAD_VERSION:
        return None
    try:
        head = PageHead.from_bytes(stored[1])
    except ValueError:
        return None
    return None if head.identity else head
