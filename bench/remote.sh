#!/usr/bin/env bash
# The remote cache's row: 200 packages, one job each, whose results come from a server on
# loopback — orch's from BuildGrid (the Remote Execution API, SHA-256), Turborepo's from
# the npm package turborepo-remote-cache (its HTTP API, local storage). Before each timed
# run the local cache and the outputs are deleted, so everything comes from the server;
# beside it, the same workspace's local hit with outputs deleted.
#
#   bash bench/remote.sh      # this row alone (appended to bench/out/results.jsonl)
# bench/run.sh sources it as its last section. Both servers are stopped by their pids.
if ! declare -F bench >/dev/null; then
  set -euo pipefail
  source "$(dirname "$0")/lib.sh"
  standalone=1
fi
bash "$root/.ci/buildgrid.sh" >/dev/null
bgd="${ORCH_CI_CACHE:-$HOME/.cache/orch-ci}/buildgrid-0.4.4/bin/bgd"
trc="$out/trc/node_modules/turborepo-remote-cache/dist/cli.js"
if [ ! -f "$trc" ]; then
  mkdir -p "$out/trc" && (cd "$out/trc" && npm init -y >/dev/null && npm install --silent turborepo-remote-cache@2 >/dev/null)
fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }

srv="$work/remote-servers"; rm -rf "$srv"; mkdir -p "$srv"
bport=$(free_port); tport=$(free_port)
cat > "$srv/bgd.yml" <<YML
server:
  - !channel
    address: "127.0.0.1:$bport"
    insecure-mode: true
storages:
  - !disk-storage &main-storage
    path: $srv/cas
caches:
  - !lru-action-cache &main-action
    storage: *main-storage
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: false
instances:
  - name: ""
    services:
      - !action-cache
        cache: *main-action
      - !cas
        storage: *main-storage
      - !bytestream
        storage: *main-storage
YML
"$bgd" server start "$srv/bgd.yml" > "$srv/bgd.log" 2>&1 &
bgd_pid=$!
HOST=127.0.0.1 PORT=$tport STORAGE_PROVIDER=local STORAGE_PATH="$srv/turbo" STORAGE_PATH_USE_TMP_FOLDER=false \
  TURBO_TOKEN=bench LOG_LEVEL=warn node "$trc" > "$srv/trc.log" 2>&1 &
trc_pid=$!
trap 'kill $bgd_pid $trc_pid 2>/dev/null || true' EXIT
wait_port "$bport"; wait_port "$tport"

d="$work/remote-200"; rm -rf "$d"
python3 "$here/shapes.py" monorepo "$d" 200 1
(cd "$d" && npm install --silent >/dev/null 2>&1 || true)
remote="--remote-cache grpc://127.0.0.1:$bport"
tflags="--concurrency=2 --output-logs=none --no-daemon --api=http://127.0.0.1:$tport --token=bench --team=bench"
# Seeded once: every result on both servers.
(cd "$d" && "$orch" run -q -j 2 $remote && "$turbo" run build $tflags >/dev/null 2>&1)
bench "remote hit orch" "cd $d && $orch run -q -j 2 $remote" --prepare "sh -c 'rm -rf $d/.orch/cache $d/packages/*/dist'"
bench "remote hit turbo" "cd $d && $turbo run build $tflags >/dev/null 2>&1" --prepare "sh -c 'rm -rf $d/.turbo/cache $d/node_modules/.cache/turbo $d/packages/*/dist'"
bench "remote local restore orch" "cd $d && $orch run -q -j 2 $remote" --prepare "sh -c 'rm -rf $d/packages/*/dist'"
# Every timed run must have been all remote hits: counted by the server's client side.
"$orch" cache stats --cache-dir "$d/.orch/cache" | grep '^remote:' || true
kill $bgd_pid $trc_pid 2>/dev/null || true
wait $bgd_pid $trc_pid 2>/dev/null || true
trap - EXIT

if [ -n "${standalone:-}" ]; then
  python3 "$here/report.py" "$results" > "$out/results.md"
  grep -i remote "$out/results.md"
fi
