"""The per-library head: what the person's labels teach on top of the standard classifier.

A small multinomial logistic regression **around** the base classifier (numpy only):

    logits[c] = log p_base[c] + W[c] . z(x) + b[c] + alpha * proto[c]

- ``p_base``: the standard classifier's probabilities (``comicdesk.ml.page_classes``);
- ``z(x)``: a compact vector of the page's cues (:data:`FEATURES`: position, layout, text amount,
  image statistics, repetition, word groups), standardised over the pages the head was fitted on;
- ``proto[c]``: how close the page's image features are to a page the person labelled ``c``
  (EfficientNet features, with the book's mean taken out (blended with a mean real page for short
  books: :data:`CENTRE_PAGES`) and
  L2-normalised; the best cosine over the labelled pages of that class, mapped from
  [:data:`PROTO_FLOOR`, :data:`PROTO_FULL`] to ``[0, 1]``). One shared weight ``alpha`` for all
  classes, so a single label of an ad teaches "pages looking like this are ads" without a weight
  per class to learn.

Training minimises the labelled pages' cross-entropy plus ``l2 / 2 * (|W|^2 + |b|^2 +
(alpha - ALPHA0)^2)``: ``W`` and ``b`` are pulled towards 0, the base classifier unchanged, so with
no labels the head is exactly the identity and with few labels it moves only as far as the labels
insist; ``alpha`` is pulled towards a prior belief :data:`ALPHA0` that look-alikes share a class.
The other pages of the labelled books *anchor* the head (their target is the base classifier's own
answer, weight :data:`ANCHOR` each): people correct errors, and a head fitted to errors alone
would learn that everything is an error. A page that looks like a labelled one is let go of its
anchor in proportion (:data:`FOLLOW`), so look-alikes follow the correction while pages unlike
every labelled page stay where they were. A labelled page is never its own prototype while
training (leave-one-out), so ``alpha`` learns how much *other* similar pages share a class.

Serialised with :meth:`PageHead.to_bytes` (an ``.npz`` with :data:`HEAD_VERSION`).
"""

from __future__ import annotations

import io
from pathlib import Path
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from comicdesk.core.pages import PAGE_CLASSES, STORY_KINDS
from comicdesk.core.signals import PageSignals
from comicdesk.ml import page_classes as pc

HEAD_VERSION = 2
K = len(PAGE_CLASSES)
#: The cues (``page_classes.page_cues``) the head may reweight, plus the relative position.
FEATURES: tuple[str, ...] = (
    "rel_pos", "first", "last", "early", "panels_many", "panel_single", "text_none", "text_some",
    "text_dense", "text_big", "white", "colourful", "repeated", "price", "order", "indicia",
    "credits_words", "letters", "prose",
)
#: Cosines at or below this count as "not alike" for the prototype cue, and at or above
#: :data:`PROTO_FULL` as "alike" (measured on Science Comics #1, centred features: pages of one
#: kind 0.2-0.5 apart, pages of different kinds -0.2-0.3).
PROTO_FLOOR = 0.2
PROTO_FULL = 0.5
#: What is taken out of a book's page vectors is its own mean blended with the mean page of real
#: comics (:data:`IMAGE_MEAN_FILE`) as if that were this many more pages: in a short book the
#: book's mean is mostly the page itself, and taking it all out makes every page unlike the others.
CENTRE_PAGES = 8
#: How far a look-alike of a labelled page is let go of its anchor (0: anchored like any page;
#: 1: a page as alike as :data:`PROTO_FULL` is not anchored at all).
FOLLOW = 1.0
#: Default L2 strength (in units of one labelled page's loss).
L2 = 0.5
#: The per-class bias ``b`` of the classes a story-only reader drops is held this many times more
#: firmly than ``W``: a bias moves every page of the library, and the anchors barely resist
#: raising a class the base gave 1 % (one ad label raised every page's ad probability by up to
#: 0.1 with the bias held like ``W``). A false "ad" loses a story page, a false "story" only
#: leaves an ad in.
B_L2 = 10.0
#: The story kinds' bias is held like ``W``: moving pages between story and first page drops nothing.
STORY_B_L2 = 1.0
#: Prior mean of ``alpha`` (nats at cosine 1): before the labels say otherwise, a page that looks
#: just like a page the person labelled probably shares its class. ``alpha`` is pulled towards it
#: (not towards 0), so a single label already teaches; with no labels there are no prototypes.
ALPHA0 = 3.0
#: Weight of each unlabelled page of a labelled book, pulled towards the base probabilities.
ANCHOR = 1.0


