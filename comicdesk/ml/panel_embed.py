"""The standard profile's panel embedding (``standard-1/panel_emb``): one 256-d float16 unit vector
per panel, made without any training data, so it works on a fresh install.

Three blocks, each made unit-length, weighted, concatenated, and the whole L2-normalised:

=========  ====  ========================================================================
block      dims  from
=========  ====  ========================================================================
image      176   EfficientNet-Lite0 crop features (1280): centred on the activation mean that
                 the network's own last BatchNorm implies (``_bn1``: gamma, beta -> the mean
                 of ReLU6 of N(beta, gamma^2)), L2-normalised, projected by a fixed orthonormal
                 1280x176 matrix (``numpy.random.RandomState(20240611)`` normals, QR, signs
                 fixed so the diagonal of R is positive).
text       64    MiniLM panel-text embedding (384, unit or all-zero), projected the same way
                 (its own fixed seed); all-zero when the panel has no text.
layout     16    the 7 composition features ``[w/h, area ratio, 0, 0, 0, cx, cy]``
                 (shared/fixtures/checkpoints/README.md), encoded as soft bins: log2(w/h) on
                 5 Gaussian bins, sqrt(area ratio) on 3, cx and cy on 4 each.
=========  ====  ========================================================================

With unit blocks and weights ``w`` (squares summing to 1), the cosine of two embeddings is the
weighted mix of the block cosines, ``w_img^2 cos_img + w_txt^2 cos_txt + w_lay^2 cos_lay``, divided
by the norms when a panel has no text. Defaults (``docs/features.md`` has the measurement):
``w_img^2 = 0.70, w_txt^2 = 0.20, w_lay^2 = 0.10``.

Why no PCA: a projection fitted on the only data that may be bundled (synthetic pages and five
160-pixel public-domain pages) retrieved real panels worse than a random orthonormal projection,
and the centring from the BatchNorm statistics beat no centring at every seed tried.

Changing anything here changes the stored vectors: bump :data:`VERSION` (the cache records it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

VERSION = "standard-panel-v1"
IMAGE_DIM = 1280
TEXT_DIM = 384
COMP_DIM = 7
IMAGE_OUT = 176
TEXT_OUT = 64
LAYOUT_OUT = 16
DIM = IMAGE_OUT + TEXT_OUT + LAYOUT_OUT  # 256
IMAGE_SEED = 20240611
TEXT_SEED = 20240612

_ASPECT_CENTRES = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])  # log2(w/h)
_ASPECT_WIDTH = 0.75
_AREA_CENTRES = np.array([0.2, 0.5, 0.8])  # sqrt(area ratio)
_AREA_WIDTH = 0.2
_POS_CENTRES = np.array([0.125, 0.375, 0.625, 0.875])  # cx, cy
_POS_WIDTH = 0.2


@dataclass(frozen=True)
class PanelEmbedConfig:
    image_weight: float = math.sqrt(0.70)
    text_weight: float = math.sqrt(0.20)
    layout_weight: float = math.sqrt(0.10)
    center_image: bool = True

    def describe(self) -> dict:
        """What the cache records next to ``panel_emb``."""
        return {
            "version": VERSION,
            "dims": DIM,
            "blocks": {"image": IMAGE_OUT, "text": TEXT_OUT, "layout": LAYOUT_OUT},
            "weights_squared": {
                "image": round(self.image_weight**2, 4),
                "text": round(self.text_weight**2, 4),
                "layout": round(self.layout_weight**2, 4),
            },
            "image_seed": IMAGE_SEED,
            "text_seed": TEXT_SEED,
            "center_image": self.center_image,
            "dtype": "float16",
        }


def composition_features(box: Sequence[float], page_size: Sequence[int]) -> np.ndarray:
    """The 7 composition features of a panel ``[x, y, w, h]`` on a ``(pw, ph)`` page (float32).

    ``[w/h (1 if h <= 0), w*h/(pw*ph), 0, 0, 0, (x + w/2)/pw, (y + h/2)/ph]``, from the original box.
    """
    x, y, w, h = (float(v) for v in box)
    pw, ph = (float(v) for v in page_size)
    return np.array(
        [w / h if h > 0 else 1.0, w * h / (pw * ph), 0.0, 0.0, 0.0, (x + w / 2) / pw, (y + h / 2) / ph],
        dtype=np.float32,
    )


@lru_cache(maxsize=4)
def _projection(n_in: int, n_out: int, seed: int) -> np.ndarray:
    """A fixed (n_in, n_out) matrix with orthonormal columns; the same on every machine.

    RandomState's normal stream is frozen by numpy's compatibility policy; the QR signs are
    normalised so LAPACK's conventions cannot flip a column.
    """
    a = np.random.RandomState(seed).standard_normal((n_in, n_out))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))[None, :]
    return q.astype(np.float32)


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def relu6_gaussian_mean(gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """E[clip(z, 0, 6)] for z ~ N(beta, gamma^2), per channel.

    After BatchNorm, a channel is distributed (on the training data) with mean beta and standard
    deviation |gamma|; the pooled ReLU6 activation then averages to this value.
    """
    mu = np.asarray(beta, dtype=np.float64)
    s = np.maximum(np.abs(np.asarray(gamma, dtype=np.float64)), 1e-8)
    a0 = (0.0 - mu) / s
    a6 = (6.0 - mu) / s
    p0, p6 = _norm_cdf(a0), _norm_cdf(a6)
    return mu * (p6 - p0) + s * (_norm_pdf(a0) - _norm_pdf(a6)) + 6.0 * (1.0 - p6)


@lru_cache(maxsize=1)
def image_center() -> np.ndarray:
    """The 1280 expected EfficientNet-Lite0 features implied by its final BatchNorm (float32)."""
    import torch

    from comicdesk.ml.efficientnet import weights_path

    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    gamma = state["_bn1.weight"].double().numpy()
    beta = state["_bn1.bias"].double().numpy()
    return relu6_gaussian_mean(gamma, beta).astype(np.float32)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(n > 1e-12, x / np.maximum(n, 1e-12), 0.0)


def _soft_bins(values: np.ndarray, centres: np.ndarray, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((values[:, None] - centres[None, :]) / width) ** 2)


def layout_block(comp: np.ndarray) -> np.ndarray:
    """(N, 7) composition features -> (N, 16) soft-binned layout code (not normalised)."""
    comp = np.asarray(comp, dtype=np.float64).reshape(-1, COMP_DIM)
    aspect = np.log2(np.clip(comp[:, 0], 1e-3, 1e3))
    area = np.sqrt(np.clip(comp[:, 1], 0.0, 1.0))
    cx = np.clip(comp[:, 5], 0.0, 1.0)
    cy = np.clip(comp[:, 6], 0.0, 1.0)
    return np.concatenate(
        [
            _soft_bins(aspect, _ASPECT_CENTRES, _ASPECT_WIDTH),
            _soft_bins(area, _AREA_CENTRES, _AREA_WIDTH),
            _soft_bins(cx, _POS_CENTRES, _POS_WIDTH),
            _soft_bins(cy, _POS_CENTRES, _POS_WIDTH),
        ],
        axis=1,
    )


def embed_panels(
    image_features: np.ndarray,
    text_embeddings: np.ndarray | None,
    composition: np.ndarray,
    config: PanelEmbedConfig | None = None,
    center: np.ndarray | None = None,
) -> np.ndarray:
    """(M, 256) float16 unit rows, one per panel.

    ``image_features``: (M, 1280) raw EfficientNet crop features. ``text_embeddings``: (M, 384)
    MiniLM rows (all-zero rows, or ``None`` for all, mean "no text"). ``composition``: (M, 7) from
    :func:`composition_features`. ``center``: override of :func:`image_center` (tests).
    """
    cfg = config or PanelEmbedConfig()
    f = np.asarray(image_features, dtype=np.float32)
    if f.ndim != 2 or f.shape[1] != IMAGE_DIM:
        raise ValueError(f"image features must be (M, {IMAGE_DIM}), got {f.shape}")
    m = f.shape[0]
    if text_embeddings is None:
        t = np.zeros((m, TEXT_DIM), dtype=np.float32)
    else:
        t = np.asarray(text_embeddings, dtype=np.float32)
        if t.shape != (m, TEXT_DIM):
            raise ValueError(f"text embeddings must be ({m}, {TEXT_DIM}), got {t.shape}")
    c = np.asarray(composition, dtype=np.float32).reshape(-1, COMP_DIM)
    if c.shape[0] != m:
        raise ValueError(f"{c.shape[0]} composition rows for {m} panels")
    if m == 0:
        return np.zeros((0, DIM), dtype=np.float16)

    if cfg.center_image:
        f = f - (image_center() if center is None else np.asarray(center, dtype=np.float32))
    img = _unit_rows(_unit_rows(f) @ _projection(IMAGE_DIM, IMAGE_OUT, IMAGE_SEED))
    txt = _unit_rows(_unit_rows(t) @ _projection(TEXT_DIM, TEXT_OUT, TEXT_SEED))
    lay = _unit_rows(layout_block(c))
    out = np.concatenate(
        [cfg.image_weight * img, cfg.text_weight * txt, cfg.layout_weight * lay], axis=1
    )
    return _unit_rows(out).astype(np.float16)


def with_text(
    embeddings: np.ndarray,
    text_embeddings: np.ndarray | None,
    config: PanelEmbedConfig | None = None,
) -> np.ndarray:
    """Stored embeddings with their text block replaced (pass 2, once the panels' text is read).

    The image and layout blocks are taken back from the stored rows (each block is a unit vector
    times its weight before the final normalisation, so its direction survives it) and recombined
    with the new text as :func:`embed_panels` would: the same result, to float16 precision,
    without the crops' image features, which are not stored. Rows of ``text_embeddings`` that are
    all zero mean "no text".
    """
    cfg = config or PanelEmbedConfig()
    e = np.asarray(embeddings, dtype=np.float32)
    if e.ndim != 2 or e.shape[1] != DIM:
        raise ValueError(f"embeddings must be (M, {DIM}), got {e.shape}")
    m = e.shape[0]
    if m == 0:
        return np.zeros((0, DIM), dtype=np.float16)
    if text_embeddings is None:
        t = np.zeros((m, TEXT_DIM), dtype=np.float32)
    else:
        t = np.asarray(text_embeddings, dtype=np.float32)
        if t.shape != (m, TEXT_DIM):
            raise ValueError(f"text embeddings must be ({m}, {TEXT_DIM}), got {t.shape}")
    img = _unit_rows(e[:, :IMAGE_OUT])
    lay = _unit_rows(e[:, IMAGE_OUT + TEXT_OUT:])
    txt = _unit_rows(_unit_rows(t) @ _projection(TEXT_DIM, TEXT_OUT, TEXT_SEED))
    out = np.concatenate(
        [cfg.image_weight * img, cfg.text_weight * txt, cfg.layout_weight * lay], axis=1
    )
    return _unit_rows(out).astype(np.float16)


def similarity(query: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Cosine similarities of (D,) or (Q, D) query rows against (M, D) stored rows (float32)."""
    q = np.atleast_2d(np.asarray(query, dtype=np.float32))
    return q @ np.asarray(index, dtype=np.float32).T
