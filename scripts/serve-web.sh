#!/usr/bin/env bash
# Builds the browser app (release) and serves it on http://127.0.0.1:8080 with trunk.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-web.sh
export PATH="$PWD/tests/browser/node_modules/.bin:$PATH"
exec trunk serve --release "$@"