def feature_matrix(pages: Sequence[PageSignals]) -> np.ndarray:
    """(n, F) raw cue values of a book's pages (0 for a cue with no signal)."""
    out = np.zeros((len(pages), len(FEATURES)))
    for i, p in enumerate(pages):
        cues = pc.page_cues(p) if not p.bad else {}
        cues["rel_pos"] = p.index / max(1, p.n_pages - 1)
        for j, name in enumerate(FEATURES):
            out[i, j] = cues.get(name, 0.0)
    return out


#: The mean EfficientNet page vector of the public-domain real pages (Science Comics #1, Bobby
#: Make-Believe, Whiz #7 p2: 41 pages; written by ``tests/bench/eval_pages.py --write-image-mean``).
IMAGE_MEAN_FILE = Path(__file__).with_name("page_image_mean.npy")


def _load_image_mean() -> np.ndarray | None:
    try:
        return np.load(IMAGE_MEAN_FILE).astype(np.float32)
    except (OSError, ValueError):
        return None


_GLOBAL_MEAN = _load_image_mean()


def book_image_vectors(pages: Sequence[PageSignals]) -> np.ndarray | None:
    """(n, D) page image features centred on the book's mean and L2-normalised (zero rows for
    pages without features); None when no page has any."""
    rows = [np.asarray(p.image_vec, dtype=np.float32).reshape(-1) if p.image_vec is not None else None
            for p in pages]
    have = [r for r in rows if r is not None]
    if not have:
        return None
    dims = have[0].shape[0]
    mean = np.mean(np.stack(have), axis=0)
    g = _GLOBAL_MEAN
    if g is not None and g.shape[0] == dims:
        mean = (len(have) * mean + CENTRE_PAGES * g) / (len(have) + CENTRE_PAGES)
    out = np.zeros((len(pages), dims), dtype=np.float32)
    for i, r in enumerate(rows):
        if r is not None and r.shape[0] == dims:
            v = r - mean
            n = float(np.linalg.norm(v))
            if n > 1e-6:
                out[i] = v / n
    return out


def _log_probs(probs: Sequence[dict[str, float]]) -> np.ndarray:
    a = np.array([[max(float(p.get(c, 0.0)), 1e-6) for c in PAGE_CLASSES] for p in probs])
    return np.log(a / a.sum(1, keepdims=True))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


@dataclass
class LabelledBook:
    """One book's pages, its base probabilities, and the person's labels ``{page index: class}``;
    ``weights`` gives a labelled page a weight other than 1 (labels read from a book's ComicInfo
    count less than the person's own)."""

    pages: list[PageSignals]
    probs: list[dict[str, float]]
    labels: dict[int, str]
    weights: dict[int, float] | None = None


