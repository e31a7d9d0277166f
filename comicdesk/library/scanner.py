"""Finding books (walking a folder, listing a Calibre library) and reading one book's catalogue
entry. Nothing here writes anywhere; the catalogue writer lives in :mod:`comicdesk.library.service`.

What the folder walk treats as a book:

- a file with a comic-container extension (``.cbz .cbr .cb7 .cbt .zip .rar .7z .tar .pdf .epub``),
  whatever it turns out to be: its *format* is sniffed from its magic bytes, and a file that is
  not a readable comic is reported as a book with an error;
- any other file with an unknown extension (or none) whose magic bytes are a comic container
  (sniffed quietly: if it is not one, it is silently not a book, and remembered as such);
- a *leaf folder of images*: a folder that directly holds at least one page image, no container
  and no sub-folder (sidecar files such as ComicInfo.xml are fine). Loose images next to
  containers or sub-folders (``cover.jpg``, ``folder.jpg``) are not books.

Never books: second and later volumes of a multi-volume RAR (the set is one book, at its first
volume's path); hidden files and folders; OS and NAS litter (``__MACOSX``, ``@eaDir``, ``#recycle``,
``$RECYCLE.BIN``, ...); files whose extension says they are something else (.txt, .xml, .opf, ...).
Folders holding a ``.comicdesk-export`` marker (written by ``comicdesk export``) are never entered,
nor is a Calibre library nested in a folder library (scan it as a library of its own).

Directory symlinks are followed when they lead to a folder inside the walked folder, each real
folder once (so a symlink loop ends at once); a link leading out of it is skipped with a warning
(``ln -s /etc LIB/etc`` must not catalogue /etc). FIFOs, sockets and devices are never opened.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from comicdesk.archive.images import IMAGE_EXTENSIONS
from comicdesk.core.errors import BookError, ComicdeskError, UnsupportedFormat, one_line

EXPORT_MARKER = ".comicdesk-export"
CONTAINER_EXTENSIONS = frozenset(
    {".cbz", ".cbr", ".cb7", ".cbt", ".zip", ".rar", ".7z", ".tar", ".pdf", ".epub"})
#: Extensions that are never comics: not even sniffed.
NOT_BOOK_EXTENSIONS = frozenset({
    ".xml", ".json", ".txt", ".nfo", ".opf", ".md", ".html", ".htm", ".css", ".js", ".db",
    ".sqlite", ".ini", ".log", ".sfv", ".md5", ".sha1", ".par2", ".nzb", ".url", ".lnk", ".yaml",
    ".yml", ".csv", ".py", ".sh", ".bat", ".exe", ".dll", ".mp3", ".mp4", ".mkv", ".avi", ".mov",
    ".doc", ".docx", ".odt", ".rtf", ".mobi", ".azw", ".azw3", ".lit", ".fb2", ".djvu", ".torrent",
    ".part", ".tmp", ".crdownload", ".svg", ".psd", ".xcf", ".ico", ".ds_store", ".lock",
})
JUNK_DIRS = frozenset({"__macosx", "@eadir", "#recycle", "#snapshot", "$recycle.bin",
                       "system volume information", "lost+found", ".trash"})
MAX_DEPTH = 64


@dataclass
class Candidate:
    """A path that is (or may be) a book, with its skip hints."""

    path: str
    kind: str  # "file" | "folder" | "missing" (a Calibre-listed file that is not there)
    size: int | None
    mtime_ns: int | None
    quiet: bool = False  # sniffed only: not a comic → silently not a book
    calibre: dict | None = None  # id, title, series, number, authors, cover_path
    error: str | None = None  # for "missing"


@dataclass
class WalkResult:
    candidates: list[Candidate] = field(default_factory=list)
    #: Folders that could not be listed: books known under them must not be taken as removed.
    unreadable: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _is_hidden_or_junk(name: str) -> bool:
    return name.startswith(".") or name.casefold() in JUNK_DIRS or name.casefold() in ("thumbs.db", "desktop.ini")


def walk_folder(start: Path, *, skip: frozenset[str] = frozenset()) -> WalkResult:
    """Every book candidate under ``start`` (see the module doc). ``skip`` holds resolved folders
    never to enter (the cache and data roots when someone put them inside a library)."""
    from comicdesk.library.calibre import METADATA_DB, is_calibre_library

    out = WalkResult()
    boundary = os.path.realpath(start)  # folder links are followed only within it
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[str, int]] = [(os.fspath(start), 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            st = os.stat(folder)
            ident = (st.st_dev, st.st_ino)
            if ident in visited:
                continue  # a symlink loop, or a folder reached twice through links
            visited.add(ident)
            with os.scandir(folder) as it:
                entries = list(it)
        except FileNotFoundError:
            continue  # vanished while we walked; the root check decides whether we are offline
        except OSError as exc:
            out.unreadable.append(folder)
            out.warnings.append(f"cannot read folder {folder}: {exc.strerror or exc}")
            continue
        names = {e.name for e in entries}
        if EXPORT_MARKER in names:
            continue
        if depth > 0 and METADATA_DB in names and is_calibre_library(Path(folder)):
            out.warnings.append(f"skipped the Calibre library inside this folder ({folder}); "
                                f"scan it on its own")
            continue
        subdirs: list[str] = []
        images: list[os.DirEntry] = []
        containers = 0
        files: list[Candidate] = []
        for entry in entries:
            if _is_hidden_or_junk(entry.name):
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks
                if is_dir:
                    real = os.path.realpath(entry.path)
                    if real in skip:
                        continue
                    if entry.is_symlink() and not _inside(real, boundary):
                        out.warnings.append(f"skipped a folder link leading out of the library: "
                                            f"{entry.path} -> {real}")
                        continue
                    subdirs.append(entry.path)
                    continue
                est = entry.stat()  # follows symlinks: a link to a CBZ is a book at the link's path
            except OSError:
                continue  # a dangling link or an entry that vanished
            if not stat.S_ISREG(est.st_mode):
                continue
            ext = os.path.splitext(entry.name)[1].casefold()
            if ext in IMAGE_EXTENSIONS:
                images.append(entry)
                continue
            if ext in CONTAINER_EXTENSIONS:
                containers += 1
                files.append(Candidate(entry.path, "file", est.st_size, est.st_mtime_ns))
            elif ext not in NOT_BOOK_EXTENSIONS:
                files.append(Candidate(entry.path, "file", est.st_size, est.st_mtime_ns, quiet=True))
        out.candidates.extend(files)
        if images and not subdirs and not containers:
            out.candidates.append(_folder_candidate(folder, st, images))
        if depth < MAX_DEPTH:
            for sub in sorted(subdirs, reverse=True):
                stack.append((sub, depth + 1))
    return out


def _inside(real: str, boundary: str) -> bool:
    return real == boundary or real.startswith(boundary.rstrip(os.sep) + os.sep)


def _folder_candidate(folder: str, st: os.stat_result, images: list[os.DirEntry]) -> Candidate:
    """A folder book's hints: total size of its images, newest mtime of the folder and them."""
    size = 0
    mtime = st.st_mtime_ns
    for e in images:
        try:
            s = e.stat()
        except OSError:
            continue
        size += s.st_size
        mtime = max(mtime, s.st_mtime_ns)
    return Candidate(folder, "folder", size, mtime)


