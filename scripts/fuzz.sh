#!/usr/bin/env bash
# Runs one libFuzzer target for a while, under ASan+UBSan.
#
#   scripts/fuzz.sh TARGET SECONDS     TARGET: watch_decoder_fuzz list_decoder_fuzz object_fuzz
#                                       selector_fuzz kubeconfig_fuzz fake_request_fuzz typed_fuzz
#
# Builds the targets with clang in build-fuzz (-Dfuzz=enabled; every library instrumented for
# coverage with -fsanitize=fuzzer-no-link), seeds TARGET's corpus from the
# recorded kube-apiserver responses in tests/fixtures (and fuzz/seeds), runs it for SECONDS, and
# prints its figures: executions per second and coverage. A crash or sanitizer report fails
# (non-zero exit) and leaves the input in build-fuzz/crashes/; turn it into a regression test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
build=${KCORO_FUZZ_BUILD:-$root/build-fuzz}
logs=$build-logs  # beside the build directory, which meson wants to itself
mkdir -p "$logs"

# Two runs may share the build directory: setup and build take turns.
exec 9>"$logs/lock"
flock 9
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" -Dfuzz=enabled -Dtests=disabled -Dbench=disabled \
    -Dexamples=disabled -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dcpu=generic -Dcpp_args=-fsanitize=fuzzer-no-link >"$logs/setup.log" 2>&1 ||
    { cat "$logs/setup.log"; exit 1; }
fi
ninja -C "$build" "fuzz/$target" >"$logs/$target.build.log" 2>&1 ||
  { tail -50 "$logs/$target.build.log"; exit 1; }
flock -u 9

# The corpus: each seed is a recorded response, behind the bytes the target reads first.
corpus=$build/corpus/$target
mkdir -p "$corpus" "$build/crashes"
fixtures=tests/fixtures/kube-apiserver-1.32
seed() {  # $1 name, $2 prefix (printf format), $3 file
  { printf "$2"; cat "$3"; } >"$corpus/seed-$1"
}
case $target in
  watch_decoder_fuzz)
    for f in "$fixtures"/watch-*.ndjson; do seed "$(basename "$f")" '\003\020\100\007' "$f"; done ;;
  list_decoder_fuzz)
    for f in "$fixtures"/list-*.json; do seed "$(basename "$f")" '\003\020\100\007' "$f"; done ;;
  object_fuzz)
    for f in "$fixtures"/create-*.json "$fixtures"/patch-*.json; do
      seed "$(basename "$f")" '/metadata/labels/app\n' "$f"
    done ;;
  selector_fuzz)
    printf 'app=web,tier in (1,2),!gone,example.com/x\nmetadata.name=n,spec.x!=y' >"$corpus/seed-1" ;;
  kubeconfig_fuzz)
    cp fuzz/seeds/kubeconfig.yaml "$corpus/seed-kubeconfig" ;;
  fake_request_fuzz)
    printf '\001/api/v1/namespaces/default/configmaps\napplication/json\n' >"$corpus/seed-post"
    cat "$fixtures/apply-configmap.json" >>"$corpus/seed-post"
    printf '\003/api/v1/namespaces/default/configmaps/c\napplication/merge-patch+json\n{"data":{"k":"w"}}' \
      >"$corpus/seed-patch"
    printf '\000/api/v1/namespaces/default/configmaps?labelSelector=a%%3Db&limit=1\n\n' \
      >"$corpus/seed-list" ;;
  typed_fuzz)
    for f in "$fixtures"/create-foo.json "$fixtures"/patch-foo-status.json; do
      seed "$(basename "$f")" '' "$f"
    done
    cp fuzz/seeds/widget.json "$corpus/seed-widget" ;;
  *) echo "fuzz.sh: unknown target $target" >&2; exit 2 ;;
esac

log=$logs/$target.log
set +e
"$build/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
  -rss_limit_mb=2048 -artifact_prefix="$build/crashes/$target-" "$corpus" >"$log" 2>&1
rc=$?
set -e
execs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
echo "fuzz $target: ${seconds}s, $runs runs, $execs execs/s, coverage $cov edges, exit $rc"
if [ $rc -ne 0 ]; then
  grep -E 'ERROR|SUMMARY|panic|deadly' "$log" | head -20
  echo "fuzz $target: FAILED (input in $build/crashes/)" >&2
  exit 1
fi
