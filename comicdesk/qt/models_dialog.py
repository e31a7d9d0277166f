"""The cosmo profile's models: where each one is, and a download the person agrees to first.

Built on :class:`comicdesk.ml.weights.Locator` (explicit path, our models folder, the Hugging Face
cache, else a download with consent). The dialog lists the models (found where, or missing and
about how big), says what a download fetches, from where and into which folder, and starts only
once the person ticks the consent box. The download runs on a background thread; its progress
(file, bytes, rate) comes back through the bridge; *Cancel* stops it at the next chunk — the
partial file is kept and the next download resumes it (the locator's ``.part`` files).
"""

from __future__ import annotations

import logging
import threading
import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from comicdesk.qt.bridge import one_line
from comicdesk.services.threads import EagerThreadPool

log = logging.getLogger("comicdesk.qt")

COSMO_MODELS = ("cosmo-v4", "siglip-so400m", "qwen3-embedding-0.6b", "panel-encoder-v1")


class _Stop(Exception):
    """Raised from the progress callback to stop a download."""


def human_size(n: int | None) -> str:
    from comicdesk.services.models import human_size as hs

    return hs(n)


class ModelsDialog(QDialog):
    """Public state for tests: ``status``, ``rows`` ({name: (found, where)}), ``running``."""

    finished_download = Signal(str)  # "done" | "cancelled" | "failed"
    checked = Signal()  # the models' places were looked up

    def __init__(self, settings, bridge, parent: QWidget | None = None, *, locator=None,
                 names: tuple[str, ...] = COSMO_MODELS):
        super().__init__(parent)
        from comicdesk.services import models

        self.setWindowTitle("Models for the cosmo profile")
        self.bridge = bridge
        # The environment as the settings read it at start-up (Settings.env), as the CLI does.
        self.locator = locator if locator is not None else models.locator(settings)
        self.specs = [models.MODELS[n] for n in names]
        self.rows: dict[str, tuple[bool, str]] = {}
        self.running = False
        self._stop = threading.Event()
        self._executor = EagerThreadPool(max_workers=1, thread_name_prefix="comicdesk-models")
        self._t0 = 0.0
        self._first = 0
        self._file = None
        self._last = 0.0

        intro = QLabel("The <b>cosmo</b> profile classifies pages with CoSMo v4 and finds similar panels "
                       "with comic-panel-encoder-v1. Their weights are not part of comicdesk: they are "
                       "looked for in the models folder and your Hugging Face cache, and otherwise "
                       "downloaded from Hugging Face — only if you agree.", self)
        intro.setWordWrap(True)
        self.table = QTreeWidget(self)
        self.table.setHeaderLabels(["Model", "What", "Size", "Where"])
        self.table.setRootIsDecorated(False)
        self.table.setColumnWidth(0, 190)
        self.table.setColumnWidth(1, 250)
        self.table.setColumnWidth(2, 80)
        self.items: dict[str, QTreeWidgetItem] = {}
        for m in self.specs:
            item = QTreeWidgetItem([m.title, m.what, "~" + human_size(m.approx_bytes), "looking…"])
            item.setToolTip(0, m.page)
            self.items[m.name] = item
            self.table.addTopLevelItem(item)
        self.consent_text = QLabel(self)
        self.consent_text.setWordWrap(True)
        self.consent = QCheckBox("I agree to download these files", self)
        self.consent.setEnabled(False)
        self.consent.toggled.connect(lambda _on: self._update())
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.hide()
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(self)
        self.download_button = self.buttons.addButton("Download", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.download_button.clicked.connect(self.start)
        self.close_button.clicked.connect(self._cancel_or_close)

        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.consent_text)
        lay.addWidget(self.consent)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)
        self.resize(760, 420)
        self._update()
        self.refresh()

    # -- what is there ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Look the models up (on a worker: it reads the disk)."""
        specs, loc = self.specs, self.locator

        def look():
            out = {}
            for m in specs:
                try:
                    found = loc.find(m.name)
                    out[m.name] = (found is not None, f"{found.path} ({found.source})" if found else "missing",
                                   found.size if found else None)
                except Exception as exc:  # noqa: BLE001 - a bad explicit path: shown as its reason
                    out[m.name] = (False, one_line(exc), None)
            return out

        self.bridge.run(self._executor, look, on_done=self._looked, on_error=lambda e: self.status.setText(
            f"Cannot look for the models: {one_line(e)}"), owner=self)

    def _looked(self, found: dict) -> None:
        for name, (ok, where, size) in found.items():
            self.rows[name] = (ok, where)
            item = self.items[name]
            item.setText(3, where if ok else f"not on this computer — {where}" if where != "missing" else
                         "not on this computer")
            if ok and size:
                item.setText(2, human_size(size))
        self._update()
        self.checked.emit()

    def missing(self) -> list:
        return [m for m in self.specs if not self.rows.get(m.name, (False, ""))[0]]

    def _update(self) -> None:
        missing = self.missing() if self.rows else []
        if not self.rows:
            self.consent_text.setText("")
        elif missing:
            total = sum(m.approx_bytes for m in missing)
            src = getattr(self.locator, "endpoint", None) or "https://huggingface.co"
            self.consent_text.setText(
                f"Download {len(missing)} model{'s' if len(missing) != 1 else ''} (about "
                f"<b>{human_size(total)}</b>) from {src} "
                f"({', '.join(m.repo for m in missing)}) into <code>{self.locator.models_dir}</code>. "
                f"A cut download resumes where it stopped.")
        else:
            self.consent_text.setText("Every model is on this computer.")
        self.consent.setEnabled(bool(missing) and not self.running)
        self.download_button.setEnabled(bool(missing) and self.consent.isChecked() and not self.running)

    # -- downloading -----------------------------------------------------------------------------
    def start(self) -> None:
        """Download the missing models (needs the consent box ticked)."""
        missing = self.missing()
        if self.running or not missing or not self.consent.isChecked():
            return
        self.running = True
        self._stop.clear()
        self._file, self._last = None, 0.0
        self.progress.setValue(0)
        self.progress.show()
        self.close_button.setText("Cancel")
        self.status.setText("Starting the download…")
        self._update()
        total = sum(m.approx_bytes for m in missing)
        names = [m.name for m in missing]
        self.bridge.run(self._executor, self._download, names, total,
                        on_done=self._done, on_error=self._error, owner=self)

    def _download(self, names: list[str], total: int) -> str:
        """(worker) One model after another; "done" or "cancelled" (raises WeightsError). The bar
        weighs each model by its size, and moves inside a model by the bytes of the file."""
        from comicdesk.services.models import MODELS

        finished = 0  # approximate bytes of the models already fetched
        for name in names:
            if self._stop.is_set():
                return "cancelled"
            share = MODELS[name].approx_bytes

            def progress(filename: str, done: int, size: int | None, name=name, base=finished,
                         share=share) -> None:
                if self._stop.is_set():
                    raise _Stop()
                now = time.monotonic()
                if now - self._last >= 0.1 or (size is not None and done >= size):
                    self._last = now
                    frac = min(1.0, done / size) if size else 0.0
                    self.bridge.call_soon(self._progress, name, filename, (base + share * frac) / max(1, total),
                                          done, size)

            try:
                self.locator.download(name, consent=True, progress=progress)
            except _Stop:
                return "cancelled"
            except Exception:
                if self._stop.is_set():  # the locator turned our stop into "the download was cut"
                    return "cancelled"
                raise
            finished += share
        return "done"

    def _progress(self, name: str, filename: str, fraction: float, done: int, size: int | None) -> None:
        if not self.running:
            return
        self.progress.setValue(min(1000, int(1000 * fraction)))
        if (name, filename) != self._file:  # the rate is per file
            self._file, self._t0, self._first = (name, filename), time.monotonic(), done
        elapsed = time.monotonic() - self._t0
        rate = f" · {human_size(int((done - self._first) / elapsed))}/s" if elapsed > 0.5 else ""
        of = f" of {human_size(size)}" if size else ""
        self.status.setText(f"{name}: {filename} — {human_size(done)}{of}{rate}")

    def _done(self, outcome: str) -> None:
        self.running = False
        self.close_button.setText("Close")
        if outcome == "cancelled":
            self.status.setText("Cancelled. What was downloaded is kept; the next download resumes it.")
        else:
            self.progress.setValue(1000)
            self.status.setText("Done: the models are ready for the cosmo profile.")
        self._update()
        self.refresh()
        self.finished_download.emit(outcome)

    def _error(self, exc: BaseException) -> None:
        self.running = False
        self.close_button.setText("Close")
        self.status.setText(f"The download failed: {one_line(exc)}")
        self._update()
        self.refresh()
        self.finished_download.emit("failed")

    def cancel(self) -> None:
        if self.running:
            self._stop.set()
            self.status.setText("Cancelling…")

    def _cancel_or_close(self) -> None:
        if self.running:
            self.cancel()
        else:
            self.reject()

    def done(self, result: int) -> None:  # noqa: D401 - QDialog.done: closing the dialog
        self._stop.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        super().done(result)
