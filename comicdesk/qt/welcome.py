"""The welcome screen: open a folder, a Calibre library or a book; the recent list; a drop target."""

from __future__ import annotations

import os

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)


class WelcomeView(QWidget):
    open_folder = Signal()
    open_calibre = Signal()
    open_book = Signal()
    open_recent = Signal(str)

    def __init__(self, icon: QIcon | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        logo = QLabel(self)
        if icon is not None and not icon.isNull():
            logo.setPixmap(icon.pixmap(QSize(96, 96)))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("comicdesk", self)
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 2.2)
        f.setBold(True)
        title.setFont(f)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("Open your comics: a folder of CBZ, CBR, CB7, CBT, PDF, EPUB files or image "
                      "folders, or a Calibre library. Nothing in it is ever changed.\n"
                      "You can also drop a folder or a comic file on this window.", self)
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setStyleSheet("color: palette(placeholder-text);")

        self.b_folder = QPushButton("Open a folder…", self)
        self.b_calibre = QPushButton("Open a Calibre library…", self)
        self.b_book = QPushButton("Open a book…", self)
        self.b_folder.setDefault(True)
        for b in (self.b_folder, self.b_calibre, self.b_book):
            b.setMinimumHeight(36)
            b.setMinimumWidth(200)
        self.b_folder.clicked.connect(self.open_folder.emit)
        self.b_calibre.clicked.connect(self.open_calibre.emit)
        self.b_book.clicked.connect(self.open_book.emit)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.b_folder, self.b_calibre, self.b_book):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.recent_label = QLabel("Recent", self)
        fb = self.recent_label.font()
        fb.setBold(True)
        self.recent_label.setFont(fb)
        self.recent = QListWidget(self)
        self.recent.setMinimumWidth(620)
        self.recent.setMaximumWidth(760)
        self.recent.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.recent.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.recent.itemActivated.connect(self._activated)
        self.recent.itemDoubleClicked.connect(self._activated)

        col = QVBoxLayout()
        col.addStretch(1)
        col.addWidget(logo)
        col.addWidget(title)
        col.addWidget(hint)
        col.addSpacing(18)
        col.addLayout(buttons)
        col.addSpacing(18)
        col.addWidget(self.recent_label, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(self.recent, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addStretch(2)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(col, 4)
        outer.addStretch(1)
        self.set_recent([])

    def set_recent(self, paths: list[str], missing: set[str] | None = None) -> None:
        """``missing``: paths known to be gone (checked off the UI thread)."""
        missing = missing or set()
        self.recent.clear()
        for p in paths:
            name = os.path.basename(p.rstrip(os.sep)) or p
            text = f"{name}  —  {p}" + ("  (not available)" if p in missing else "")
            it = QListWidgetItem(text)
            it.setData(Qt.ItemDataRole.UserRole, p)
            it.setToolTip(p)
            if p in missing:
                it.setForeground(self.palette().placeholderText())
            self.recent.addItem(it)
        self.recent_label.setVisible(bool(paths))
        self.recent.setVisible(bool(paths))
        rows = min(len(paths), 8)
        self.recent.setFixedHeight(max(1, rows) * (self.recent.fontMetrics().height() + 8) + 6)

    def _activated(self, item: QListWidgetItem) -> None:
        self.open_recent.emit(item.data(Qt.ItemDataRole.UserRole))
