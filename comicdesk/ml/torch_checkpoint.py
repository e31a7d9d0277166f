"""Reading PyTorch checkpoint files for the seeds' models, with one clear line when a file is wrong.

Shared by :mod:`comicdesk.ml.cosmo` and :mod:`comicdesk.ml.panel_encoder`. Everything here imports
torch lazily, so importing this module is cheap; only the two model modules need torch at import.

What a checkpoint may be (see ``shared/fixtures/checkpoints/README.md``):

- a raw ``state_dict`` (``torch.save(model.state_dict(), ...)``, what both seeds' training scripts
  save as ``best_*.pt``), or a training checkpoint wrapping it as ``{'model_state_dict': ...}``;
- keys may carry a ``module.`` (DataParallel) or ``_orig_mod.`` (``torch.compile``) prefix on every
  key: it is stripped;
- non-persistent buffers saved by older transformers (``embeddings.position_ids``,
  ``embeddings.token_type_ids``) are dropped;
- floating-point tensors stored in another precision (an fp16 upload) are cast to the model's
  float32; any other difference of dtype or shape is an error.

Loading is always ``torch.load(..., weights_only=True)`` and ``strict`` key matching.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comicdesk.core.errors import ComicdeskError

if TYPE_CHECKING:  # pragma: no cover
    import torch

COSMO_V4 = "CoSMo v4 page classifier (BookBERTMultimodal2)"
PANEL_ENCODER_V1 = "comic-panel-encoder-v1 (PanelFeatureExtractor)"

#: How many key names an error message lists before it says "and N more".
_SHOWN = 3
#: Buffers that transformers once saved and no longer does (non-persistent since ~4.31).
_LEGACY_BUFFER_SUFFIXES = ("embeddings.position_ids", "embeddings.token_type_ids")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(ComicdeskError):
    """A model checkpoint file cannot be used; ``str()`` says why in one line."""

    kind = "bad-checkpoint"


# -- reading the file ------------------------------------------------------------------------------
def _sniff(path: Path, head: bytes) -> None:
    """Raise for content that is certainly not a PyTorch checkpoint; return for zip/pickle files."""
    if not head:
        raise CheckpointError(f"{path} is empty (0 bytes): not a model checkpoint")
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            raise CheckpointError(
                f"{path} is truncated or damaged (its zip directory is missing); download it again"
            ) from None
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            raise CheckpointError(f"{path} is a zip file but not a PyTorch checkpoint")
        return
    if head[:1] == b"\x80":  # a pickle: the legacy (pre-1.6) torch.save format
        return
    if head.startswith(b"version https://git-lfs"):
        raise CheckpointError(
            f"{path} is a Git LFS pointer, not the checkpoint itself; fetch the real file"
        )
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        raise CheckpointError(f"{path} is a web page or XML, not a checkpoint (a failed download?)")
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 0 < n < 100_000_000 and head[8:9] == b"{":
            raise CheckpointError(
                f"{path} is a safetensors file; this model loads the PyTorch .pt checkpoint"
            )
    raise CheckpointError(f"{path} is not a PyTorch checkpoint (unrecognised content)")


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def read_state_dict(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped and with legacy buffers left in.

    Raises :class:`CheckpointError` (one line) for a missing, empty, truncated, foreign or unsafe
    file, or one that does not hold a ``{name: tensor}`` mapping.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give the checkpoint file (.pt) inside it")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    _sniff(path, head)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "weights_only" in str(exc).lower():
            raise CheckpointError(
                f"{path} holds Python objects besides tensors; refusing to load it (weights only)"
            ) from None
        raise CheckpointError(f"{path} is damaged: {_first_line(exc)}") from None
    except (EOFError, zipfile.BadZipFile):
        raise CheckpointError(f"{path} is truncated or damaged; download it again") from None
    except RuntimeError as exc:
        msg = str(exc)
        if "central directory" in msg or "zip archive" in msg or "file not found" in msg.lower():
            raise CheckpointError(f"{path} is truncated or damaged; download it again") from None
        raise CheckpointError(f"{path} could not be read: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - any other failure of a foreign file is one line too
        raise CheckpointError(f"{path} could not be read: {_first_line(exc)}") from None
    return unwrap_state_dict(obj, path)


def unwrap_state_dict(obj: Any, path: str | os.PathLike = "checkpoint") -> dict[str, torch.Tensor]:
    """``obj`` itself or its ``'model_state_dict'``, checked to be ``{str: Tensor}``, with a
    ``module.`` / ``_orig_mod.`` prefix shared by every key removed."""
    import torch

    if isinstance(obj, Mapping) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a model state_dict")
    if not obj:
        raise CheckpointError(f"{path} holds an empty state_dict")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        keys = ", ".join(repr(k) for k in list(obj)[:6])
        raise CheckpointError(
            f"{path} is not a model state_dict (entries such as {not_tensors[0]!r} are not "
            f"tensors; top-level keys: {keys}); expected the weights or {{'model_state_dict': ...}}"
        )
    sd = {str(k): v for k, v in obj.items()}
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    return sd


def drop_legacy_buffers(sd: dict[str, torch.Tensor], expected: Mapping[str, Any]) -> dict:
    """Without the ``position_ids``/``token_type_ids`` buffers that older transformers saved
    (only those the model does not itself expect)."""
    return {k: v for k, v in sd.items() if k in expected or not k.endswith(_LEGACY_BUFFER_SUFFIXES)}


# -- telling models apart --------------------------------------------------------------------------
def identify(keys: set[str] | Mapping[str, Any]) -> str | None:
    """A name for the model a state_dict's keys come from, when it is one we know."""
    keys = set(keys)
    starts = {k.split(".", 1)[0] for k in keys}
    if {"bert_encoder", "visual_projection", "textual_projection"} <= starts:
        return COSMO_V4
    if {"vision", "text", "comp", "fusion"} <= starts:
        return PANEL_ENCODER_V1
    if {"input_projection", "transformer_encoder"} & starts:
        return (
            "different CoSMo model (Comic-Analysis src/cosmo/models/book_bert.py, "
            "with input_projection/transformer_encoder)"
        )
    return None


