#!/usr/bin/env bash
# Installs everything kcoro needs to build and test on Debian 12 (bookworm).
# Idempotent: when every package is already present it returns in well under a second.
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config
  libboost1.81-all-dev      # Asio, Beast, JSON, Lockfree (the default 1.74 is too old)
  libsimdjson-dev libspdlog-dev libfmt-dev doctest-dev libssl-dev libyaml-cpp-dev
  prometheus-cpp-dev        # the metrics registry (prometheus-cpp-core and its text serializer)
  clang-format curl
  clang                     # the libFuzzer targets (scripts/fuzz.sh)
  cmake git                 # the consumer tests: a CMake project, a meson subproject by git
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
