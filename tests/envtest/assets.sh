#!/usr/bin/env bash
# The envtest tier's kube-apiserver and etcd (controller-runtime's envtest layout): prints the
# directory that holds them, or nothing. KCORO_TEST_ASSETS or KUBEBUILDER_ASSETS when set; else
# an envtest tarball beside the repository (../shared/envtest/*.tar.xz, as the project's machines
# provide), unpacked once into build-assets/. A user's clone has neither: the tier is skipped.
#
#   tests/envtest/assets.sh REPO_ROOT
set -uo pipefail
root=${1:?usage: tests/envtest/assets.sh REPO_ROOT}
if [ -n "${KCORO_TEST_ASSETS:-}" ]; then echo "$KCORO_TEST_ASSETS"; exit 0; fi
if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then echo "$KUBEBUILDER_ASSETS"; exit 0; fi
tarball=$(ls "$root"/../shared/envtest/*.tar.xz 2>/dev/null | head -n 1)
[ -n "$tarball" ] || exit 0
assets="$root/build-assets"
stamp="$assets/.unpacked-$(basename "$tarball")"
if [ ! -f "$stamp" ]; then
  echo "== unpacking $tarball into build-assets/" >&2
  rm -rf "$assets" && mkdir -p "$assets" && tar -xJf "$tarball" -C "$assets" && touch "$stamp"
fi
apiserver=$(find "$assets" -name kube-apiserver -type f 2>/dev/null | head -n 1)
[ -n "$apiserver" ] && dirname "$apiserver"
exit 0
