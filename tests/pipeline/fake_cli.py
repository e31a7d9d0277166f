"""``python fake_cli.py ARGS``: the comicdesk command line with the fake panel stage (so CLI tests
do not depend on the real detector). FAKE_DELAY=seconds slows each page down."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakes import install_fake_stages  # noqa: E402

install_fake_stages(delay=float(os.environ.get("FAKE_DELAY", "0")))

from comicdesk.cli import main  # noqa: E402

raise SystemExit(main(sys.argv[1:]))
