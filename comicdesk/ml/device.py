"""Where and how models run: device (``auto|cpu|cuda|mps``), dtype and batch size, and a batched
call that survives a CUDA out-of-memory error by halving its batch.

- :func:`resolve_device` turns a preference into a device that exists here (``auto``: CUDA, else
  Apple MPS, else CPU). Asking for a device this machine does not have is one clear line
  (:class:`DeviceError`), never a silent fallback.
- :func:`choose_dtype`: float16 on CUDA and MPS; float32 on CPU unless bfloat16 is asked for and
  the CPU computes it natively (``docs/models.md`` states how far bf16 moves each model's output).
- :func:`pick_cpu_dtype`: float32 or bfloat16 for the standard profile's small CPU models —
  bfloat16 only where the CPU has it natively *and* the model, timed on a sample, runs clearly
  faster (``COMICDESK_CPU_PRECISION=float32|bfloat16|auto`` overrides). The timing costs about
  1.5 s of CPU a process (three models); :func:`remember_cpu_choices` keeps the answers in a file
  (the runner uses ``<cache root>/cpu-precision.json``) so that only the first run on a machine
  pays it.
- :func:`choose_batch_size`: large batches on a GPU, small ones on a CPU (where a batch only
  costs memory and buys little).
- :func:`plan_model` / :func:`plan_for_run`: a standard-profile model's :class:`ModelPlan` for the
  run (device resolved, float16 on a GPU, the run's CPU precision on the CPU, the GPU's or the
  CPU's batch). The plan is made once, when the model loads, from the run's choices only: the run
  fixes each model's device and dtype (docs/models.md, "Choosing the device").
- :class:`Batcher` runs a function over items in batches; on an out-of-memory error (CUDA's, or
  MPS's ``RuntimeError``) it frees the allocator's cache, halves the batch and retries the same
  items; the smaller size is kept for later calls. A batch of one that still does not fit raises
  :class:`DeviceError`.

torch is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from comicdesk.core.errors import ComicdeskError

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
#: Default batch sizes per device kind (items per forward pass).
DEFAULT_BATCH = {"cpu": 4, "cuda": 64, "mps": 16}


class DeviceError(ComicdeskError):
    """The asked-for device or precision cannot be used here; ``str()`` says why in one line."""

    kind = "device"


def resolve_device(preference: str | None = "auto") -> str:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` for a preference of ``auto|cpu|cuda[:N]|mps``
    (None and "" mean auto)."""
    import torch

    pref = (preference or "auto").strip().lower()
    kind = pref.split(":", 1)[0]
    if kind not in DEVICES:
        raise DeviceError(f"unknown device {preference!r}: use one of {', '.join(DEVICES)}")
    if kind == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        return "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            build = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise DeviceError(f"device cuda was asked for but {build}; use --device cpu or auto")
        if ":" in pref:
            try:
                index = int(pref.split(":", 1)[1])
            except ValueError:
                raise DeviceError(f"unknown device {preference!r}: cuda:N takes a GPU number") from None
            if not 0 <= index < torch.cuda.device_count():
                raise DeviceError(f"there is no GPU {index} (this machine has {torch.cuda.device_count()})")
        return pref
    if kind == "mps":
        if not _mps_available():
            raise DeviceError("device mps was asked for but Apple's Metal backend is not available here")
        return "mps"
    return "cpu"


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 / AMX); elsewhere bf16 is emulated
    and slower than float32."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


#: The environment variable :class:`comicdesk.core.settings.Settings` reads at start-up for
#: :func:`pick_cpu_dtype`'s preference (``float32``, ``bfloat16`` or ``auto``); never read here.
CPU_PRECISION_ENV = "COMICDESK_CPU_PRECISION"
#: bfloat16 is chosen only when it runs at least this many times faster than float32.
BF16_MIN_SPEEDUP = 1.25
_picked: dict[str, Any] = {}
_pick_lock = threading.Lock()  # one timing per key: inference workers load their models together
_choices_file: list = [None]  # where auto decisions are remembered between processes
_choices_writer: list = [None]  # how that file is written (the caller's atomic write)


