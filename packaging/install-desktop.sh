#!/usr/bin/env bash
# Install comicdesk's desktop entry, icon and comic MIME types, so it shows in the application
# menu and opens CBZ/CBR/CB7/CBT files from the file manager.
#   packaging/install-desktop.sh                  for you (~/.local/share), running .venv/bin/comicdesk
#   PREFIX=/usr/local sudo -E packaging/install-desktop.sh            for everyone
#   COMICDESK_EXEC=/opt/comicdesk/comicdesk packaging/install-desktop.sh   a bundle (build-bundle.sh)
#   packaging/install-desktop.sh --uninstall
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-$HOME/.local}
SHARE="$PREFIX/share"
EXEC=${COMICDESK_EXEC:-$PWD/.venv/bin/comicdesk}
FILES=("$SHARE/applications/comicdesk.desktop" "$SHARE/icons/hicolor/scalable/apps/comicdesk.svg"
       "$SHARE/icons/hicolor/256x256/apps/comicdesk.png" "$SHARE/mime/packages/comicdesk.xml")

refresh() {
  command -v update-mime-database >/dev/null && update-mime-database "$SHARE/mime" || true
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$SHARE/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "${FILES[@]}"
  refresh
  echo "removed comicdesk's desktop entry, icon and MIME types from $SHARE"
  exit 0
fi
if [ ! -x "$EXEC" ]; then
  echo "install-desktop.sh: $EXEC is not there; run ./setup.sh first, or set COMICDESK_EXEC" >&2
  exit 1
fi
install -Dm644 resources/icon.svg "${FILES[1]}"
install -Dm644 resources/icon-256.png "${FILES[2]}"
install -Dm644 packaging/comicdesk-mime.xml "${FILES[3]}"
# The desktop entry's Exec names the program by its absolute path, quoted (it may hold spaces).
quoted=$(printf '%s' "$EXEC" | sed 's/[\\"`$]/\\\\&/g')
mkdir -p "$SHARE/applications"
sed -e "s|^Exec=comicdesk |Exec=\"$quoted\" |" -e "s|^TryExec=comicdesk|TryExec=$EXEC|" \
  packaging/comicdesk.desktop > "${FILES[0]}"
chmod 644 "${FILES[0]}"
refresh
echo "installed: ${FILES[0]} (runs $EXEC)"
