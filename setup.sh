#!/usr/bin/env bash
# Set up everything comicdesk needs on a fresh machine, then run it on the bundled sample library.
#   ./setup.sh            set up and run on resources/sample-library
#   ./setup.sh --no-run   set up only
# System packages are installed only when this runs as root on Debian/Ubuntu (as CI does);
# otherwise the missing ones are listed for you to install.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
RUN=1
[ "${1:-}" = "--no-run" ] && RUN=0

# Debian packages: none are needed by the readers yet (the RAR reader bundles UnRAR, PyMuPDF is a
# wheel). Kept as one list so the Qt/Xvfb libraries join it in one place.
APT_PACKAGES=()
if [ ${#APT_PACKAGES[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "note: consider: sudo apt-get install ${missing[*]}" >&2
    fi
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
# torch is pinned here (not in pyproject) so pip takes the CPU build on disk instead of a CUDA one.
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

if [ "$RUN" = 1 ]; then
  echo "== comicdesk scan resources/sample-library" >&2
  .venv/bin/comicdesk scan resources/sample-library
  echo "== comicdesk pages 'resources/sample-library/Captain Science/Captain Science #001 (1950).cbz'" >&2
  .venv/bin/comicdesk pages "resources/sample-library/Captain Science/Captain Science #001 (1950).cbz"
fi
