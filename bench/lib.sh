# What bench/run.sh and bench/remote.sh share: the peers installed, orch built, and the
# timing helpers. Sourced, not run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="$here/out"
work="$out/work"
quick="${BENCH_QUICK:-}"
runs=$([ -n "$quick" ] && echo 3 || echo 7)
mkdir -p "$out" "$work"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need ninja || ! need hyperfine || ! need b3sum || [ ! -x /usr/bin/time ]; then
  apt-get update -qq >/dev/null && apt-get install -y -qq ninja-build make hyperfine b3sum time >/dev/null
fi
turbo="$out/turbo/node_modules/@turbo/linux-64/bin/turbo"
if [ ! -x "$turbo" ]; then
  mkdir -p "$out/turbo" && (cd "$out/turbo" && npm init -y >/dev/null && npm install --silent turbo@2 >/dev/null)
fi
(cd "$root" && cargo build --release -q -p orch)
orch="$root/target/release/orch"

results="$out/results.jsonl"
# time NAME COMMAND [hyperfine options...]: median seconds into results.jsonl. With -N
# hyperfine runs commands without a shell, `--prepare` ones too: a prepare that needs a
# glob or a redirection says `sh -c '…'` itself.
bench() {
  local name="$1" cmd="$2"; shift 2
  local count=(--runs "$runs")
  case " $* " in *" --runs "*) count=() ;; esac
  hyperfine --style none -N "${count[@]}" --warmup 1 "$@" --export-json "$out/h.json" "sh -c '$cmd'" >/dev/null 2>&1
  python3 - "$name" "$out/h.json" >> "$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))["results"][0]
print(json.dumps({"name": sys.argv[1], "median": r["median"], "min": r["min"], "max": r["max"]}))
PY
}
# alternate NAME_A CMD_A NAME_B CMD_B PREPARE: the two timed run by run in turn, each after
# PREPARE (see alternate.py: for rows whose cost depends on the runs before).
alternate() {
  python3 "$here/alternate.py" "$((runs * 2 + 1))" "$1" "$2" "$5" "$3" "$4" "$5" >> "$results"
}
# peak resident memory (KiB) of one run
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

