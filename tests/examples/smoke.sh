#!/bin/sh
# Smoke test of an example: runs it, then checks that its output holds every expected line.
#
#   smoke.sh BINARY [ARG...] -- EXPECTED_LINE...
#
# Each EXPECTED_LINE is a fixed string searched for anywhere in a line of the combined stdout and
# stderr (log prefixes are ignored). Fails if the example exits non-zero or a line is missing.
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 BINARY [ARG...] -- EXPECTED_LINE..." >&2
  exit 2
fi
binary=$1
shift
# Collect the example's arguments up to "--".
args=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  args="$args $(printf '%s' "$1" | sed "s/'/'\\\\''/g; s/^/'/; s/\$/'/")"
  shift
done
[ $# -gt 0 ] && shift  # the "--"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
eval "\"\$binary\" $args" >"$out" 2>&1
rc=$?
cat "$out"
status=0
if [ "$rc" -ne 0 ]; then
  echo "smoke: $binary exited with status $rc" >&2
  status=1
fi
for line in "$@"; do
  if ! grep -qF -- "$line" "$out"; then
    echo "smoke: missing expected line: $line" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "smoke: ok ($# expected lines found)"
exit "$status"
