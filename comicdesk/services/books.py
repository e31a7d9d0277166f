"""One book's pages as a front end reads them (the app's reader and the crops of search hits):
:func:`open_book` gives a :class:`comicdesk.archive.Book` (its pages, their bytes, ComicInfo).
The readers themselves are :mod:`comicdesk.archive`'s; importing this module stays cheap."""

from __future__ import annotations

from pathlib import Path

from comicdesk.core.errors import ComicdeskError


class PanelError(ComicdeskError):
    """A lone image given to ``comicdesk panels`` does not decode."""

    kind = "command"


def open_book(path, *args, **kwargs):
    """:func:`comicdesk.archive.open_book`: the book at ``path``, whatever its container."""
    from comicdesk.archive import open_book as open_archive

    return open_archive(path, *args, **kwargs)


def book_pages(path, settings, note) -> tuple[str, list[dict]]:
    """``comicdesk pages``: the book's format and one row per page, in page order — ``index``,
    ``name``, ``width``/``height`` (None when the page does not decode), ``bytes``, ``bad``, and
    its ``label`` with ``source`` (the person's > ComicInfo's > the model's), ``probs``, ``sure``
    and ``panels`` from the library's cache (None until analysed). ``note(line)`` is told each
    problem met (the book's warnings, a bad page, a cache that cannot be read)."""
    from comicdesk.archive import images
    from comicdesk.core.errors import ComicdeskError
    from comicdesk.core.pages import label_is_sure

    path = Path(path)
    with open_book(path) as book:
        labels = {}
        info = book.comicinfo()
        if info is not None:
            from comicdesk.archive.comicinfo import labels_from_comicinfo

            labels = labels_from_comicinfo(info)
        for warning in book.warnings:
            note(f"{path.name}: {warning}")
        rows = []
        for index, data in book.iter_page_bytes():
            page = book.pages[index]
            row = {"index": index, "name": page.name, "width": None, "height": None,
                   "bytes": page.size if page.size >= 0 else None, "bad": False,
                   "label": labels.get(index), "probs": None,
                   "source": "comicinfo" if index in labels else None, "sure": None, "panels": None}
            if isinstance(data, Exception):
                row["bad"] = True
                note(f"page {index} ({page.name}): {getattr(data, 'reason', data)}")
            else:
                row["bytes"] = len(data)
                try:
                    meta = images.verify(data, book.limits.max_image_pixels)
                    row["width"], row["height"] = meta.width, meta.height
                except ComicdeskError as exc:
                    row["bad"] = True
                    note(f"page {index} ({page.name}): {exc.reason}")
            rows.append(row)
        mine = user_labels(path, book, settings)
        fmt = book.format
    rows.sort(key=lambda r: r["index"])
    for row in rows:  # the person's labels win over ComicInfo's and the model's
        if row["index"] in mine:
            row["label"], row["source"] = mine[row["index"]], "user"
    analysis = cached_analysis(path, settings, note)
    if analysis is not None:
        for row in rows:
            if analysis.panels is not None:
                row["panels"] = analysis.panels.get(row["index"], [])
            out = analysis.outputs.get(row["index"])
            if out is not None:
                row["probs"] = out[2]
                if row["label"] is None and out[1] is not None:
                    row["label"], row["source"] = out[1], "model"
    for row in rows:  # null until classified; the person's and ComicInfo's labels are always sure
        row["sure"] = label_is_sure(row["label"], row["probs"], row["source"])
    return fmt, rows


def user_labels(path, book, settings) -> dict[int, str]:
    """The person's own labels for this open book (its library's data dir; read-only; none when
    the library has no data yet)."""
    from comicdesk.core.errors import ComicdeskError
    from comicdesk.library.identity import book_key
    from comicdesk.library.service import locate_library
    from comicdesk.library.userdata import USER_FILE, UserData

    try:
        target = locate_library(path, settings, register=False)
    except ComicdeskError:
        return {}
    data_dir = settings.library_data_dir(target.id)
    if not (data_dir / USER_FILE).is_file():
        return {}
    with UserData(data_dir, readonly=True) as user:
        return user.labels(book_key(book))


