"""The Jobs panel: what is running in the background (bar, rate, time left), pause/resume/cancel,
and the books that failed with their reasons. Plus the small status-bar indicator."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from comicdesk.qt.jobs import JobFailedBook, JobsController, JobState


class JobsPanel(QWidget):
    def __init__(self, controller: JobsController, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.current: JobState | None = None
        self.title = QLabel("No background work", self)
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(True)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.info = QLabel("", self)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.item = QLabel("", self)
        self.item.setStyleSheet("color: palette(placeholder-text);")
        self.pause = QPushButton("Pause", self)
        self.pause.setCheckable(True)
        self.pause.toggled.connect(self._pause_toggled)
        self.cancel = QPushButton("Cancel", self)
        self.cancel.clicked.connect(self._cancel)
        self.failed_label = QLabel("Books that could not be read", self)
        self.failed = QTreeWidget(self)
        self.failed.setColumnCount(2)
        self.failed.setHeaderLabels(["Book", "Reason"])
        self.failed.setRootIsDecorated(False)
        self.failed.setUniformRowHeights(True)
        self.failed.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.failed.header().setStretchLastSection(True)
        self.failed.setColumnWidth(0, 320)
        self.clear = QPushButton("Clear list", self)
        self.clear.clicked.connect(self._clear_failures)

        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.pause)
        row.addWidget(self.cancel)
        fail_head = QHBoxLayout()
        fail_head.addWidget(self.failed_label)
        fail_head.addStretch(1)
        fail_head.addWidget(self.clear)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.addWidget(self.title)
        lay.addLayout(row)
        lay.addWidget(self.info)
        lay.addWidget(self.item)
        lay.addLayout(fail_head)
        lay.addWidget(self.failed, 1)
        self._set_failed_visible(False)
        self._controls(None)

        controller.changed.connect(self.show_state)
        controller.book_failed.connect(self.add_failure)

    # -- updates ---------------------------------------------------------------------------------
    def show_state(self, state: JobState) -> None:
        if self.current is not None and self.current.id != state.id and self.current.active and not state.active:
            return  # an older job's last word must not hide the running one
        self.current = state
        verb = {"queued": "Waiting to start", "running": "", "paused": "Paused", "waiting": "Waiting",
                "done": "Done", "cancelled": "Cancelled", "failed": "Failed", "offline": "Offline"}[state.status]
        self.title.setText(f"{state.title}{' — ' + verb if verb else ''}")
        if state.total:
            self.bar.setRange(0, state.total)
            self.bar.setValue(min(state.done, state.total))
            self.bar.setFormat("%v / %m")
        elif state.active:
            self.bar.setRange(0, 0)  # busy
        else:
            self.bar.setRange(0, 1)
            self.bar.setValue(1 if state.status == "done" else 0)
            self.bar.setFormat("")
        self.info.setText(state.describe())
        item = os.path.basename(state.item) if state.item and state.status in ("running", "paused") else ""
        self.item.setText(item)
        self._controls(state)

    def _controls(self, state: JobState | None) -> None:
        active = state is not None and state.active
        self.pause.setEnabled(active and state.status != "waiting")
        self.cancel.setEnabled(active)
        self.pause.blockSignals(True)
        self.pause.setChecked(state is not None and state.status == "paused")
        self.pause.setText("Resume" if self.pause.isChecked() else "Pause")
        self.pause.blockSignals(False)

    def add_failure(self, ev: JobFailedBook) -> None:
        path, reason = ev.event.path, ev.event.reason
        for i in range(self.failed.topLevelItemCount()):  # a rescan reports the same book again
            it = self.failed.topLevelItem(i)
            if it.data(0, Qt.ItemDataRole.UserRole) == path:
                it.setText(1, reason)
                return
        it = QTreeWidgetItem([os.path.basename(path), reason])
        it.setData(0, Qt.ItemDataRole.UserRole, path)
        it.setToolTip(0, path)
        it.setToolTip(1, reason)
        self.failed.addTopLevelItem(it)
        self._set_failed_visible(True)

    def failure_count(self) -> int:
        return self.failed.topLevelItemCount()

    def _set_failed_visible(self, on: bool) -> None:
        self.failed_label.setVisible(on)
        self.failed.setVisible(on)
        self.clear.setVisible(on)

    def _clear_failures(self) -> None:
        self.failed.clear()
        self.controller.clear_failures()
        self._set_failed_visible(False)

    # -- control ---------------------------------------------------------------------------------
    def _job(self):
        return self.controller.jobs.get(self.current.id) if self.current else None

    def _pause_toggled(self, on: bool) -> None:
        job = self._job()
        if job is None:
            return
        job.pause() if on else job.resume()
        self.pause.setText("Resume" if on else "Pause")

    def _cancel(self) -> None:
        job = self._job()
        if job is not None:
            job.cancel()
            self.cancel.setEnabled(False)
            self.info.setText("Cancelling…")


class JobsIndicator(QWidget):
    """A small bar and a line in the status bar; clicking it opens the Jobs panel."""

    clicked = Signal()

    def __init__(self, controller: JobsController, parent: QWidget | None = None):
        super().__init__(parent)
        self.bar = QProgressBar(self)
        self.bar.setMaximumWidth(140)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.text = QLabel("", self)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 4, 0)
        lay.addWidget(self.text)
        lay.addWidget(self.bar)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Background work (click for details)")
        self.hide()
        controller.changed.connect(self.show_state)

    def show_state(self, state: JobState) -> None:
        if not state.active:
            self.hide()
            return
        self.show()
        if state.total:
            self.bar.setRange(0, state.total)
            self.bar.setValue(min(state.done, state.total))
        else:
            self.bar.setRange(0, 0)
        label = "Paused" if state.status == "paused" else state.title
        if state.total:
            label += f" {state.done}/{state.total}"
        self.text.setText(label)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.clicked.emit()
        super().mousePressEvent(event)
