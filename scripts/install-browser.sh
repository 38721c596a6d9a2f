#!/usr/bin/env bash
# Headless Chromium and its driver from Debian's packages, for the timeline's browser
# tests (tests/timeline/test_browser.py). Idempotent and quiet: nothing is done when
# both are already installed. Needs root and apt-get.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
/usr/bin/chromium --version >&2