def remember_cpu_choices(path: str | os.PathLike | None,
                         write: Callable[[Any, str], None] | None = None) -> None:
    """Keep :func:`pick_cpu_dtype`'s timed decisions in this JSON file (None: this process only).
    Entries are keyed by the CPU's model name, core count, torch version and thread count, so a
    file copied to another machine, or a new torch, times again. ``write(path, text)`` writes the
    file; the caller gives the project's atomic write (``comicdesk.library.atomic.write_text``:
    ``ml`` does no file replacing of its own); without it the file is only read."""
    from pathlib import Path

    _choices_file[0] = Path(path) if path is not None else None
    _choices_writer[0] = write


def _machine_key(key: str) -> str:
    import platform

    import torch

    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine()
    return f"{key}|{cpu}|{os.cpu_count()} cores|torch {torch.__version__}|{torch.get_num_threads()} threads"


def _read_choices(path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_choice(path, machine_key: str, name: str) -> None:
    """Add one decision through the writer :func:`remember_cpu_choices` was given (atomic). A
    cache that cannot be written only means the next process times again."""
    write = _choices_writer[0]
    if write is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_choices(path)
        data[machine_key] = name
        write(path, json.dumps(data, indent=1, sort_keys=True))
    except OSError:
        pass


def pick_cpu_dtype(run: Callable[[Any], Any], *, key: str, preference: str = "auto",
                   min_speedup: float = BF16_MIN_SPEEDUP) -> Any:
    """The dtype a small model should run in on the CPU: ``preference`` ``float32`` or
    ``bfloat16`` as given (the run's choice: ``$COMICDESK_CPU_PRECISION`` as the settings read it
    at start-up, never read here); ``auto``: bfloat16
    when :func:`cpu_has_bf16` and ``run(dtype)`` (one sample forward pass in that dtype) takes at
    most 1 / ``min_speedup`` of float32's time (thread CPU time, best of three after a warm-up),
    else float32. An ``auto`` decision is kept per ``key`` for the process (timed once, however
    many threads ask together), and in the file :func:`remember_cpu_choices` names."""
    import torch

    pref = (preference or "auto").strip().lower() or "auto"
    name = DTYPES.get(pref, pref)
    if name == "float32":
        return torch.float32
    if name == "bfloat16":
        return torch.bfloat16
    if name != "auto":
        raise DeviceError(f"unknown CPU precision {pref!r} (${CPU_PRECISION_ENV}): use float32, bfloat16 or auto")
    if key in _picked:
        return _picked[key]
    with _pick_lock:
        if key not in _picked:
            _picked[key] = _time_cpu_dtype(run, key, min_speedup)
    return _picked[key]


def _time_cpu_dtype(run: Callable[[Any], Any], key: str, min_speedup: float) -> Any:
    import time

    import torch

    if not cpu_has_bf16():
        return torch.float32
    path = _choices_file[0]
    machine_key = f"{_machine_key(key)}|x{min_speedup:g}" if path is not None else ""
    if path is not None:
        known = _read_choices(path).get(machine_key)
        if known in ("float32", "bfloat16"):
            return getattr(torch, known)

    def best(dtype) -> float:
        run(dtype)  # warm-up: oneDNN builds its kernels on the first call
        times = []
        for _ in range(3):
            t = time.thread_time()
            run(dtype)
            times.append(time.thread_time() - t)
        return min(times)

    with torch.inference_mode():
        fp32 = best(torch.float32)
        try:
            bf16 = best(torch.bfloat16)
        except (RuntimeError, NotImplementedError):  # an operator this build lacks in bf16
            bf16 = math.inf
    chosen = torch.bfloat16 if bf16 * min_speedup <= fp32 else torch.float32
    if path is not None:
        _write_choice(path, machine_key, "bfloat16" if chosen == torch.bfloat16 else "float32")
    return chosen


def choose_dtype(device: str, preference: str | None = None) -> Any:
    """The torch dtype to run a model in: ``preference`` (float32/fp32, float16/fp16,
    bfloat16/bf16) when the device can use it, else float16 on a GPU and float32 on CPU."""
    import torch

    kind = device.split(":", 1)[0]
    if preference:
        name = DTYPES.get(preference.strip().lower())
        if name is None:
            raise DeviceError(f"unknown precision {preference!r}: use float32, float16 or bfloat16")
        if kind == "cpu" and name == "float16":
            raise DeviceError("float16 is for GPUs; on the CPU use float32 or bfloat16")
        if kind == "cpu" and name == "bfloat16" and not cpu_has_bf16():
            raise DeviceError("this CPU has no native bfloat16 (it would be slower than float32); use float32")
        return getattr(torch, name)
    return torch.float16 if kind in ("cuda", "mps") else torch.float32


def choose_batch_size(device: str, preference: int | None = None, *, cpu: int | None = None,
                      gpu: int | None = None) -> int:
    """Items per forward pass: ``preference`` when given (≥ 1), else the model's ``cpu``/``gpu``
    default, else :data:`DEFAULT_BATCH` for the device kind."""
    if preference is not None:
        if int(preference) < 1:
            raise DeviceError(f"batch size must be at least 1, not {preference}")
        return int(preference)
    kind = device.split(":", 1)[0]
    if kind == "cpu":
        return cpu or DEFAULT_BATCH["cpu"]
    return gpu or DEFAULT_BATCH.get(kind, DEFAULT_BATCH["cuda"])


def is_out_of_memory(exc: BaseException) -> bool:
    """A device out-of-memory error: ``torch.cuda.OutOfMemoryError``, or the ``RuntimeError`` MPS
    and older CUDA builds raise ("... out of memory ...")."""
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_cached_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and _mps_available():
        mps.empty_cache()


def _join(parts: list[Any]) -> Any:
    if not parts:
        return []
    first = parts[0]
    try:
        import numpy as np

        if isinstance(first, np.ndarray):
            return np.concatenate(parts)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    if type(first).__module__.startswith("torch"):
        import torch

        return torch.cat(parts)
    out: list[Any] = []
    for p in parts:
        out.extend(p)
    return out


class Batcher:
    """Run ``fn`` over items in batches of at most :attr:`size`, halving the size on an
    out-of-memory error and retrying the same items.

    ``fn(chunk)`` gets a slice of the items and returns one result per item (a list, a numpy array
    or a tensor, concatenated in order). ``on_shrink(old, new)`` hears each halving (to log it).
    """

    def __init__(self, size: int, *, on_shrink: Callable[[int, int], None] | None = None):
        if size < 1:
            raise DeviceError(f"batch size must be at least 1, not {size}")
        self.size = int(size)
        self.on_shrink = on_shrink
        self.shrinks = 0

    def __call__(self, fn: Callable[[Sequence[Any]], Any], items: Sequence[Any]) -> Any:
        parts: list[Any] = []
        start = 0
        n = len(items)
        while start < n:
            chunk = items[start:start + self.size]
            try:
                out = fn(chunk)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                del exc
                free_cached_memory()
                if self.size == 1:
                    raise DeviceError("the model does not fit in the device's memory even one item at "
                                      "a time; use --device cpu or close other GPU programs") from None
                old, self.size = self.size, max(1, self.size // 2)
                self.shrinks += 1
                if self.on_shrink is not None:
                    self.on_shrink(old, self.size)
                continue
            if len(out) != len(chunk):
                raise ValueError(f"a batch of {len(chunk)} gave {len(out)} results")
            parts.append(out)
            start += len(chunk)
        return _join(parts)


def run_batched(fn: Callable[[Sequence[Any]], Any], items: Sequence[Any], batch_size: int,
                **kw: Any) -> Any:
    """One-off :class:`Batcher` call: ``fn`` over ``items`` in batches, halving on out-of-memory."""
    return Batcher(batch_size, **kw)(fn, items)


#: Where a device's name may carry a number (``cuda:1``); the kinds :func:`resolve_device` knows.
GPU_KINDS = ("cuda", "mps")


def device_kind(device: str) -> str:
    """``"cpu"``, ``"cuda"`` or ``"mps"`` for a resolved device (``cuda:1`` is ``cuda``)."""
    return (device or "cpu").split(":", 1)[0]


@dataclass(frozen=True)
class ModelPlan:
    """How one model runs in this run, fixed when the model loads (:func:`plan_model`).

    ``device``: a device torch has here (``cpu``, ``cuda``, ``cuda:N``, ``mps``). ``precision``:
    ``float32``, ``float16`` or ``bfloat16``, or ``auto`` on the CPU (the model times float32
    against bfloat16 once: :func:`pick_cpu_dtype`). ``batch``: items per forward pass, the start
    of the model's :class:`Batcher` (halved on out-of-memory)."""

    device: str
    precision: str
    batch: int

    @property
    def kind(self) -> str:
        return device_kind(self.device)


def plan_model(device: str | None = "auto", *, cpu_batch: int, gpu_batch: int,
               cpu_precision: str | None = "auto", gpu_precision: str | None = None) -> ModelPlan:
    """The plan of a model of the standard profile: the device resolved (:func:`resolve_device`:
    ``auto`` is CUDA, else MPS, else the CPU; a device that is not here raises
    :class:`DeviceError`), float16 on a GPU (``gpu_precision`` overrides), the run's CPU precision
    on the CPU (``float32|bfloat16|auto``: the CPU path as it always was), and ``gpu_batch`` or
    ``cpu_batch`` items per forward pass."""
    resolved = resolve_device(device)
    if device_kind(resolved) == "cpu":
        pref = (cpu_precision or "auto").strip().lower() or "auto"
        name = "auto" if pref == "auto" else DTYPES.get(pref)
        if name not in ("auto", "float32", "bfloat16"):
            raise DeviceError(f"unknown CPU precision {cpu_precision!r} (${CPU_PRECISION_ENV}): use float32, "
                              "bfloat16 or auto")
        return ModelPlan(resolved, name, choose_batch_size(resolved, None, cpu=cpu_batch))
    dtype = choose_dtype(resolved, gpu_precision)
    return ModelPlan(resolved, str(dtype).replace("torch.", ""), choose_batch_size(resolved, None, gpu=gpu_batch))


def plan_for_run(run: Any, *, cpu_batch: int, gpu_batch: int) -> ModelPlan:
    """:func:`plan_model` from a run's choices: anything with ``device`` and ``cpu_precision``
    (a stage's ``StageContext``, which the run options fill from the settings read at start-up)."""
    return plan_model(getattr(run, "device", None) or "auto", cpu_batch=cpu_batch, gpu_batch=gpu_batch,
                      cpu_precision=getattr(run, "cpu_precision", None) or "auto")


def model_dtype(device: str, precision: str | None) -> Any:
    """The torch dtype a model's weights take on ``device`` for a plan's ``precision`` other than
    the CPU's ``auto`` (which the model times itself): on a GPU ``auto``/None is float16. float16
    on the CPU is allowed here (torch computes it, slowly): tests and the equivalence bench use it
    to stand in for a GPU's precision; :func:`plan_model` never chooses it there."""
    import torch

    name = DTYPES.get((precision or "auto").strip().lower())
    if name is None:
        if device_kind(device) == "cpu":
            raise DeviceError(f"a CPU model's precision {precision!r} is float32, bfloat16 or float16 here")
        return choose_dtype(device)
    return getattr(torch, name)


def set_threads(threads: int | None) -> None:
    """Cap torch's intra-op threads (the runner's thread cap); None or < 1 leaves it."""
    if threads is None or threads < 1:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


__all__ = [
    "DEFAULT_BATCH",
    "DEVICES",
    "Batcher",
    "DeviceError",
    "ModelPlan",
    "choose_batch_size",
    "choose_dtype",
    "cpu_has_bf16",
    "device_kind",
    "model_dtype",
    "plan_for_run",
    "plan_model",
    "pick_cpu_dtype",
    "free_cached_memory",
    "is_out_of_memory",
    "resolve_device",
    "run_batched",
    "set_threads",
]
