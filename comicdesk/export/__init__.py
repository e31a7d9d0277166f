"""Cleaned CBZ export (``comicdesk export``): see ``docs/export.md``.

- :mod:`.filters` — which page classes are kept (presets, ``--keep``/``--drop``);
- :mod:`.writer` — one book → one CBZ: original bytes, ComicInfo.xml, atomic write, verification;
- :mod:`.batch` — a book, a folder or a library → outputs, scan/labels/analysis first, a report.

Importing this package imports no heavy library.
"""

from comicdesk.export.filters import FilterError, PageFilter, build_filter
from comicdesk.export.writer import (
                                     MARKER,
                                     ExportError,
                                     Metadata,
                                     OutputRefused,
                                     PageChoice,
                                     VerifyError,
                                     WriteReport,
                                     write_cbz,
)

__all__ = [
                                     "MARKER",
                                     "ExportError",
                                     "FilterError",
                                     "Metadata",
                                     "OutputRefused",
                                     "PageChoice",
                                     "PageFilter",
                                     "VerifyError",
                                     "WriteReport",
                                     "build_filter",
                                     "write_cbz",
]
