#!/usr/bin/env bash
# Installs what kcoro needs, then builds and runs the whole test suite three ways:
#   release            every test tier, the benchmark smoke tests, the format check
#   address+undefined  every test tier under ASan and UBSan
#   thread             what crosses threads (thread and integration tiers, examples), under TSan
# The envtest tier (a real kube-apiserver and etcd) runs in the release and ASan builds when its
# assets are found (tests/envtest/assets.sh says where it looks). Without them it is reported as
# skipped, with one line saying so.
# Ends with a plain line "N passed, N failed" (test cases, summed over the three builds; skipped
# tests count as neither) and exits non-zero if anything failed or did not build.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

jobs=${KCORO_JOBS:-$(nproc)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

passed=0
failed=0
failures=()

# The envtest tier's kube-apiserver and etcd: tests/envtest/assets.sh finds them, or nothing.
envtest_assets=$(bash tests/envtest/assets.sh "$root")
if [ -n "$envtest_assets" ]; then
  KCORO_TEST_ASSETS=$envtest_assets
  export KCORO_TEST_ASSETS
fi
echo "== envtest assets: ${KCORO_TEST_ASSETS:-${KUBEBUILDER_ASSETS:-none (the envtest tier will be skipped)}}"

count_log() {  # $1 build dir, $2 label: sums doctest case counts (or whole tests) from testlog.json
  # First output line: "passed failed names of failed tests"; then one line per skipped test.
  local out
  out=$(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, re, sys
p = f = 0
names = []
skips = []
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    t = json.loads(line)
    if t.get("result") == "SKIP":  # exit 77: neither passed nor failed
        said = (t.get("stdout") or "").strip().splitlines()
        skips.append(t.get("name", "?") + ": " + (said[-1] if said else "skipped"))
        continue
    # The last summary: a test may fork a child whose own doctest summary comes first.
    found = re.findall(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", t.get("stdout") or "")
    m = found[-1] if found else None
    ok = t.get("result") == "OK"
    if m:
        p += int(m[1]); f += int(m[2])
        if not ok and int(m[2]) == 0:
            f += 1  # crashed or a sanitizer aborted after the summary
    else:
        if ok: p += 1
        else: f += 1
    if not ok: names.append(t.get("name", "?"))
print(p, f, " ".join(names))
for s in skips:
    print(s)
PY
)
  local p f names skipped
  { read -r p f names; skipped=$(cat); } <<<"$out"
  passed=$((passed + p))
  failed=$((failed + f))
  [ -n "$names" ] && failures+=("$2: $names")
  [ -n "$skipped" ] && while IFS= read -r line; do echo "== $2: skipped $line"; done <<<"$skipped"
  echo "== $2: $p passed, $f failed"
}

run_build() {  # $1 name, $2 targets ("" = all), $3 meson test args, rest: meson setup options
  local name=$1 targets=$2 testargs=$3
  shift 3
  local dir="$root/build-$name"
  echo "== configuring $name (at ${SECONDS} s)"
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$@" >"$root/.cache-$name-setup.log" 2>&1 || meson setup --wipe "$dir" "$@" >"$root/.cache-$name-setup.log" 2>&1
  else
    meson setup "$dir" "$@" >"$root/.cache-$name-setup.log" 2>&1
  fi || { cat "$root/.cache-$name-setup.log"; failed=$((failed + 1)); failures+=("$name: configure"); return; }
  rm -f "$root/.cache-$name-setup.log"
  echo "== building $name (at ${SECONDS} s)"
  # shellcheck disable=SC2086
  if ! ninja -C "$dir" -j "$jobs" $targets; then
    failed=$((failed + 1)); failures+=("$name: build"); return
  fi
  echo "== testing $name (at ${SECONDS} s)"
  # shellcheck disable=SC2086
  meson test -C "$dir" --no-rebuild --print-errorlogs $testargs
  count_log "$dir" "$name"
}

# Format check: every C++ file matches .clang-format.
echo "== clang-format"
if git ls-files -- '*.hpp' '*.cpp' | xargs -r clang-format --dry-run --Werror; then
  passed=$((passed + 1)); echo "== clang-format: ok"
else
  failed=$((failed + 1)); failures+=("clang-format"); echo "== clang-format: files need formatting"
fi

run_build release "" "" --buildtype=release

# Consumers: install the release build into a staging prefix (DESTDIR) and build the README's
# program three ways against it (kcoro.pc, the CMake package, kcoro as a meson subproject).
echo "== consumers (at ${SECONDS} s)"
if [ -x "$root/build-release/tools/kcoro-fake-apiserver" ]; then
  consumers_out=$(bash tests/consumers/run.sh "$root" "$root/build-release" "$root/build-consumers" 2>&1)
  rc=$?
  echo "$consumers_out"
  p=$(grep -c '^consumer [a-z-]*: ok$' <<<"$consumers_out")
  f=$(grep -c '^consumer [a-z-]*: FAILED' <<<"$consumers_out")
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$f" -gt 0 ] && failures+=("consumers: $f failed")
  echo "== consumers: $p passed, $f failed"
else
  failed=$((failed + 1)); failures+=("consumers: no release build")
fi
# The sanitizer builds are unoptimised: GCC 12 takes three to four times longer to compile
# Asio's coroutine frames under ASan+UBSan at -O2 than at -O0 (client/connection.cpp: 173 s
# against 39 s), and the tests themselves spend most of their time waiting on sockets.
run_build asan "" "--suite unit --suite thread --suite integration --suite examples --suite envtest" \
  --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dbench=disabled
# Under TSan: the thread tier; the integration tier, where a fake API server thread serves
# clients, informers and controllers that run on other threads; and the examples, whose Runtime
# runs I/O, informers and workers on three threads. Not the envtest tier: its servers run in
# other processes, and what it exercises across threads the integration tier already covers.
run_build tsan "tests/kcoro-thread-tests tests/kcoro-integration-tests tools/kcoro-fake-apiserver examples/pod_watcher examples/informer_printer examples/sample_controller" \
  "--suite thread --suite integration --suite examples" \
  --buildtype=debug -Db_sanitize=thread -Db_lundef=false -Dbench=disabled

# Fuzzing: every libFuzzer target for KCORO_FUZZ_SECONDS (60 by default) under ASan+UBSan, two
# at a time (one per core); a crash fails the run. scripts/fuzz.sh prints each one's figures.
fuzz_seconds=${KCORO_FUZZ_SECONDS:-60}
echo "== fuzz, ${fuzz_seconds} s per target (at ${SECONDS} s)"
mkdir -p "$root/build-fuzz-logs"
fuzz_targets=(watch_decoder_fuzz list_decoder_fuzz object_fuzz selector_fuzz kubeconfig_fuzz
  fake_request_fuzz typed_fuzz)
for ((i = 0; i < ${#fuzz_targets[@]}; i += 2)); do
  pids=()
  for t in "${fuzz_targets[@]:i:2}"; do
    bash scripts/fuzz.sh "$t" "$fuzz_seconds" >"$root/build-fuzz-logs/run-$t.log" 2>&1 &
    pids+=("$!:$t")
  done
  for p in "${pids[@]}"; do
    if wait "${p%%:*}"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); failures+=("fuzz: ${p#*:}")
    fi
    tail -n 25 "$root/build-fuzz-logs/run-${p#*:}.log" | grep -E '^fuzz |ERROR|SUMMARY' || true
  done
done

# Secrets: the bearer tokens, passwords and exec credentials the tests use
# (tests/support/test-secrets.txt, one per line) must appear in no log of the run.
echo "== secrets in logs (at ${SECONDS} s)"
logs=$(ls "$root"/build-*/meson-logs/testlog.txt "$root"/build-fuzz-logs/*.log 2>/dev/null || true)
if [ -z "$logs" ]; then
  failed=$((failed + 1)); failures+=("secrets: no logs to search")
elif leaks=$(grep -lF -f tests/support/test-secrets.txt $logs); then
  failed=$((failed + 1)); failures+=("secrets: found in $leaks")
  grep -nF -f tests/support/test-secrets.txt $leaks | head -20
else
  passed=$((passed + 1)); echo "== secrets: none in $(wc -w <<<"$logs") logs"
fi

echo "== finished (at ${SECONDS} s)"
if ((${#failures[@]})); then
  echo "failed:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
