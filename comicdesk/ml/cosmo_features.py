"""CoSMo v4's page features: SigLIP so400m image features and Qwen3-Embedding text features.

What ``BookBERTMultimodal2`` reads per page (contract: ``shared/fixtures/checkpoints/README.md``,
part A, "Preprocessing"):

- **visual** (1152-d): ``google/siglip-so400m-patch14-384``'s vision tower (``SiglipVisionModel``),
  its ``pooler_output`` (the attention-pooling head). The page is converted to RGB, resized to
  384×384 with PIL bicubic (aspect not kept), scaled by 1/255 and normalised with mean = std = 0.5
  — what ``SiglipImageProcessor`` does; written here with PIL and numpy (:func:`siglip_pixels`).
- **text** (1024-d): ``Qwen/Qwen3-Embedding-0.6B`` over the page text, no prompt, the hidden
  state of the last real token, L2-normalised (the sentence-transformers recipe of that model).
  The seed embedded its VLM's JSON; we embed the page's OCR lines joined by newlines in reading
  order (:func:`page_text`); a page without text gives "" (as the seed's page without JSON).

Both models are read by transformers from a local folder (``local_files_only=True`` always: this
module never reaches the network); :mod:`comicdesk.ml.weights` finds the folders. A folder whose
weights do not cover the model (random initialisation would follow) is refused with one line.

Precision: float16 on a GPU, float32 on CPU, bfloat16 on CPU only when asked (see
``docs/models.md`` for how far it moves the outputs). Outputs are always float32 numpy arrays.
Batches go through :class:`comicdesk.ml.device.Batcher`, so a CUDA out-of-memory error halves the
batch instead of failing the run.

torch and transformers are imported when an encoder is built, never at module import.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from comicdesk.core.errors import ComicdeskError, one_line
from comicdesk.ml.device import Batcher, choose_batch_size, choose_dtype, resolve_device

SIGLIP_SIZE = 384
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)
VISUAL_DIM = 1152
TEXT_DIM = 1024
#: Longest page text in tokens (Qwen3-Embedding's documented limit for this use is 8192; an OCR
#: page is far below it).
MAX_TEXT_TOKENS = 8192


class FeatureModelError(ComicdeskError):
    """A feature model's folder cannot be used; ``str()`` says why in one line."""

    kind = "model-unavailable"


