#!/usr/bin/env bash
# Set up everything comicdesk needs on a fresh machine, then open the app on the bundled sample
# library.
#   ./setup.sh            set up and open the app on resources/sample-library (on a machine with no
#                         display, as in CI, render its first screen to a PNG instead)
#   ./setup.sh --no-run   set up only
# System packages are installed only when this runs as root on Debian/Ubuntu (as CI does);
# otherwise the missing ones are listed for you to install.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
RUN=1
[ "${1:-}" = "--no-run" ] && RUN=0

# Debian packages. The readers need none (the RAR reader bundles UnRAR, PyMuPDF is a wheel). The
# app (PySide6 wheels) needs the libraries Qt loads: these for any window, or offscreen rendering
# (screenshots, tests)...
APT_PACKAGES=(libegl1 libgl1 libfontconfig1 fonts-dejavu-core libxkbcommon0 libglib2.0-0 libdbus-1-3 libx11-6)
# ...these for real windows on X11 (Qt's xcb platform), and Xvfb to run it without a screen.
APT_PACKAGES+=(libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
               libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 xvfb xauth)
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
# torch is pinned here (pyproject keeps an open range for people with GPUs) so pip takes the CPU
# build on disk instead of a multi-GB CUDA one.
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
# The ray extra too: the Ray engine's tests (tests/engine) run with the suite.
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,ray]'

if [ "$RUN" = 1 ]; then
  if [ "$(uname -s)" = Darwin ] || [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    echo "== comicdesk resources/sample-library  (the app; close its window to finish)" >&2
    .venv/bin/comicdesk gui resources/sample-library
  else
    # No display (CI, ssh): opening a window would fail, so render the first screen instead — the
    # same start-up, scan and covers — which smoke-tests the app.
    shot="$PWD/build/setup-first-screen.png"
    echo "== no display: comicdesk gui resources/sample-library --screenshot $shot" >&2
    .venv/bin/comicdesk gui resources/sample-library --screenshot "$shot"
    echo "The app's first screen is in $shot (run ./setup.sh on a desktop to open the app)." >&2
  fi
fi