def cached_analysis(path, settings, note):
    """The book's analysis from its library's cache (read-only, no lock), or None (``note`` is
    told when the cache cannot be read)."""
    import sqlite3

    from comicdesk.pipeline.results import read_book_analysis

    try:
        return read_book_analysis(path, settings)
    except (sqlite3.Error, OSError) as exc:
        note(f"comicdesk: the cache could not be read ({exc}); panels left out")
        return None


def special_file_reason(mode: int) -> str | None:
    """:func:`comicdesk.archive.registry.special_file_reason`: why a file of this ``st_mode`` is
    never opened (a FIFO, a device); None for a regular file or a folder."""
    from comicdesk.archive.registry import special_file_reason as reason

    return reason(mode)


def path_refusal(value: str) -> str | None:
    """Why a path the person gave is refused before anything opens it: a symlink loop, or a
    special file (a FIFO would block the first read forever); None otherwise (a missing path is
    left to the command to word)."""
    import errno
    import os

    try:
        st = os.stat(Path(value).expanduser())
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (a link that leads back to itself)"
        return None
    return special_file_reason(st.st_mode)


class PanelRows:
    """``comicdesk panels``: panel detection only (no cache, no catalogue) on a book or a lone
    image (known by its name or its content). Iterating gives one row per page as it is detected —
    ``{"index", "width", "height", "panels": [[x, y, w, h], ...]}``, ``width``/``height``/``panels``
    None for a page that does not decode — and tells ``note(line)`` each problem met (the book's
    warnings, a bad page) and ``progress(Progress("panels", done, total))`` after each page of a
    book. Afterwards :attr:`source` says what was read (``image``, or the book's format and
    ``right to left`` when its ComicInfo or ``rtl`` says so). A lone image that does not decode
    raises :class:`~comicdesk.core.errors.ComicdeskError` before any row."""

    def __init__(self, path, *, rtl: bool = False, note=lambda line: None, progress=lambda event: None):
        self.path, self.rtl, self.note, self.progress = Path(path), bool(rtl), note, progress
        self.source = ""

    def _image_bytes(self) -> bytes | None:
        from comicdesk.archive import images
        from comicdesk.core.errors import PageError

        path = self.path
        if path.is_file() and path.suffix.casefold() in images.IMAGE_EXTENSIONS:
            return path.read_bytes()
        if path.is_file():
            try:  # an image by its content, whatever its name
                with open(path, "rb") as f:
                    images.probe(f.read(256 * 1024))
                return path.read_bytes()
            except (PageError, OSError):
                return None
        return None

    def __iter__(self):
        from comicdesk.archive import images
        from comicdesk.core.errors import PageError
        from comicdesk.core.events import Progress
        from comicdesk.ml.panel_net import detect_panels_refined as detect_panels

        def row(index: int, image, rtl: bool) -> dict:
            found = detect_panels(image, rtl=rtl)
            return {"index": index, "width": image.width, "height": image.height,
                    "panels": [p.as_list() for p in found]}

        path = self.path
        data = self._image_bytes()
        if data is not None:
            try:
                image = images.decode(data)
            except PageError as exc:
                raise PanelError(f"{path.name}: {exc.reason}") from None
            self.source = "image"
            yield row(0, image, self.rtl)
            return
        with open_book(path) as book:
            info = book.comicinfo()
            rtl = self.rtl or bool(info is not None and info.manga_right_to_left)
            self.source = f"{book.format}{', right to left' if rtl else ''}"
            for warning in book.warnings:
                self.note(f"{path.name}: {warning}")
            total = len(book.pages)
            for index in range(total):
                try:
                    image = book.image(index)
                except PageError as exc:
                    self.note(f"page {index} ({book.pages[index].name}): {exc.reason}")
                    yield {"index": index, "width": None, "height": None, "panels": None}
                else:
                    yield row(index, image, rtl)
                self.progress(Progress("panels", index + 1, total))