@dataclass
class PageHead:
    W: np.ndarray = field(default_factory=lambda: np.zeros((K, len(FEATURES))))
    b: np.ndarray = field(default_factory=lambda: np.zeros(K))
    alpha: float = 0.0
    mean: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURES)))
    std: np.ndarray = field(default_factory=lambda: np.ones(len(FEATURES)))
    proto_vecs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float16))
    proto_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_labels: int = 0
    l2: float = L2

    @property
    def identity(self) -> bool:
        return self.n_labels == 0

    # -- applying ----------------------------------------------------------------------------
    def proto_matrix(self, vecs: np.ndarray | None, exclude: Sequence[int] | None = None,
                     n: int | None = None) -> np.ndarray:
        """(n, K) prototype cue for ``n`` pages whose centred vectors are ``vecs`` (None: none
        has features; ``exclude[i]``: a prototype row page i must not use, -1 for none)."""
        n = (0 if vecs is None else vecs.shape[0]) if n is None else n
        out = np.zeros((n, K))
        if vecs is None or self.proto_vecs.size == 0 or vecs.shape[1] != self.proto_vecs.shape[1]:
            return out
        sims = vecs @ self.proto_vecs.astype(np.float32).T  # (n, P)
        if exclude is not None:
            for i, j in enumerate(exclude):
                if j >= 0:
                    sims[i, j] = -1.0
        sims = np.clip((sims - PROTO_FLOOR) / (PROTO_FULL - PROTO_FLOOR), 0.0, 1.0)
        for c in range(K):
            cols = self.proto_labels == c
            if cols.any():
                out[:, c] = sims[:, cols].max(1)
        return out

    def logits(self, logp: np.ndarray, feats: np.ndarray, proto: np.ndarray) -> np.ndarray:
        z = (feats - self.mean) / self.std
        return logp + z @ self.W.T + self.b + self.alpha * proto

    def apply(self, pages: Sequence[PageSignals], probs: Sequence[dict[str, float]]) -> list[dict[str, float]]:
        """The book's probabilities with the head applied (the base ones unchanged when the head
        learnt nothing)."""
        if self.identity or not pages:
            return [dict(p) for p in probs]
        logp = _log_probs(probs)
        out = _softmax(self.logits(logp, feature_matrix(pages), self.proto_matrix(book_image_vectors(pages), n=len(pages))))
        return pc.probs_to_dicts(out)

    # -- serialising -------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(
            buf, version=np.array(HEAD_VERSION), classes=np.array(PAGE_CLASSES), features=np.array(FEATURES),
            W=self.W, b=self.b, alpha=np.array(self.alpha), mean=self.mean, std=self.std,
            proto_vecs=self.proto_vecs.astype(np.float16), proto_labels=self.proto_labels,
            n_labels=np.array(self.n_labels), l2=np.array(self.l2))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PageHead:
        """A stored head; ``ValueError`` when it was made by another version (retrain it)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                if int(z["version"]) != HEAD_VERSION or tuple(z["classes"]) != PAGE_CLASSES \
                        or tuple(z["features"]) != FEATURES:
                    raise ValueError("the stored page-class head was made by another version")
                return cls(W=z["W"], b=z["b"], alpha=float(z["alpha"]), mean=z["mean"], std=z["std"],
                           proto_vecs=z["proto_vecs"], proto_labels=z["proto_labels"],
                           n_labels=int(z["n_labels"]), l2=float(z["l2"]))
        except (OSError, KeyError, ValueError, EOFError) as exc:
            if isinstance(exc, ValueError) and "another version" in str(exc):
                raise
            raise ValueError(f"the stored page-class head is unreadable ({exc})") from None


def train_head(books: Sequence[LabelledBook], *, l2: float = L2, anchor: float | None = None,
               iterations: int = 300) -> PageHead:
    """Fit a head on the labelled pages of these books (an identity head when none is labelled).

    The other pages of those books anchor it (weight ``anchor`` each): their target is the base
    classifier's own probabilities, so a change that the labels ask for is kept only where it does
    not also move pages the person left alone — people correct errors, and a head trained on
    errors alone would learn "everything is an error"."""
    anchor = ANCHOR if anchor is None else anchor
    blocks = []  # (logp, feats, proto-exclusion or None, targets, weight) per book, labelled/unlabelled
    ys = []
    protos, proto_y = [], []
    for bk in books:
        idx = sorted(i for i, lab in bk.labels.items() if 0 <= i < len(bk.pages) and lab in pc.IDX)
        if not idx:
            continue
        logp = _log_probs(bk.probs)
        feats = feature_matrix(bk.pages)
        vecs = book_image_vectors(bk.pages)
        rest = [i for i in range(len(bk.pages)) if i not in set(idx) and not bk.pages[i].bad]
        y = [pc.IDX[bk.labels[i]] for i in idx]
        ys += y
        start = len(proto_y)
        for i, c in zip(idx, y):
            if vecs is not None and np.abs(vecs[i]).sum() > 0:
                protos.append(vecs[i])
                proto_y.append(c)
            else:
                protos.append(None)
                proto_y.append(-1)
        w = np.array([float((bk.weights or {}).get(i, 1.0)) for i in idx])
        blocks.append(("lab", logp[idx], feats[idx], vecs[idx] if vecs is not None else None,
                       list(range(start, start + len(idx))), np.eye(K)[y], w))
        if rest and anchor > 0:
            blocks.append(("anchor", logp[rest], feats[rest], vecs[rest] if vecs is not None else None,
                           None, np.exp(logp[rest]), anchor))
    head = PageHead(l2=l2)
    if not ys:
        return head
    dims = next((p.shape[0] for p in protos if p is not None), 0)
    if dims:
        head.proto_vecs = np.stack([p if p is not None else np.zeros(dims, np.float32) for p in protos]).astype(np.float16)
        head.proto_labels = np.asarray(proto_y, dtype=np.int64)
    logp = np.concatenate([b[1] for b in blocks])
    x = np.concatenate([b[2] for b in blocks])
    proto = np.concatenate([
        head.proto_matrix(b[3], exclude=b[4], n=len(b[1])) if dims else np.zeros((len(b[1]), K)) for b in blocks])
    target = np.concatenate([b[5] for b in blocks])
    weight = np.concatenate([np.broadcast_to(np.asarray(b[6], dtype=float), (len(b[1]),)) for b in blocks])
    lab = np.concatenate([np.full(len(b[1]), b[0] == "lab") for b in blocks])
    # an unlabelled page that looks like a labelled one is free to follow it: its anchor weighs
    # less the more alike it is (pages unlike every labelled page stay anchored where they were)
    weight = np.where(lab, weight, weight * (1.0 - FOLLOW * proto.max(1)))
    # standardised over every page the head was fitted on (standardised over the labelled pages
    # alone, a cue on which one label differs from the rest becomes a huge number, and the head
    # learns "this page" instead of "pages like this")
    head.mean = x.mean(0)
    head.std = np.maximum(x.std(0), 0.1)
    z = (x - head.mean) / head.std
    wcol = weight[:, None]
    b_l2 = np.array([STORY_B_L2 if c in STORY_KINDS else B_L2 for c in PAGE_CLASSES])

    def loss_grad(W, b, alpha):
        p = _softmax(logp + z @ W.T + b + alpha * proto)
        loss = -np.sum(weight * np.sum(target * np.log(np.maximum(p, 1e-12)), 1)) + 0.5 * l2 * (
            np.sum(W * W) + np.sum(b_l2 * b * b) + (alpha - ALPHA0) ** 2)
        d = wcol * (p - target)  # (n, K)
        return (loss, d.T @ z + l2 * W, d.sum(0) + l2 * b_l2 * b,
                float(np.sum(d * proto)) + l2 * (alpha - ALPHA0))

    W = np.zeros((K, z.shape[1]))
    b = np.zeros(K)
    alpha = ALPHA0
    step = 1.0 / (weight.sum() + l2 * B_L2)
    loss, gW, gb, ga = loss_grad(W, b, alpha)
    for _ in range(iterations):
        # gradient descent with backtracking (the objective is convex and smooth)
        while True:
            W2, b2, a2 = W - step * gW, b - step * gb, alpha - step * ga
            loss2, gW2, gb2, ga2 = loss_grad(W2, b2, a2)
            sq = np.sum(gW * gW) + np.sum(gb * gb) + ga * ga
            if loss2 <= loss - 0.5 * step * sq or step < 1e-8:
                break
            step *= 0.5
        done = loss - loss2 < 1e-7 * max(1.0, loss)
        W, b, alpha, loss, gW, gb, ga = W2, b2, a2, loss2, gW2, gb2, ga2
        step *= 1.5
        if done:
            break
    head.W, head.b, head.alpha, head.n_labels = W, b, float(alpha), len(ys)
    return head
