#!/usr/bin/env bash
# Make sure the browser test has a Chromium: Debian's package, installed with apt-get
# when this runs as root (CI does); otherwise say what to install.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${CNNBOOK_CHROMIUM:-}" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser test..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "The browser test needs Chromium: install Debian's package (sudo apt-get install chromium)," >&2
echo "or set CNNBOOK_CHROMIUM to a Chromium or Chrome executable." >&2
exit 1
