"""Settings: model profile, device and threads for analysis, the cache location, its size and
clearing it (never the data folder), and where the log file is."""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from comicdesk.qt.bridge import one_line
from comicdesk.qt.prefs import DEVICES, Prefs
from comicdesk.services.cache_tools import cache_size, clear_cache
from comicdesk.services.devices import device_choices

DEVICE_LABELS = {"auto": "Automatic", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (MPS)"}
#: Looking for GPUs imports torch (seconds on a busy machine): on its own thread, never in the way
#: of the app's file work (saving the preferences runs on the io executor).
_DEVICE_LOOKUP: list = []


def _device_lookup():
    if not _DEVICE_LOOKUP:
        from concurrent.futures import ThreadPoolExecutor

        _DEVICE_LOOKUP.append(ThreadPoolExecutor(1, thread_name_prefix="comicdesk-devices"))
    return _DEVICE_LOOKUP[0]


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _devices_answer(dialog: "SettingsDialog", fut) -> None:
    """On the main thread: :func:`device_choices`' answer to the dialog, if it is still open."""
    import shiboken6

    if fut.cancelled() or not shiboken6.isValid(dialog):
        return
    exc = fut.exception()
    if exc is not None:
        dialog.device_note.setText(f"cannot look for GPUs: {one_line(exc)}")
    else:
        dialog._devices_found(fut.result())


class SettingsDialog(QDialog):
    cache_cleared = Signal(object)  # ClearResult

    def __init__(self, prefs: Prefs, settings, bridge, io: Executor, log_file: Path | None,
                 before_clear=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.prefs = prefs
        self.settings = settings
        self.bridge = bridge
        self.io = io
        self.before_clear = before_clear  # called on the main thread before clearing

        self.profile = QComboBox(self)
        self.profile.addItem("Standard (works offline, ships with comicdesk)", "standard")
        self.profile.addItem("CoSMo (larger models, more accurate)", "cosmo")
        self.profile.setCurrentIndex(max(0, self.profile.findData(prefs.profile)))
        self.device = QComboBox(self)
        for d in DEVICES:
            self.device.addItem(DEVICE_LABELS[d], d)
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        # Which devices this computer has is asked off the main thread (torch loads: a second or two)
        self.devices_found: dict[str, bool] | None = None
        self.device_note = QLabel("looking for GPUs…", self)
        self.device_note.setStyleSheet("color: palette(placeholder-text);")
        self.device.currentIndexChanged.connect(lambda _i: self._say_device())
        self.analyse = QCheckBox("Analyse opened libraries in the background (the open book first)", self)
        self.analyse.setChecked(prefs.analyse)
        self.threads = QSpinBox(self)
        self.threads.setRange(0, 64)
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(prefs.threads)

        self.cache_dir = QLineEdit(prefs.cache_dir or "", self)
        self.cache_dir.setPlaceholderText(f"Default: {settings.cache_root}")
        browse = QPushButton("Choose…", self)
        browse.clicked.connect(self._browse)
        cache_row = QHBoxLayout()
        cache_row.addWidget(self.cache_dir, 1)
        cache_row.addWidget(browse)
        self.cache_note = QLabel("A new cache location is used from the next start.", self)
        self.cache_note.setStyleSheet("color: palette(placeholder-text);")

        self.size = QLabel("measuring…", self)
        self.clear = QPushButton("Clear cache", self)
        self.clear.clicked.connect(self._clear)
        size_row = QHBoxLayout()
        size_row.addWidget(self.size, 1)
        size_row.addWidget(self.clear)

        data = QLabel(f"{settings.data_root}\nYour reading positions and page labels live here; "
                      f"clearing the cache never touches them.", self)
        data.setWordWrap(True)
        data.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        logs = QLabel(str(log_file) if log_file else "(logging to a file is off)", self)
        logs.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("Analysis:", self.analyse)
        form.addRow("Model profile:", self.profile)
        form.addRow("Device:", self.device)
        form.addRow("", self.device_note)
        form.addRow("Threads:", self.threads)
        form.addRow("Cache location:", cache_row)
        form.addRow("", self.cache_note)
        form.addRow("Cache size:", size_row)
        form.addRow("Your data:", data)
        form.addRow("Log file:", logs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        self.resize(640, self.sizeHint().height())
        self.measure()
        self._look_for_devices()

    def _look_for_devices(self) -> None:
        """Ask :func:`device_choices` on its own thread; the answer comes back to this dialog if it
        is still open (the window and its bridge may be gone by then: nobody is waiting)."""
        bridge = self.bridge

        def answer(fut) -> None:
            try:
                bridge.call_soon(_devices_answer, self, fut)
            except RuntimeError:  # the bridge was deleted with its window
                pass

        _device_lookup().submit(device_choices).add_done_callback(answer)

    def _devices_found(self, found: dict[str, bool]) -> None:
        """Devices this computer lacks are marked and cannot be chosen (one already chosen stays,
        and the note says analysis will stop on it)."""
        self.devices_found = found
        items = self.device.model()
        for i in range(self.device.count()):
            name = self.device.itemData(i)
            if not found.get(name, True):
                self.device.setItemText(i, f"{DEVICE_LABELS[name]} — not on this computer")
                item = items.item(i) if hasattr(items, "item") else None
                if item is not None and i != self.device.currentIndex():
                    item.setEnabled(False)
        self._say_device()

    def _say_device(self) -> None:
        found = self.devices_found
        if found is None:
            return
        name = self.device.currentData()
        if name == "auto":
            where = "cuda" if found.get("cuda") else "mps" if found.get("mps") else "cpu"
            self.device_note.setText(f"Analysis runs on: {DEVICE_LABELS[where]}")
        elif not found.get(name, True):
            self.device_note.setText(f"{DEVICE_LABELS[name]} is not on this computer: analysis stops with a "
                                     f"message until you choose Automatic or CPU")
        else:
            self.device_note.setText(f"Analysis runs on: {DEVICE_LABELS[name]}")

    def measure(self) -> None:
        root = self.settings.cache_root
        self.bridge.run(self.io, cache_size, root,
                        on_done=lambda n: self.size.setText(f"{human_size(n)} in {root}"),
                        on_error=lambda e: self.size.setText(f"cannot measure: {one_line(e)}"), owner=self)

    def _browse(self) -> None:
        start = self.cache_dir.text() or str(self.settings.cache_root)
        folder = QFileDialog.getExistingDirectory(self, "Cache location", start)
        if folder:
            self.cache_dir.setText(folder)

    def _clear(self) -> None:
        answer = QMessageBox.question(
            self, "Clear the cache?",
            "Thumbnails and catalogues are removed and rebuilt when a library is opened again.\n"
            "Your reading positions and labels are kept.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.clear.setEnabled(False)
        self.size.setText("clearing…")
        if self.before_clear is not None:
            self.before_clear()
        self.bridge.run(self.io, clear_cache, self.settings.cache_root, self.settings.data_root,
                        on_done=self._cleared,
                        on_error=lambda e: self.size.setText(f"cannot clear: {one_line(e)}"), owner=self)

    def _cleared(self, result) -> None:
        self.clear.setEnabled(True)
        self.cache_cleared.emit(result)
        self.measure()
        if result.skipped:
            QMessageBox.information(self, "Cache cleared", "Freed " + human_size(result.freed) +
                                    ".\nLeft alone:\n" + "\n".join(result.skipped[:8]))

    def apply(self, prefs: Prefs) -> bool:
        """Copy the choices into ``prefs``; True when something changed."""
        before = (prefs.profile, prefs.device, prefs.threads, prefs.cache_dir, prefs.analyse)
        prefs.analyse = self.analyse.isChecked()
        prefs.profile = self.profile.currentData()
        prefs.device = self.device.currentData()
        prefs.threads = self.threads.value()
        prefs.cache_dir = self.cache_dir.text().strip() or None
        return before != (prefs.profile, prefs.device, prefs.threads, prefs.cache_dir, prefs.analyse)
