#!/usr/bin/env bash
# Installs the non-Python tools the test-suite uses: npm packages (gltf-validator, three, TalkingHead.js, three-vrm) into
# ./node_modules, and Debian's chromium for the headless three.js check. Idempotent and quiet.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f package.json ] && command -v npm >/dev/null; then
  if [ ! -d node_modules ] || [ package.json -nt node_modules ]; then
    npm install --no-audit --no-fund --silent
    touch node_modules
  fi
fi
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; browser tests will fail" >&2
fi
