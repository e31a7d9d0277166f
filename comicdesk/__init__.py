"""comicdesk: a desktop comic library browser.

Importing this package is cheap: heavy libraries (torch, fitz, Qt, ...) are imported lazily by
the modules that need them.
"""

__version__ = "0.1.0"
