"""The export dialog: cleaned CBZ copies of one book or a selection
(:func:`comicdesk.export.batch.export_books`, as ``comicdesk export`` does).

Which pages: the presets *Story only* and *No ads*, or chosen classes; *mark only* keeps every page
and marks the dropped ones ``Deleted`` in ComicInfo.xml. A page is left out only when its class is
sure (:func:`comicdesk.core.pages.page_drop`); the dialog says how many pages it will keep because
the model is not sure of them (counted from the labels the cache holds, on the export thread) and
offers to leave those out too (``--drop-unsure``). One book goes to a file the person names;
several go into a folder (``<book name>.cbz`` each). Books not analysed yet are analysed first
(the checkbox), as the command line does. The export runs on its own background thread, book by
book; progress (scan, analysis, writing) and the per-book report come back through the bridge.
Cancel stops before the next book (a book being written is finished or rolled back: the exporter
never leaves a partial file). The library is never written to: the exporter refuses an output
inside it, and that refusal is the report's one line.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.core.threads import lower_thread_priority
from comicdesk.qt.bridge import one_line
from comicdesk.qt.models import class_name
from comicdesk.services.threads import EagerThreadPool

log = logging.getLogger("comicdesk.qt")
#: Niceness added to the export thread (and the analysis threads it starts). The person asked for
#: the export and watches its progress: normal priority. Lowered, it gets worse for everyone when
#: other programs keep the cores busy: a thread the OS starves still holds the GIL when it is
#: descheduled, so the UI thread waits for it too (``tests/bench/bench_gui.py --export 2 --busy 2``:
#: at +10 the export took 198 s and the UI's longest gap was 3.5 s; at 0, 28 s and 0.35 s; idle,
#: both 16 s).
EXPORT_NICE = 0

PRESETS = (("story-only", "Story only", "story, first pages and text stories"),
           ("no-ads", "No ads", "every page but advertisements"),
           ("custom", "Chosen classes", ""))


class _Cancelled(Exception):
    pass


class ExportDialog(QDialog):
    """Public state for tests: ``results`` (BookResult per book), ``running``."""

    finished_export = Signal(list)  # [BookResult]

    def __init__(self, books: list, settings, bridge, parent: QWidget | None = None, *,
                 start_dir: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export a cleaned copy")
        self.books = [b for b in books if not getattr(b, "error", None)]
        self.settings = settings
        self.bridge = bridge
        self.results: list = []
        self.running = False
        self._cancel = threading.Event()
        self._executor = EagerThreadPool(max_workers=1, thread_name_prefix="comicdesk-export",
                                            initializer=lower_thread_priority, initargs=(EXPORT_NICE,))
        self._last_event = 0.0

        n = len(self.books)
        names = ", ".join(b.title for b in self.books[:3]) + (f" and {n - 3} more" if n > 3 else "")
        head = QLabel(f"<b>{'1 book' if n == 1 else f'{n} books'}</b>: {names}" if n else
                      "No book to export (damaged books cannot be exported)", self)
        head.setWordWrap(True)

        box = QGroupBox("Pages to keep", self)
        grid = QGridLayout(box)
        self.preset_group = QButtonGroup(self)
        self.presets: dict[str, QRadioButton] = {}
        for row, (key, label, what) in enumerate(PRESETS):
            rb = QRadioButton(label + (f" — {what}" if what else ""), box)
            self.preset_group.addButton(rb)
            self.presets[key] = rb
            grid.addWidget(rb, row, 0, 1, 3)
        self.class_boxes: dict[str, QCheckBox] = {}
        for i, c in enumerate(PAGE_CLASSES):
            cb = QCheckBox(class_name(c), box)
            cb.setChecked(c != "advertisement")
            self.class_boxes[c] = cb
            grid.addWidget(cb, len(PRESETS) + i // 3, i % 3)
        self.presets["story-only"].setChecked(True)
        for rb in self.presets.values():
            rb.toggled.connect(lambda _on: self._update())
        for cb in self.class_boxes.values():
            cb.toggled.connect(lambda _on: self._update())
        self.mark_only = QCheckBox("Keep every page; mark the left-out ones Deleted in ComicInfo.xml (mark only)", self)
        self.mark_only.toggled.connect(lambda _on: self._update())
        # Pages the filter would leave out but the model is not sure of ("ad?"): kept unless asked.
        self.unsure_note = QLabel("", self)
        self.unsure_note.setWordWrap(True)
        self.unsure_note.hide()
        self.drop_unsure = QCheckBox("Leave out those guessed pages too", self)
        self.drop_unsure.hide()
        self.unsure_pages: dict[str, list[int]] | None = None  # the last count, per book path
        self._preview_ticket = 0
        self.analyse = QCheckBox("Analyse books that are not analysed yet (pages without a class are kept)", self)
        self.analyse.setChecked(True)

        out_row = QHBoxLayout()
        self.output = QLineEdit(self)
        base = Path(start_dir or Path.home())
        if n == 1:
            self.output.setText(str(base / f"{_stem(self.books[0])}.cbz"))
            self.output.setPlaceholderText("the .cbz file to write")
        else:
            self.output.setText(str(base / "comicdesk export"))
            self.output.setPlaceholderText("the folder to write into")
        browse = QPushButton("Choose…", self)
        browse.clicked.connect(self._browse)
        out_row.addWidget(QLabel("Save to:", self))
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)

        self.progress = QProgressBar(self)
        self.progress.setRange(0, max(1, n))
        self.progress.setValue(0)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.report = QTreeWidget(self)
        self.report.setHeaderLabels(["Book", "Result", "Pages", "Output or reason"])
        self.report.setRootIsDecorated(False)
        self.report.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.report.setColumnWidth(0, 220)
        self.report.setColumnWidth(1, 90)
        self.report.setColumnWidth(2, 150)
        self.report.hide()

        self.buttons = QDialogButtonBox(self)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._cancel_or_close)

        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addWidget(box)
        lay.addWidget(self.mark_only)
        lay.addWidget(self.unsure_note)
        lay.addWidget(self.drop_unsure)
        lay.addWidget(self.analyse)
        lay.addLayout(out_row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.report, 1)
        lay.addWidget(self.buttons)
        self.resize(640, 520)
        self._update()

    # -- choices ---------------------------------------------------------------------------------
    def preset(self) -> str:
        return next(k for k, rb in self.presets.items() if rb.isChecked())

    def set_preset(self, key: str, classes: list[str] | None = None) -> None:
        self.presets[key].setChecked(True)
        if classes is not None:
            for c, cb in self.class_boxes.items():
                cb.setChecked(c in classes)

    def page_filter(self):
        from comicdesk.services.export import build_filter

        key = self.preset()
        if key == "custom":
            keep = [c for c, cb in self.class_boxes.items() if cb.isChecked()]
            return build_filter(None, ",".join(keep) if keep else None, None) if keep else None
        return build_filter(key)

    def _update(self) -> None:
        custom = self.preset() == "custom"
        for cb in self.class_boxes.values():
            cb.setEnabled(custom and not self.running)
        ok = bool(self.books) and not self.running and (not custom or any(cb.isChecked() for cb in
                                                                            self.class_boxes.values()))
        self.export_button.setEnabled(ok)
        if custom and not any(cb.isChecked() for cb in self.class_boxes.values()):
            self.status.setText("Choose at least one class to keep")
        elif not self.running and not self.results:
            self.status.setText("")
        if not self.running:
            self._count_unsure()

    def _count_unsure(self) -> None:
        """Count, on the export thread, the pages the chosen filter would keep only because the
        model is not sure of them; the note under the choices says it."""
        flt = self.page_filter() if self.books else None
        self._preview_ticket += 1
        ticket = self._preview_ticket
        if flt is None:
            self._show_unsure(None)
            return
        from comicdesk.services.export import preview_unsure

        paths = [b.path for b in self.books]
        self.bridge.run(self._executor, preview_unsure, paths, self.settings, flt, self.mark_only.isChecked(),
                        on_done=lambda found: ticket == self._preview_ticket and self._show_unsure(found),
                        on_error=lambda e: log.info("counting unsure pages failed: %s", one_line(e)),
                        owner=self)

    def _show_unsure(self, found: dict[str, list[int]] | None) -> None:
        self.unsure_pages = found
        n = sum(len(v) for v in (found or {}).values())
        if not n:  # nothing to offer: the option is off
            self.unsure_note.hide()
            self.drop_unsure.hide()
            self.drop_unsure.setChecked(False)
            self.unsure_note.setText("")
            return
        books = sum(1 for v in found.values() if v)
        what = "marked Deleted" if self.mark_only.isChecked() else "left out"
        self.unsure_note.setText(
            f"{n} page{'s' if n != 1 else ''}{f' in {books} books' if books > 1 else ''} will be kept because "
            f"the model is not sure of {'their' if n != 1 else 'its'} class (shown as a guess, e.g. “ad?”); "
            f"only sure pages are {what}.")
        self.unsure_note.show()
        self.drop_unsure.show()

    def _browse(self) -> None:
        if len(self.books) == 1:
            path, _f = QFileDialog.getSaveFileName(self, "Export to", self.output.text(), "Comic book (*.cbz)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into", self.output.text())
        if path:
            self.output.setText(path)

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Export with the dialog's choices (also what the Export button does)."""
        from comicdesk.services.export import ExportOptions

        if self.running or not self.books:
            return
        flt = self.page_filter()
        if flt is None:
            return
        out = self.output.text().strip()
        if not out:
            self.status.setText("Say where to save the export")
            return
        out_path = Path(out).expanduser()  # one book: a .cbz name is the file, anything else a folder
        options = ExportOptions(filter=flt, mark_only=self.mark_only.isChecked(),
                                drop_unsure=self.drop_unsure.isChecked(),
                                analyse=self.analyse.isChecked(), analysis_workers=1,
                                analysis_threads=1, analyse_with=analyse_in_child)
        self.running = True
        self._cancel.clear()
        self.results = []
        self.report.clear()
        self.report.show()
        self.progress.setValue(0)
        self.cancel_button.setText("Stop")
        self.status.setText(f"Exporting ({flt.description}{', mark only' if options.mark_only else ''})…")
        self._update()
        books = [(b.title, b.path) for b in self.books]
        self.bridge.run(self._executor, self._run, books, str(out_path), options,
                        on_done=self._finished, on_error=self._failed, owner=self)

    def _run(self, books, output: str, options) -> list:
        """(export thread) Book by book; per-book problems are results, never exceptions."""
        from comicdesk.core.errors import ComicdeskError
        from comicdesk.services.export import BookResult, export_books

        results = []
        # Several books into one folder: two books of the same name (from different folders)
        # get "Name (2).cbz" rather than one export replacing the other.
        into_folder = len(books) > 1 or not output.lower().endswith(".cbz")
        used: set[str] = set()
        for n, (title, path) in enumerate(books):
            if self._cancel.is_set():
                break
            self.bridge.call_soon(self._book_started, n, title)
            target = output
            if into_folder:
                stem = _path_stem(Path(path))
                name, k = f"{stem}.cbz", 2
                while name.casefold() in used:
                    name, k = f"{stem} ({k}).cbz", k + 1
                used.add(name.casefold())
                target = str(Path(output) / name)
            try:
                summary = export_books(path, target, self.settings, options,
                                       on_event=lambda ev, t=title: self._event(t, ev))
                res = summary.results[0] if summary.results else BookResult(book=path, error="nothing exported")
            except _Cancelled:
                break
            except ComicdeskError as exc:
                res = BookResult(book=path, error=exc.reason)
            except Exception as exc:  # noqa: BLE001 - one bad book never stops the others
                log.exception("export of %s failed", path)
                res = BookResult(book=path, error=one_line(exc))
            results.append(res)
            self.bridge.call_soon(self._book_done, n, title, res)
        return results

    def _event(self, title: str, ev) -> None:
        """(export thread) Progress from the exporter: scanning, analysing, writing."""
        from comicdesk.core.events import AnalysisProgress, Progress

        stage = getattr(ev, "stage", "")
        if self._cancel.is_set() and isinstance(ev, Progress) and stage in ("scan", "export"):
            raise _Cancelled()
        now = time.monotonic()
        if now - self._last_event < 0.1 and stage != "waiting":
            return
        self._last_event = now
        if isinstance(ev, AnalysisProgress):
            text = f"{title}: analysing pages {ev.done}/{ev.total or '?'}"
        elif isinstance(ev, Progress) and stage == "waiting":
            text = f"{title}: {ev.item}"
        elif isinstance(ev, Progress) and stage == "export":
            text = f"{title}: writing"
        elif isinstance(ev, Progress) and stage == "scan":
            text = f"{title}: checking the book"
        else:
            return
        self.bridge.call_soon(self.status.setText, text)

    def _book_started(self, n: int, title: str) -> None:
        self.status.setText(f"{title}…")

    def _book_done(self, n: int, title: str, res) -> None:
        self.results.append(res)
        self.progress.setValue(n + 1)
        if res.status == "failed":
            pages, where = "", res.error or "failed"
        else:
            pages = f"{res.pages_kept} kept, {res.pages_dropped} left out"
            if res.pages_marked:
                pages = f"{res.pages_kept} kept, {res.pages_marked} marked"
            if res.kept_unsure:
                pages += f", {len(res.kept_unsure)} kept unsure"
            where = res.output or ""
        item = QTreeWidgetItem([title, {"written": "written", "up-to-date": "up to date"}.get(res.status, "failed"),
                                pages, where])
        item.setToolTip(3, where)
        if res.status == "failed":
            item.setForeground(1, Qt.GlobalColor.red)
        self.report.addTopLevelItem(item)

    def _finished(self, results: list) -> None:
        self.running = False
        written = sum(1 for r in results if r.status == "written")
        same = sum(1 for r in results if r.status == "up-to-date")
        failed = sum(1 for r in results if r.status == "failed")
        left = len(self.books) - len(results)
        bits = [f"{written} written"]
        if same:
            bits.append(f"{same} up to date")
        if failed:
            bits.append(f"{failed} failed")
        if left:
            bits.append(f"{left} not exported (stopped)")
        unsure = sum(len(r.kept_unsure) for r in results if r.status != "failed")
        if unsure:
            bits.append(f"{unsure} page{'s' if unsure != 1 else ''} kept because not sure")
        self.status.setText("Done: " + ", ".join(bits))
        self.cancel_button.setText("Close")
        self._update()
        self.finished_export.emit(list(results))

    def _failed(self, exc: BaseException) -> None:
        self.running = False
        self.status.setText(f"Export failed: {one_line(exc)}")
        self.cancel_button.setText("Close")
        self._update()
        self.finished_export.emit(list(self.results))

    def _cancel_or_close(self) -> None:
        if self.running:
            self._cancel.set()
            self.status.setText("Stopping after the book being written…")
            return
        self.reject()

    def done(self, result: int) -> None:  # noqa: D401 - QDialog.done: closing the dialog
        if self.running:  # closing while running: stop after the current book, let it finish
            self._cancel.set()
        self._executor.shutdown(wait=False, cancel_futures=False)
        super().done(result)


def analyse_in_child(cache_dir, book_ids, run_options, on_event):
    """(export thread) The analysis an export needs, in a child process as the background
    analysis runs (``comicdesk.services.analysis_child``): in this process its model loading and
    inference held the GIL for up to 310 ms at a time (``bench_gui.py --export``). Where no child
    process can be started, it runs here."""
    import dataclasses

    from comicdesk.services import analysis_child

    try:
        options = {f.name: getattr(run_options, f.name) for f in dataclasses.fields(run_options)}  # shallow
        return analysis_child.run_child(cache_dir, options, on_event,
                                         book_ids=list(book_ids), background=False)
    except OSError as exc:
        log.warning("export analysis in a child process failed to start (%s); running it here", exc)
        from comicdesk.services.analysis import make_runner

        return make_runner(cache_dir, options=run_options, on_event=on_event).run(book_ids)


def _stem(book) -> str:
    p = Path(book.path)
    return p.name if getattr(book, "format", None) == "folder" or not p.suffix else p.stem


def _path_stem(p: Path) -> str:
    return p.name if p.is_dir() or not p.suffix else p.stem
