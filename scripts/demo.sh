#!/usr/bin/env bash
# Installs what kcoro needs, builds it, and runs the demo: the pod watcher (client-go's workqueue
# example) against an embedded fake API server with pods being created, updated and deleted.
# Ctrl-C stops it; extra arguments are passed on (e.g. --run-for-seconds 10, --workers 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d build-release ] || meson setup build-release --buildtype=release >/dev/null
ninja -C build-release examples/pod_watcher >/dev/null
exec ./build-release/examples/pod_watcher --demo --warm-pod not-there "$@"
