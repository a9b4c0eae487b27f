#!/usr/bin/env bash
# Download Brent Ozar's StackOverflow2010 (1 GB .7z; 8.4 GB .mdf + 256 MB .ldf once extracted) into
# mssql/backups, which docker-compose.override.yml mounts into the SQL Server container.
# Safe to re-run: an interrupted download resumes, and finished steps are skipped.
set -euo pipefail

URL="https://downloads.brentozar.com/StackOverflow2010.7z"
DEST="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/mssql/backups"
ARCHIVE="$DEST/StackOverflow2010.7z"

if [[ -f "$DEST/StackOverflow2010.mdf" && -f "$DEST/StackOverflow2010_log.ldf" ]]; then
  echo "StackOverflow2010 is already extracted in $DEST"
  exit 0
fi
SEVEN_ZIP="$(command -v 7z || command -v 7zz || true)"
if [[ -z "$SEVEN_ZIP" ]]; then
  echo "7z not found: install p7zip-full (apt) or sevenzip (brew)" >&2
  exit 1
fi

mkdir -p "$DEST"
if [[ ! -f "$ARCHIVE" ]]; then
  # A .part name means a half-downloaded archive is never mistaken for a whole one.
  curl --fail --location --continue-at - --output "$ARCHIVE.part" "$URL"
  mv "$ARCHIVE.part" "$ARCHIVE"
fi
# Extract beside the destination and move in, so a half-extracted .mdf never counts as done.
rm -rf "$DEST/.extract"
"$SEVEN_ZIP" x -y -o"$DEST/.extract" "$ARCHIVE"
mv -f "$DEST/.extract/"* "$DEST/"
rmdir "$DEST/.extract"
echo "Extracted StackOverflow2010 into $DEST; next: scripts/mssql/attach_stackoverflow2010.sh"
