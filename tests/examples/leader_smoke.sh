#!/bin/sh
# Replicas of sample_controller with --leader-elect against one kcoro-fake-apiserver process,
# through a kubeconfig.
# 1. The first holds the Lease and reconciles; the second waits, and takes over once the first
#    stops and releases the Lease — before that Lease could have expired.
# 2. A leader killed with SIGKILL releases nothing: a standby takes over once the Lease expires.
#
#   leader_smoke.sh FAKE_APISERVER SAMPLE_CONTROLLER
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 FAKE_APISERVER SAMPLE_CONTROLLER" >&2
  exit 2
fi
fake=$1
ctl=$2
dir=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "leader_smoke: $*" >&2
  for f in "$dir"/*.log; do echo "--- $f" >&2; cat "$f" >&2; done
  exit 1
}
# replica NAME SECONDS: a sample_controller with leader election ($elect) in the background for
# SECONDS, its output in $dir/NAME.log; its pid in $last.
replica() {
  # shellcheck disable=SC2086
  "$ctl" $elect --run-for-seconds "$2" >"$dir/$1.log" 2>&1 &
  last=$!
  pids="$pids $last"
}
# The identity that won the lease, from a replica's log.
identity() {
  sed -n 's/.*successfully acquired by //p' "$dir/$1.log" | head -n 1
}
# Waits up to 20 s for FILE to hold the fixed string TEXT.
wait_for() {
  tries=0
  until grep -qF -- "$2" "$1" 2>/dev/null; do
    [ "$tries" -ge 400 ] && fail "no \"$2\" in $1 within 20 s"
    tries=$((tries + 1))
    sleep 0.05
  done
}

. "$(dirname "$0")/fake_server.sh"
start_fake_apiserver "$fake" "$dir"
started=$?
pids="$fake_pid"
[ "$started" -eq 0 ] || fail "the fake API server did not start"
server=$(sed -n 's/^ *server: *//p' "$dir/kubeconfig" | head -n 1)

# What `kubectl apply -f artifacts/crd.yaml -f artifacts/example-foo.yaml` would leave.
post() {
  curl -sS -f -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary "$2" \
    "$server$1" || fail "POST $1 failed"
}
post /apis/apiextensions.k8s.io/v1/customresourcedefinitions '{"apiVersion":"apiextensions.k8s.io/v1",
 "kind":"CustomResourceDefinition","metadata":{"name":"foos.samplecontroller.k8s.io",
  "annotations":{"api-approved.kubernetes.io":"unapproved, experimental-only"}},
 "spec":{"group":"samplecontroller.k8s.io","scope":"Namespaced",
  "names":{"plural":"foos","singular":"foo","kind":"Foo","listKind":"FooList"},
  "versions":[{"name":"v1alpha1","served":true,"storage":true,"subresources":{"status":{}},
   "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}'
post /apis/samplecontroller.k8s.io/v1alpha1/namespaces/default/foos '{"apiVersion":
 "samplecontroller.k8s.io/v1alpha1","kind":"Foo","metadata":{"name":"example-foo",
 "namespace":"default"},"spec":{"deploymentName":"example-foo","replicas":1}}'

# 1. A clean stop: the Lease is released and taken over at once (15 s leases; only the retry
#    period is short, so that the test is quick).
elect="--kubeconfig $dir/kubeconfig --leader-elect --leader-elect-lease-duration 15s
  --leader-elect-renew-deadline 10s --leader-elect-retry-period 200ms"
replica a 3
a=$last
wait_for "$dir/a.log" "successfully acquired by"
replica b 8
b=$last
wait "$a" || fail "the first replica exited with status $?"
wait "$b" || fail "the second replica exited with status $?"

a_id=$(identity a)
for line in "Deployment example-foo created with 1 replicas" "Starting Foo controller" \
  "lease default/sample-controller: released"; do
  grep -qF -- "$line" "$dir/a.log" || fail "first replica: missing \"$line\""
done
for line in "waiting to lead" "new leader elected: $a_id" "successfully acquired by" \
  "Starting Foo controller" "lease default/sample-controller: released"; do
  grep -qF -- "$line" "$dir/b.log" || fail "second replica: missing \"$line\""
done
b_id=$(identity b)
[ -n "$a_id" ] && [ "$a_id" != "$b_id" ] || fail "the replicas' identities are not distinct"
# The second replica only led after the first released the Lease (log timestamps sort as text),
# and it found the Deployment in place rather than creating another.
released=$(grep -F "lease default/sample-controller: released" "$dir/a.log" | cut -c2-24)
acquired=$(grep -F "successfully acquired by" "$dir/b.log" | cut -c2-24)
[ "$(printf '%s\n%s\n' "$released" "$acquired" | sort | head -n 1)" = "$released" ] ||
  fail "the second replica led at $acquired, before the first released at $released"
grep -qF "Deployment example-foo created" "$dir/b.log" &&
  fail "the second replica created the Deployment again"
echo "leader_smoke: handover ok (first $a_id released at $released; second $b_id led at $acquired)"

# 2. Two-second leases this time; the leader dies without a word.
elect="--kubeconfig $dir/kubeconfig --leader-elect --leader-elect-lease-duration 2s
  --leader-elect-renew-deadline 1s --leader-elect-retry-period 200ms"
replica c 30
c=$last
wait_for "$dir/c.log" "successfully acquired by"
replica d 7
d=$last
c_id=$(identity c)
wait_for "$dir/d.log" "new leader elected: $c_id"
kill -KILL "$c"
wait "$c" 2>/dev/null
wait_for "$dir/d.log" "successfully acquired by"
wait "$d" || fail "the standby exited with status $?"
grep -qF "lease default/sample-controller: released" "$dir/c.log" &&
  fail "the killed leader released its lease"
echo "leader_smoke: takeover after SIGKILL ok"
