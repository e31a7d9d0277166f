#!/usr/bin/env bash
# Build a standalone comicdesk (no Python needed on the target machine) into dist/comicdesk/.
#   packaging/build-bundle.sh        (after ./setup.sh)
# Then: dist/comicdesk/comicdesk [PATH] runs it; COMICDESK_EXEC="$PWD/dist/comicdesk/comicdesk"
# packaging/install-desktop.sh adds it to the desktop menu. The bundle is for the OS and CPU it is
# built on (build it on each platform you ship).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || ./setup.sh --no-run
.venv/bin/python -m pip install -q --disable-pip-version-check 'pyinstaller>=6.10'
.venv/bin/python -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
  packaging/comicdesk.spec
echo "built dist/comicdesk/ ($(du -sh dist/comicdesk | cut -f1)); try: dist/comicdesk/comicdesk --version"
