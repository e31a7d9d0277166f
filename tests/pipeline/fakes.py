"""Builders for the pipeline tests: small generated books, and fake stages injected in place of
the real models (so these tests do not depend on the panel detector)."""

from __future__ import annotations

import io
import struct
import threading
import time
import zipfile
import zlib
from pathlib import Path

from comicdesk.pipeline.stage import IMAGE, PANELS, StageSpec


def jpeg(w: int = 60, h: int = 90, color=(200, 180, 160), quality: int = 80) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(w: int, h: int, color=(255, 255, 255)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def png_bomb(w: int = 40000, h: int = 40000) -> bytes:
    """A tiny PNG that claims to be gigantic (decoding it is refused)."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""))


def make_cbz(path: Path, pages: list[bytes], names: list[str] | None = None,
             comicinfo: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i, data in enumerate(pages):
            zf.writestr(names[i] if names else f"{i:04d}.jpg", data)
        if comicinfo is not None:
            zf.writestr("ComicInfo.xml", comicinfo)
    return path


def simple_library(root: Path, books: int = 6, pages: int = 4) -> list[Path]:
    """``books`` CBZs of ``pages`` small distinct JPEG pages each."""
    out = []
    for b in range(books):
        out.append(make_cbz(root / f"Book {b:02d}.cbz",
                            [jpeg(60 + b, 90, (b * 30 % 256, i * 40 % 256, 120)) for i in range(pages)]))
    return out


class Recorder:
    """What fake stages saw: (stage, book_id, page) calls, batch sizes, rtl flags, threads."""

    def __init__(self):
        self.calls: list[tuple[str, int, int]] = []
        self.batches: list[int] = []
        self.rtl: dict[tuple[int, int], bool] = {}
        self.ctx = []
        self.priorities: list[int] = []
        self.lock = threading.Lock()

    def pages(self, stage: str) -> list[tuple[int, int]]:
        return [(b, p) for s, b, p in self.calls if s == stage]


def whole_page_stage(version: str = "fake-1", rec: Recorder | None = None, delay: float = 0.0,
                     fail_on=None, batchable: bool = True, name: str = "panels") -> StageSpec:
    """A trivial panel detector: one whole-page panel (two halves for pages wider than tall)."""

    def load(ctx):
        if rec is not None:
            rec.ctx.append(ctx)

        def run(pages):
            import os

            if rec is not None:
                with rec.lock:
                    rec.batches.append(len(pages))
                    try:
                        rec.priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
                    except (AttributeError, OSError):
                        pass
            out = []
            for p in pages:
                if fail_on is not None and fail_on(p):
                    raise RuntimeError(f"cannot cope with page {p.index}")
                if delay:
                    time.sleep(delay)
                if rec is not None:
                    with rec.lock:
                        rec.calls.append((name, p.book_id, p.index))
                        rec.rtl[(p.book_id, p.index)] = p.rtl
                w, h = p.image.size
                if w > h:
                    out.append({PANELS: [(0, 0, w // 2, h), (w // 2, 0, w - w // 2, h)]})
                else:
                    out.append({PANELS: [(0, 0, w, h)]})
            return out

        return run

    return StageSpec(name=name, pass_no=1, needs=(IMAGE,), produces=(PANELS,), load=load,
                     version=version, batchable=batchable, batch_size=8)


def install_fake_stages(delay: float = 0.0) -> None:
    """For CLI subprocesses: the registry holds only :func:`whole_page_stage` as the panel stage
    (the real feature stages load real models: tested on their own)."""
    from comicdesk.pipeline import registry

    for s in registry.stages():
        if s.name != "panels":
            registry.unregister(s.name)
    registry.register(whole_page_stage("fake-cli-1", delay=delay), replace=True)


def embedding_stage(version: str = "emb-1", model_id: str = "fake-emb") -> StageSpec:
    """Page vectors ``[book_id, page, 1, 1]`` (raw) and one normalised vector per panel."""
    import numpy as np

    from comicdesk.pipeline.stage import VectorOutput

    page_vec = VectorOutput(model_id, "page_image", 4, level="page",
                            group_attrs={"model": "fake", "revision": version, "dims": 4})
    panel_vec = VectorOutput(model_id, "panel_emb", 2, level="panel", normalised=True)

    def load(ctx):
        def run(pages):
            return [{page_vec.kind: np.array([p.book_id, p.index, 1, 1], dtype=np.float32),
                     panel_vec.kind: np.array([[1.0, 1.0]] * len(p.outputs[PANELS]))} for p in pages]
        return run

    return StageSpec("emb", 1, (IMAGE, PANELS), (page_vec.kind, panel_vec.kind), load, version,
                     batchable=True, vectors=(page_vec, panel_vec))
