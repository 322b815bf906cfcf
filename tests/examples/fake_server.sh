# Sourced by the example smoke scripts: starts a kcoro-fake-apiserver process.
#
#   start_fake_apiserver FAKE_APISERVER DIR [ARG...]
#
# Starts it on an ephemeral port with ARGs, its log in DIR/fake.log, and waits (at most 20 s) for
# it to write its kubeconfig to DIR/kubeconfig, which it does once it listens. Sets fake_pid.
# Returns 1, after printing the server's log, if it did not start.
start_fake_apiserver() {
  _fake=$1
  _dir=$2
  shift 2
  "$_fake" --port 0 "$@" --kubeconfig-out "$_dir/kubeconfig" >"$_dir/fake.log" 2>&1 &
  fake_pid=$!
  _tries=0
  while [ ! -s "$_dir/kubeconfig" ]; do
    if ! kill -0 "$fake_pid" 2>/dev/null || [ "$_tries" -ge 400 ]; then
      echo "the fake API server did not start" >&2
      cat "$_dir/fake.log" >&2
      return 1
    fi
    _tries=$((_tries + 1))
    sleep 0.05
  done
}
