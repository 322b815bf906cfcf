#!/usr/bin/env bash
# Consumer tests: kcoro used from other projects, the three ways the README shows.
#
#   tests/consumers/run.sh ROOT BUILD_DIR WORK_DIR
#
# Installs BUILD_DIR (a configured and built kcoro) into WORK_DIR/stage with DESTDIR, then builds
# the README's reconciler program (taken from README.md itself, so the snippet is what is tested)
# in three projects: meson with the staged kcoro.pc, CMake with find_package(kcoro CONFIG), and
# meson with kcoro as a subproject (a wrap pointing at ROOT's git checkout). Each program runs
# against the staged kcoro-fake-apiserver, through the kubeconfig the server writes, until it has
# labelled the server's three pods; then SIGTERM must end it with status 0.
# Prints "consumer NAME: ok" or "consumer NAME: FAILED (why)" per program; exits with the number
# of failures.
set -uo pipefail
root=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$3
here=$root/tests/consumers
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
stage=$work/stage
failures=0
fake_pid=""
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null' EXIT

fail() {  # $1 name, $2 why, $3 log to show
  echo "consumer $1: FAILED ($2)"
  [ -n "${3:-}" ] && [ -f "$3" ] && tail -n 40 "$3"
  failures=$((failures + 1))
}

if ! meson install -C "$build" --no-rebuild --destdir "$stage" >"$work/install.log" 2>&1; then
  cat "$work/install.log"
  echo "consumer install: FAILED"
  exit 3
fi
read -r prefix libdir < <(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["prefix"], o["libdir"])')
staged_lib=$stage$prefix/$libdir
fake_bin=$stage$prefix/bin/kcoro-fake-apiserver

# The README's program: the first C++ block after "## A reconciler".
python3 - "$root/README.md" "$work/reconciler.cpp" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("## A reconciler"):]
m = re.search(r"```cpp\n(.*?)```", section, re.S)
# Its endpoints on free ports, so that a busy :8080 on this machine cannot fail the test.
program = m.group(1).replace('":8080"', '"127.0.0.1:0"').replace('":8081"', '"127.0.0.1:0"')
open(sys.argv[2], "w").write(program)
PY

# The README shows each consumer's build file: it must be the file tested here, verbatim.
for f in meson-pkgconfig/meson.build cmake/CMakeLists.txt meson-subproject/meson.build; do
  if ! python3 -c 'import sys; sys.exit(open(sys.argv[2]).read() not in open(sys.argv[1]).read())' \
    "$root/README.md" "$here/$f"; then
    fail "readme-snippets" "README.md does not show tests/consumers/$f as it is"
  fi
done

# Runs one built program against a fresh staged fake API server.
run_program() {  # $1 name, $2 program
  local name=$1 prog=$2 dir=$work/run-$1
  mkdir -p "$dir"
  "$fake_bin" --port 0 --pods 3 --kubeconfig-out "$dir/kubeconfig" >"$dir/fake.log" 2>&1 &
  fake_pid=$!
  local tries=0
  while [ ! -s "$dir/kubeconfig" ]; do
    if ! kill -0 "$fake_pid" 2>/dev/null || [ $tries -ge 400 ]; then
      fail "$name" "the staged kcoro-fake-apiserver did not start" "$dir/fake.log"
      return
    fi
    tries=$((tries + 1))
    sleep 0.05
  done
  : >"$dir/out.log"
  KUBECONFIG=$dir/kubeconfig LD_LIBRARY_PATH=$staged_lib "$prog" >"$dir/out.log" 2>&1 &
  local pid=$!
  tries=0
  while [ "$(grep -c 'labelled' "$dir/out.log")" -lt 3 ]; do
    if ! kill -0 "$pid" 2>/dev/null || [ $tries -ge 1200 ]; then break; fi
    tries=$((tries + 1))
    sleep 0.05
  done
  local labelled
  labelled=$(grep -c 'labelled' "$dir/out.log")
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  local rc=$?
  kill "$fake_pid" 2>/dev/null
  wait "$fake_pid" 2>/dev/null
  fake_pid=""
  if [ "$labelled" -ne 3 ]; then
    fail "$name" "labelled $labelled pods, expected 3" "$dir/out.log"
  elif [ $rc -ne 0 ]; then
    fail "$name" "exit status $rc after SIGTERM" "$dir/out.log"
  else
    echo "consumer $name: ok"
  fi
}

build_meson() {  # $1 name, $2 project dir; extra env for meson in the caller
  local name=$1 src=$work/$1
  mkdir -p "$src"
  cp -r "$2"/. "$src/"
  cp "$work/reconciler.cpp" "$src/"
  if ! meson setup "$src/build" "$src" --buildtype=debug >"$work/$name-setup.log" 2>&1; then
    fail "$name" "meson setup" "$work/$name-setup.log"
    return 1
  fi
  if ! ninja -C "$src/build" >"$work/$name-build.log" 2>&1; then
    fail "$name" "build" "$work/$name-build.log"
    return 1
  fi
}

# 1. meson + pkg-config, against the staged install (the sysroot maps its paths into the stage).
start=$SECONDS
if PKG_CONFIG_PATH=$staged_lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage \
  build_meson meson-pkgconfig "$here/meson-pkgconfig"; then
  run_program meson-pkgconfig "$work/meson-pkgconfig/build/reconciler"
fi
echo "consumer meson-pkgconfig took $((SECONDS - start)) s"

# 2. CMake + find_package(kcoro CONFIG), shared and static.
start=$SECONDS
src=$work/cmake
mkdir -p "$src"
cp -r "$here/cmake"/. "$src/"
cp "$work/reconciler.cpp" "$src/"
if ! cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_PREFIX_PATH="$stage$prefix" >"$work/cmake-setup.log" 2>&1; then
  fail cmake "cmake configure" "$work/cmake-setup.log"
elif ! cmake --build "$src/build" >"$work/cmake-build.log" 2>&1; then
  fail cmake "build" "$work/cmake-build.log"
else
  run_program cmake "$src/build/reconciler"
  run_program cmake-static "$src/build/reconciler_static"
fi
echo "consumer cmake took $((SECONDS - start)) s"

# 3. meson with kcoro as a subproject, through a wrap pointing at this git checkout.
start=$SECONDS
src=$work/meson-subproject
mkdir -p "$src/subprojects"
cat >"$src/subprojects/kcoro.wrap" <<WRAP
[wrap-git]
url = $root
revision = head
WRAP
if build_meson meson-subproject "$here/meson-subproject"; then
  run_program meson-subproject "$work/meson-subproject/build/reconciler"
fi
echo "consumer meson-subproject took $((SECONDS - start)) s"

exit $failures
