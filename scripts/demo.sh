#!/usr/bin/env bash
# Installs what kcoro needs, builds it, and runs the demo. Until the pod-watcher demo exists this
# is the decode benchmark: watch and list decoding on one core, against simdjson's DOM parser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d build-release ] || meson setup build-release --buildtype=release >/dev/null
ninja -C build-release kcoro-bench >/dev/null
./build-release/bench/kcoro-bench decode "$@"
