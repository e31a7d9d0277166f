"""Entry point of the standalone bundle (packaging/comicdesk.spec): the same command line."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the analysis runs in a child process of the bundle itself
    from comicdesk.cli import main

    sys.exit(main())
