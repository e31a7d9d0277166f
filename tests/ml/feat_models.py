"""The standard-profile models, loaded once per test session (each loader is cached), with the
same shared instance used by every test module that needs it.

torch runs with one intra-op thread here: on a busy two-core machine two spinning threads made
EfficientNet 5-10x slower than one (measured in docs/features.md). torch's setting is process-wide.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def efficientnet():
    from comicdesk.ml.efficientnet import EfficientNetLite0

    return EfficientNetLite0(threads=1)


@lru_cache(maxsize=1)
def minilm():
    from comicdesk.ml.minilm import MiniLM

    return MiniLM(threads=1)


@lru_cache(maxsize=1)
def ocr():
    from comicdesk.ml.ocr import TextOcr

    return TextOcr(threads=1)