def file_candidate(path: Path) -> Candidate | None:
    """The candidate for one explicitly named path (a book file or an image folder)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        with os.scandir(path) as it:
            images = [e for e in it if not _is_hidden_or_junk(e.name) and e.is_file()
                      and os.path.splitext(e.name)[1].casefold() in IMAGE_EXTENSIONS]
        return _folder_candidate(os.fspath(path), st, images)
    return Candidate(os.fspath(path), "file", st.st_size, st.st_mtime_ns)


def calibre_candidates(lib, scope: Path | None) -> list[Candidate]:
    """One candidate per Calibre book with a comic format (see :mod:`~comicdesk.library.calibre`)."""
    from comicdesk.library.names import format_series_index

    out = []
    for book in lib.books:
        formats = book.comic_formats()
        if not formats:
            continue
        cover = book.cover_path(lib.root)
        info = {"id": book.id, "title": book.title, "series": book.series,
                "number": format_series_index(book.series_index) if book.series else None,
                "authors": list(book.authors), "cover_path": os.fspath(cover) if cover else None}
        chosen = None
        for fmt, name in formats:
            path = book.file_path(lib.root, fmt, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            chosen = Candidate(os.fspath(path), "file", st.st_size, st.st_mtime_ns, calibre=info)
            break
        if chosen is None:
            fmt, name = formats[0]
            path = book.file_path(lib.root, fmt, name)
            listed = ", ".join(f for f, _ in formats)
            chosen = Candidate(os.fspath(path), "missing", None, None, calibre=info,
                               error=f"Calibre lists {listed} but the file is missing: "
                                     f"{path.relative_to(lib.root).as_posix()}")
        if scope is not None and not _within(Path(chosen.path), scope):
            continue
        out.append(chosen)
    return out


def _within(path: Path, scope: Path) -> bool:
    return path == scope or path.is_relative_to(scope)


# -- reading one book (runs in a worker thread or process) -------------------------------------
@dataclass
class Job:
    cand: Candidate
    known_key: str | None = None  # the key recorded at this path: same key → a touch, not a change
    move_ok: bool = False  # a new path: stop after the key when it matches a book that went away
    force_open: bool = False


@dataclass
class PageInfo:
    index: int
    name: str
    bytes: int | None
    width: int | None
    height: int | None
    format: str | None
    bad: bool
    error: str | None


@dataclass
class ReadResult:
    path: str
    kind: str
    size: int | None
    mtime_ns: int | None
    status: str  # "read" | "failed" | "key" (key only) | "ignored"
    content_key: str | None = None
    format: str | None = None
    pages: list[PageInfo] | None = None
    comicinfo: dict | None = None
    error: str | None = None
    error_kind: str | None = None
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None  # why ignored
    calibre: dict | None = None


def _comicinfo_fields(ci) -> dict | None:
    if ci is None:
        return None
    def text(name):
        v = getattr(ci, name, None)
        v = str(v).strip() if v is not None else ""
        return v or None
    writers = text("writer")
    from comicdesk.archive.comicinfo import deleted_from_comicinfo, labels_from_comicinfo

    fields = {"title": text("title"), "series": text("series"), "number": text("number"),
              "authors": [w.strip() for w in writers.split(",") if w.strip()] if writers else []}
    # Explicit page types (labels with source "comicinfo") and pages marked Deleted, so filters
    # over the whole library need not reopen every book. JSON keys are strings.
    page_types = labels_from_comicinfo(ci)
    if page_types:
        fields["page_types"] = {str(i): c for i, c in sorted(page_types.items())}
    deleted = deleted_from_comicinfo(ci)
    if deleted:
        fields["deleted"] = sorted(deleted)
    return fields if any(fields.values()) else None


def _with_comicbookinfo(fields: dict | None, book) -> dict | None:
    """``fields`` (ComicInfo's) with the title, series, number and authors ComicInfo lacks taken
    from the book's ComicBookInfo (the JSON in a CBZ's ZIP comment or a CBR's archive comment),
    when it has one. ComicInfo's values win; page types come from ComicInfo only. A book whose
    comment says ``comicdesk export`` wrote it is recorded ``comicdesk_export: true``, and a typed
    book with archive comments ``false`` (``pipeline.rescore`` need not reopen it)."""
    from comicdesk.archive.comicbookinfo import book_comment, from_book, is_export_comment

    comment = book_comment(book)
    cbi = from_book(book, comment) if comment else None
    out = dict(fields or {})
    if cbi is not None:
        for key, value in cbi.names().items():
            if value and not out.get(key):
                out[key] = value
    if not any(out.values()):
        out = {}
    mine = is_export_comment(comment)
    if mine or (out and hasattr(book.reader, "archive_comment")):
        out["comicdesk_export"] = mine
    return out or None


def read_book(job: Job, move_keys: frozenset[str] | set[str] = frozenset(), limits=None) -> ReadResult:
    """Everything the catalogue records about one book, reading as little as possible: the
    container's listing, ComicInfo.xml and each page's image header (never whole pages).

    Never raises: a failure is a ``"failed"`` result with a one-line reason."""
    from comicdesk.archive import registry
    from comicdesk.archive.base import DEFAULT_LIMITS
    from comicdesk.library import identity

    cand = job.cand
    if cand.kind == "missing":
        return missing_result(cand)
    res = ReadResult(cand.path, cand.kind, cand.size, cand.mtime_ns, "failed", calibre=cand.calibre)
    path = Path(cand.path)
    try:
        st = os.stat(path)
        if cand.kind == "file":  # a folder keeps the walker's hints (they cover its images)
            res.size, res.mtime_ns = st.st_size, st.st_mtime_ns
        if cand.kind == "folder":
            cls = registry.detect(path)
            res.format = cls.format
            reader = cls(path, limits or DEFAULT_LIMITS)
            book = _open(reader)
            try:
                res.content_key = identity.open_folder_key(book)
                if _stop_after_key(job, res, move_keys):
                    return res
                _describe(book, res)
            finally:
                book.close()
            return res
        try:
            cls = registry.detect(path)
        except (UnsupportedFormat, BookError) as exc:
            if cand.quiet and (isinstance(exc, UnsupportedFormat) or st.st_size == 0):
                res.status, res.reason = "ignored", "not a comic book"
                return res
            raise
        res.format = cls.format
        if cls.format == "rar" and registry.is_continuation_volume(path):
            res.status, res.reason = "ignored", "continuation volume of a multi-volume archive"
            return res
        res.content_key = identity.content_key(path)
        if _stop_after_key(job, res, move_keys):
            return res
        book = _open(cls(path, limits or DEFAULT_LIMITS))
        try:
            _describe(book, res)
        finally:
            book.close()
    except ComicdeskError as exc:
        res.status, res.error, res.error_kind = "failed", exc.reason, exc.kind
    except OSError as exc:
        res.status, res.error, res.error_kind = "failed", one_line(exc), "unreadable"
    except Exception as exc:  # noqa: BLE001 - one bad book never stops a scan
        res.status, res.error, res.error_kind = "failed", one_line(exc, "internal error: "), "internal"
    return res


def missing_result(cand: Candidate) -> ReadResult:
    """The result for a book whose file is not there (nothing to read)."""
    return ReadResult(cand.path, cand.kind, None, None, "failed", calibre=cand.calibre,
                      error=cand.error, error_kind="missing")


def _open(reader):
    from comicdesk.archive.book import Book

    try:
        return Book(reader)
    except BaseException:
        reader.close()
        raise


def _stop_after_key(job: Job, res: ReadResult, move_keys) -> bool:
    if job.force_open:
        return False
    if (job.known_key is not None and res.content_key == job.known_key) or \
            (job.move_ok and res.content_key in move_keys):
        res.status = "key"
        return True
    return False


def _describe(book, res: ReadResult) -> None:
    from comicdesk.core.errors import PageError

    res.comicinfo = _with_comicbookinfo(_comicinfo_fields(book.comicinfo()), book)
    pages = []
    for ref in book.pages:
        size = ref.member.size if ref.member.size is not None and ref.member.size >= 0 else None
        try:
            info = book.page_info(ref.index)
            pages.append(PageInfo(ref.index, ref.name, size, info.width, info.height, info.format, False, None))
        except PageError as exc:
            pages.append(PageInfo(ref.index, ref.name, size, None, None, None, True, exc.reason))
        except Exception as exc:  # noqa: BLE001 - the page keeps its slot, marked bad
            pages.append(PageInfo(ref.index, ref.name, size, None, None, None, True,
                                  one_line(exc, "internal error: ")))
    res.pages = pages
    res.warnings = list(book.warnings)
    res.status = "read"


def display_name(path: str, kind: str) -> str:
    """The name the file-name rule parses: the file name without extension, or the folder name."""
    p = PurePosixPath(path.replace(os.sep, "/"))
    return p.name if kind == "folder" else p.stem
