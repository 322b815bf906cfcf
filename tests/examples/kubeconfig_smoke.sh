#!/bin/sh
# Smoke test of an example run as against a cluster: through a kubeconfig, over TLS, with a bearer
# token, the server being a kcoro-fake-apiserver process seeded with pods ns-0/pod-0.. and churn
# (pods churn-0.. created, changed and deleted).
#
#   kubeconfig_smoke.sh FAKE_APISERVER EXAMPLE [ARG...] -- EXPECTED_LINE...
#
# The example gets `--kubeconfig FILE` before its own arguments; the rest is smoke.sh's.
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 FAKE_APISERVER EXAMPLE [ARG...] -- EXPECTED_LINE..." >&2
  exit 2
fi
fake=$1
example=$2
shift 2
dir=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
. "$(dirname "$0")/fake_server.sh"
start_fake_apiserver "$fake" "$dir" --tls --token smoke-token --pods 3 --namespaces 1 --churn 20
started=$?
pid=$fake_pid
[ "$started" -eq 0 ] || exit 1
sh "$(dirname "$0")/smoke.sh" "$example" --kubeconfig "$dir/kubeconfig" "$@"