# -- inputs ---------------------------------------------------------------------------------------
def siglip_pixels(image: Any, size: int = SIGLIP_SIZE) -> np.ndarray:
    """(3, size, size) float32 for SigLIP: RGB, PIL bicubic resize to size×size, /255,
    (x − 0.5) / 0.5."""
    from PIL import Image

    rgb = image if image.mode == "RGB" else image.convert("RGB")
    im = rgb.resize((size, size), Image.BICUBIC)
    arr = np.asarray(im, dtype=np.uint8).astype(np.float32) * np.float32(1 / 255)
    arr = (arr - np.asarray(SIGLIP_MEAN, np.float32)) / np.asarray(SIGLIP_STD, np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def page_text(text_lines: Iterable[Mapping[str, Any] | str] | None) -> str:
    """The text CoSMo embeds for a page: its OCR lines' texts, stripped, in the order given
    (reading order), joined by newlines; "" when there are none."""
    if not text_lines:
        return ""
    out = []
    for line in text_lines:
        text = line if isinstance(line, str) else (line.get("text") if isinstance(line, Mapping) else None)
        text = (text or "").strip()
        if text:
            out.append(text)
    return "\n".join(out)


# -- loading --------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_transformers():
    """transformers' loading reports and progress bars off while a model loads (they would land
    on the person's terminal), restored afterwards."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _folder(folder: str | os.PathLike, what: str, needed: Sequence[str]) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise FeatureModelError(f"{what}: model folder not found: {path}")
    missing = [n for n in needed if not (path / n).is_file()]
    if missing:
        raise FeatureModelError(f"{what}: {path} has no {missing[0]} (an incomplete download?)")
    if not any(path.glob("*.safetensors")) and not any(path.glob("pytorch_model*.bin")):
        raise FeatureModelError(f"{what}: {path} holds no weights (model.safetensors)")
    return path


def _from_pretrained(cls: Any, path: Path, what: str, dtype: Any) -> Any:
    try:
        with _quiet_transformers():
            model, info = cls.from_pretrained(os.fspath(path), local_files_only=True, dtype=dtype,
                                              output_loading_info=True)
    except Exception as exc:  # noqa: BLE001 - any loading failure is one line for the person
        raise FeatureModelError(f"{what}: cannot load {path}: {one_line(exc)}") from None
    missing = sorted(info.get("missing_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    if missing or mismatched:
        first = missing[0] if missing else str(mismatched[0])
        raise FeatureModelError(f"{what}: {path} does not hold this model's weights "
                                f"({len(missing)} missing, {len(mismatched)} of the wrong shape, e.g. {first})")
    return model.eval().requires_grad_(False)


class _Encoder:
    what = "model"

    def __init__(self, device: str | None, dtype: str | Any | None, batch_size: int | None,
                 threads: int | None):
        import torch

        from comicdesk.ml.device import set_threads

        self.device = resolve_device(device or "auto")
        self.dtype = dtype if isinstance(dtype, torch.dtype) else choose_dtype(self.device, dtype)
        set_threads(threads)
        self.batcher = Batcher(choose_batch_size(self.device, batch_size, cpu=self._cpu_batch,
                                                 gpu=self._gpu_batch))

    _cpu_batch = 4
    _gpu_batch = 64


class SiglipPageEncoder(_Encoder):
    """Page images → SigLIP ``pooler_output`` vectors (float32, raw).

    ``folder`` holds a Hugging Face SigLIP checkpoint: the full ``SiglipModel`` of
    ``google/siglip-so400m-patch14-384`` (its text tower is ignored) or a vision tower alone.
    """

    what = "SigLIP so400m"
    _cpu_batch = 2
    _gpu_batch = 64

    def __init__(self, folder: str | os.PathLike, *, device: str | None = "cpu",
                 dtype: str | Any | None = None, batch_size: int | None = None,
                 threads: int | None = None):
        super().__init__(device, dtype, batch_size, threads)
        from transformers import SiglipVisionModel

        path = _folder(folder, self.what, ["config.json"])
        self.folder = path
        self.model = _from_pretrained(SiglipVisionModel, path, self.what, self.dtype).to(self.device)
        self.image_size = int(self.model.config.image_size)
        self.dims = int(self.model.config.hidden_size)

    @classmethod
    def from_model(cls, model: Any, *, device: str | None = "cpu", dtype: str | Any | None = None,
                   batch_size: int | None = None) -> SiglipPageEncoder:
        """Around a ``SiglipVisionModel`` already built (benchmarks; nothing is read)."""
        self = cls.__new__(cls)
        _Encoder.__init__(self, device, dtype, batch_size, None)
        self.folder = None
        self.model = model.eval().requires_grad_(False).to(self.device, self.dtype)
        self.image_size = int(model.config.image_size)
        self.dims = int(model.config.hidden_size)
        return self

    def pixels(self, images: Sequence[Any]) -> np.ndarray:
        return np.stack([siglip_pixels(im, self.image_size) for im in images])

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(n, 3, S, S) preprocessed pixels → (n, dims) float32."""
        import torch

        def run(chunk: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(chunk)).to(self.device, self.dtype)
                return self.model(pixel_values=x).pooler_output.float().cpu().numpy()

        if len(pixels) == 0:
            return np.zeros((0, self.dims), np.float32)
        return self.batcher(run, pixels)

    def encode(self, images: Sequence[Any]) -> np.ndarray:
        """Page images (PIL, any mode) → (n, dims) float32 ``pooler_output``."""
        if not images:
            return np.zeros((0, self.dims), np.float32)
        out = []
        # Preprocess one batch at a time: a batch of 384² pages is small, a book of them is not.
        step = max(self.batcher.size, 1)
        for i in range(0, len(images), step):
            out.append(self.encode_pixels(self.pixels(images[i:i + step])))
        return np.concatenate(out)


class QwenTextEncoder(_Encoder):
    """Page texts → Qwen3-Embedding sentence vectors (last real token, L2-normalised, float32).

    ``folder`` holds ``Qwen/Qwen3-Embedding-0.6B`` as Hugging Face files (config, weights and the
    tokenizer). Texts are tokenised as the folder's tokenizer does (it appends the end-of-text
    token), truncated to ``max_tokens``, sorted by length and padded on the left in batches; the
    position ids follow the attention mask, so a text's vector does not depend on its batch.
    """

    what = "Qwen3-Embedding-0.6B"
    _cpu_batch = 8
    _gpu_batch = 64

    def __init__(self, folder: str | os.PathLike, *, device: str | None = "cpu",
                 dtype: str | Any | None = None, batch_size: int | None = None,
                 threads: int | None = None, max_tokens: int = MAX_TEXT_TOKENS):
        super().__init__(device, dtype, batch_size, threads)
        from transformers import AutoModel, AutoTokenizer

        path = _folder(folder, self.what, ["config.json"])
        if not (path / "tokenizer.json").is_file() and not (path / "vocab.json").is_file():
            raise FeatureModelError(f"{self.what}: {path} has no tokenizer.json (an incomplete download?)")
        self.folder = path
        try:
            with _quiet_transformers():
                self.tokenizer = AutoTokenizer.from_pretrained(os.fspath(path), local_files_only=True)
        except Exception as exc:  # noqa: BLE001
            raise FeatureModelError(f"{self.what}: cannot load the tokenizer in {path}: {one_line(exc)}") from None
        self.model = _from_pretrained(AutoModel, path, self.what, self.dtype).to(self.device)
        self._setup(max_tokens)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, device: str | None = "cpu",
                   dtype: str | Any | None = None, batch_size: int | None = None,
                   max_tokens: int = MAX_TEXT_TOKENS) -> QwenTextEncoder:
        """Around a model and tokenizer already built (benchmarks; nothing is read)."""
        self = cls.__new__(cls)
        _Encoder.__init__(self, device, dtype, batch_size, None)
        self.folder = None
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False).to(self.device, self.dtype)
        self._setup(max_tokens)
        return self

    def _setup(self, max_tokens: int) -> None:
        self.dims = int(self.model.config.hidden_size)
        self.max_tokens = int(max_tokens)
        pad = self.tokenizer.pad_token_id
        eos = self.tokenizer.eos_token_id
        self._pad_id = pad if pad is not None else (eos if eos is not None else 0)
        self._empty_id = eos if eos is not None else self._pad_id

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids as the folder's tokenizer makes them (special tokens included),
        truncated to ``max_tokens``. A text with no token at all (a tokenizer that appends
        nothing, given "") becomes the end-of-text token alone."""
        enc = self.tokenizer([t or "" for t in texts], truncation=True, max_length=self.max_tokens,
                             add_special_tokens=True)
        return [list(ids) or [self._empty_id] for ids in enc["input_ids"]]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Texts → (n, dims) float32, unit length."""
        import torch

        if not texts:
            return np.zeros((0, self.dims), np.float32)
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))

        def run(chunk: Sequence[int]) -> np.ndarray:
            rows = [ids[i] for i in chunk]
            width = max(len(r) for r in rows)
            input_ids = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for k, r in enumerate(rows):  # left padding: every text ends at the last column
                input_ids[k, width - len(r):] = torch.tensor(r, dtype=torch.long)
                mask[k, width - len(r):] = 1
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            with torch.inference_mode():
                out = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                 position_ids=positions.to(self.device))
                hidden = out.last_hidden_state[:, -1].float()
                hidden = torch.nn.functional.normalize(hidden, p=2, dim=-1)
                return hidden.cpu().numpy()

        vecs = self.batcher(run, order)
        result = np.empty((len(texts), self.dims), np.float32)
        result[np.asarray(order)] = vecs
        return result


__all__ = [
    "MAX_TEXT_TOKENS",
    "SIGLIP_SIZE",
    "TEXT_DIM",
    "VISUAL_DIM",
    "FeatureModelError",
    "QwenTextEncoder",
    "SiglipPageEncoder",
    "page_text",
    "siglip_pixels",
]
