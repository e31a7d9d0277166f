"""Names several layers share: model ids and the vector arrays they write.

The pipeline writes these arrays, the cache stores them, search and duplicates read them; none of
those layers may import another's modules for a name, so the names live here.
"""

from __future__ import annotations

#: The standard profile's model id (``vectors.zarr/standard-1``, ``page_outputs.model_id``, the
#: page-class head stored for it in ``user.sqlite``).
STANDARD_MODEL = "standard-1"
#: The cosmo profile's model id.
COSMO_MODEL = "cosmo-v4"

#: The standard profile's vector arrays (``<model>/<array>`` in the vector cache).
PAGE_IMAGE = "page_image"
PAGE_TEXT = "page_text"
PANEL_TEXT = "panel_text"
PANEL_EMB = "panel_emb"


def vectors_kind(model_id: str, array: str) -> str:
    """The output kind a stage declares for a vector array: ``vectors:<model>/<array>``."""
    return f"vectors:{model_id}/{array}"