def _examples(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    more = len(keys) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _shape(t: Any) -> str:
    return "[" + ", ".join(str(int(d)) for d in t.shape) + "]"


def check_state_dict(
    sd: dict[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    *,
    what: str,
    path: str | os.PathLike = "checkpoint",
) -> dict[str, torch.Tensor]:
    """``sd`` made ready for a strict ``load_state_dict`` into a model whose own state_dict is
    ``expected`` (real or meta tensors): same keys, same shapes, floats cast to the model's dtype.

    Raises :class:`CheckpointError` naming the other model, a few missing/unexpected keys, or the
    first key of the wrong shape with both shapes.
    """
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    if missing or unexpected:
        other = identify(sd)
        if other is not None and other != what:
            article = "an" if other[0].lower() in "aeiou" else "a"
            raise CheckpointError(f"{path} is {article} {other} checkpoint, not {what}")
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_examples(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_examples(unexpected)})")
        raise CheckpointError(f"{path} does not match {what}: keys " + "; ".join(parts))
    wrong = [k for k in expected if tuple(sd[k].shape) != tuple(expected[k].shape)]
    if wrong:
        k = wrong[0]
        more = f" (and {len(wrong) - 1} more keys)" if len(wrong) > 1 else ""
        raise CheckpointError(
            f"{path} does not match {what}: {k} has shape {_shape(sd[k])}, "
            f"expected {_shape(expected[k])}{more}"
        )
    out = {}
    for k, want in expected.items():
        got = sd[k]
        if got.dtype != want.dtype:
            if got.is_floating_point() and want.is_floating_point():
                got = got.to(want.dtype)
            else:
                raise CheckpointError(
                    f"{path} does not match {what}: {k} is {str(got.dtype).replace('torch.', '')}, "
                    f"expected {str(want.dtype).replace('torch.', '')}"
                )
        out[k] = got
    return out


# -- building the model without wasting time on random initialisation -----------------------------
def _fill_nonpersistent_buffers(model: torch.nn.Module, device: Any) -> bool:
    """Give every non-persistent buffer left on the meta device its value; False when one is not
    a kind we know (the caller then builds the model the slow way)."""
    import torch

    for module in model.modules():
        for name in list(getattr(module, "_non_persistent_buffers_set", ())):
            buf = module._buffers.get(name)
            if buf is None or not buf.is_meta:
                continue
            if name == "position_ids":
                value = torch.arange(buf.shape[-1], dtype=buf.dtype, device=device)
                value = value.expand(buf.shape).clone()
            elif name == "token_type_ids":
                value = torch.zeros(buf.shape, dtype=buf.dtype, device=device)
            else:
                return False
            module._buffers[name] = value
    return not any(t.is_meta for t in model.parameters()) and not any(
        t.is_meta for t in model.buffers()
    )


def build_loaded(
    factory: Callable[[], torch.nn.Module],
    sd: dict[str, torch.Tensor],
    *,
    what: str,
    path: str | os.PathLike = "checkpoint",
) -> torch.nn.Module:
    """``factory()`` with ``sd`` loaded strictly, in eval mode, on the device of ``sd``'s tensors
    (``torch.load``'s ``map_location``), gradients off.

    The model is first built on the meta device (no random initialisation: building the panel
    encoder's SigLIP tower for real takes seconds) and the checkpoint's tensors are assigned to
    it. When a module holds a non-persistent buffer of an unknown kind, the model is built normally
    and the weights copied in instead; the result is the same.
    """
    import torch

    with torch.device("meta"):
        skeleton = factory()
    expected = skeleton.state_dict()
    sd = check_state_dict(drop_legacy_buffers(sd, expected), expected, what=what, path=path)
    # assign=True makes the checkpoint's own tensors the model's parameters
    ready = {k: v.detach().contiguous() for k, v in sd.items()}
    device = next(iter(ready.values())).device
    skeleton.load_state_dict(ready, strict=True, assign=True)
    if _fill_nonpersistent_buffers(skeleton, device):
        model = skeleton
    else:  # pragma: no cover - only with a transformers version that adds other buffers
        model = factory().to(device)
        model.load_state_dict(sd, strict=True)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
