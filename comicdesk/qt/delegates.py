"""Painting one grid cell: a cover (or page) thumbnail, a reading-progress bar, and up to two
lines of text. Every cell has the same size, so the view lays out 100k rows without asking the
model anything but the row count."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from comicdesk.core.pages import label_is_sure
from comicdesk.qt.models import (CLASS_LOOK, BadgeRole, ErrorRole, ItemRole, ProgressRole, SubtitleRole,
                                 class_name, item_data)
from comicdesk.qt.thumbnails import display_size

PAD = 8
TEXT_GAP = 4
# Opaque colours only in the per-cell path: Qt's raster engine draws a translucent outline
# twenty times slower (0.4 ms against 0.02 ms per cover, measured).
FRAME = QColor(150, 150, 150)
BAR_BACK = QColor(40, 40, 40)


class CoverDelegate(QStyledItemDelegate):
    def __init__(self, cover: QSize, lines: int = 2, parent=None, *, dim: bool = False):
        super().__init__(parent)
        self.cover = QSize(cover)
        self.lines = lines
        self.dim = dim  # offline library: covers drawn faded

    def cell_size(self, fm: QFontMetrics) -> QSize:
        return QSize(self.cover.width() + 2 * PAD,
                     self.cover.height() + 2 * PAD + TEXT_GAP + self.lines * (fm.height() + 1))

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return self.cell_size(option.fontMetrics)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        try:
            self._paint(painter, option, index)
        finally:
            painter.restore()

    def _paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        pal = option.palette
        r = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if selected or hover:
            c = QColor(pal.color(QPalette.ColorRole.Highlight))
            c.setAlpha(110 if selected else 45)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(c)
            painter.drawRoundedRect(QRectF(r).adjusted(2, 2, -2, -2), 6, 6)

        box = QRect(r.x() + PAD, r.y() + PAD, self.cover.width(), self.cover.height())
        pm = item_data(index, Qt.ItemDataRole.DecorationRole)
        error = item_data(index, ErrorRole)
        if pm is not None and not pm.isNull():
            # The loader made the pixmap at its display size: painting it is a plain copy.
            size = pm.size()
            if size.width() > box.width() or size.height() > box.height():
                size = display_size(size, box.size())
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(box.center())
            target.moveBottom(box.bottom())  # covers stand on one line
            if self.dim:
                painter.setOpacity(0.45)
            if size != pm.size():
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                painter.drawPixmap(target, pm)
            else:
                painter.drawPixmap(target.topLeft(), pm)
            painter.setOpacity(1.0)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            painter.setPen(FRAME)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(0, 0, -1, -1))
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            art = target
        else:
            art = QRect(box.x() + box.width() // 8, box.y() + box.height() // 10,
                        box.width() * 3 // 4, box.height() * 9 // 10)
            art.moveBottom(box.bottom())
            base = _mix(pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Mid), 0.3)
            painter.setPen(QPen(QColor(pal.color(QPalette.ColorRole.Mid)), 1, Qt.PenStyle.DashLine if not error else Qt.PenStyle.SolidLine))
            painter.setBrush(base)
            painter.drawRoundedRect(QRectF(art).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
            badge = item_data(index, BadgeRole) or ""
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            f = QFont(option.font)
            f.setBold(True)
            painter.setFont(f)
            painter.drawText(art, Qt.AlignmentFlag.AlignCenter, "can't read" if error else badge)
        if error:
            dot = QRect(0, 0, 22, 22)
            dot.moveTopRight(art.topRight())
            dot.translate(-4, 4)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(200, 40, 40))
            painter.drawEllipse(dot)
            painter.setPen(QColor("white"))
            f = QFont(option.font)
            f.setBold(True)
            painter.setFont(f)
            painter.drawText(dot, Qt.AlignmentFlag.AlignCenter, "!")

        self.paint_over(painter, option, index, art)

        progress = item_data(index, ProgressRole)
        if progress:
            page, pages = progress
            frac = max(0.0, min(1.0, (page + 1) / pages)) if pages else 0.0
            bar = QRect(art.left(), art.bottom() - 5, art.width(), 6)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(BAR_BACK)
            painter.drawRect(bar)
            done = QRect(bar)
            done.setWidth(max(2, int(bar.width() * frac)))
            painter.setBrush(QColor(pal.color(QPalette.ColorRole.Highlight)))
            painter.drawRect(done)

        fm = option.fontMetrics
        y = box.bottom() + TEXT_GAP + 1
        text_w = r.width() - 2 * PAD + 4
        title = item_data(index, Qt.ItemDataRole.DisplayRole) or ""
        f = QFont(option.font)
        f.setBold(True)
        painter.setFont(f)
        painter.setPen(pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text))
        bold_fm = QFontMetrics(f)
        painter.drawText(QRect(r.x() + PAD - 2, y, text_w, fm.height()),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                         bold_fm.elidedText(title, Qt.TextElideMode.ElideRight, text_w))
        if self.lines > 1:
            sub = item_data(index, SubtitleRole) or ""
            if sub:
                painter.setFont(option.font)
                painter.setPen(pal.color(QPalette.ColorRole.HighlightedText if selected
                                         else QPalette.ColorRole.PlaceholderText))
                painter.drawText(QRect(r.x() + PAD - 2, y + fm.height() + 1, text_w, fm.height()),
                                 Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                                 fm.elidedText(sub, Qt.TextElideMode.ElideRight, text_w))


    def paint_over(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex,
                   art: QRect) -> None:
        """What a subclass draws over the picture (``art``: where it is)."""


class PageDelegate(CoverDelegate):
    """A page thumbnail with its class as a badge: the class colour and name at the top left of
    the picture; the person's own labels get a white outline and a pencil (✎), so they read as
    theirs. The probability is in the tooltip (the model's ``ToolTipRole``)."""

    def __init__(self, cover: QSize, lines: int = 2, parent=None):
        super().__init__(cover, lines, parent)
        self._colours: dict[str, QColor] = {k: QColor(c) for k, (_n, c) in CLASS_LOOK.items()}

    def paint_over(self, painter, option, index, art) -> None:
        page = item_data(index, ItemRole)
        if page is None or not page.label:
            return
        mine = page.source == "user"
        text, unsure = badge_text(page)
        colour = self._colours.get(page.label, QColor(90, 90, 90))
        draw_pill(painter, option.font, art, text,
                  _mix(colour, QColor(120, 120, 120), 0.5) if unsure else colour,
                  QPen(QColor("white"), 1.5) if mine else Qt.PenStyle.NoPen)


def draw_pill(painter, font: QFont, art: QRect, text: str, fill: QColor, outline=Qt.PenStyle.NoPen) -> None:
    """A small rounded label at the top left of a thumbnail (``art``), white bold text on
    ``fill``, elided to the picture's width: a page's class badge, a book's analysis mark."""
    f = QFont(font)
    f.setBold(True)
    f.setPointSizeF(max(6.5, f.pointSizeF() * 0.85))
    fm = QFontMetrics(f)
    w = min(art.width() - 4, fm.horizontalAdvance(text) + 10)
    pill = QRect(art.left() + 3, art.top() + 3, w, fm.height() + 4)
    painter.setFont(f)
    painter.setPen(outline)
    painter.setBrush(fill)
    painter.drawRoundedRect(QRectF(pill).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
    painter.setPen(QColor("white"))
    painter.drawText(pill, Qt.AlignmentFlag.AlignCenter,
                     fm.elidedText(text, Qt.TextElideMode.ElideRight, pill.width() - 6))


def badge_text(page) -> tuple[str, bool]:
    """What a page's class badge says, and whether it is the model's unsure guess ("ad?" on a
    greyed badge): the rule every destructive action uses
    (:func:`comicdesk.core.pages.label_is_sure`, threshold
    :data:`~comicdesk.core.pages.SURE_AT`), so a page shown as a guess is one that export, the
    reader's story-only mode and the Story chip keep. The person's labels get a pencil; ComicInfo's
    and the person's labels are never unsure; a model's label without probabilities is."""
    name = class_name(page.label)
    if page.source == "user":
        return "✎ " + name, False
    unsure = label_is_sure(page.label, page.probs, page.source) is False
    return name + ("?" if unsure else ""), unsure


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` blended towards ``b`` by ``t`` (an opaque colour)."""
    return QColor(round(a.red() + (b.red() - a.red()) * t), round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))
