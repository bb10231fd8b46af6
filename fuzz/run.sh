#!/usr/bin/env bash
# Runs each fuzz target for a bounded, reproducible time (fixed seed, fixed run count, an
# empty corpus), as CI does. Crashes found once become regression tests in the engine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${ORCH_FUZZ_RUNS:-150000}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
# cargo-fuzz needs nightly flags (sanitizers); the one stable toolchain here accepts them so.
export RUSTC_BOOTSTRAP=1
for target in expression playbook; do
  corpus=$(mktemp -d)
  cargo fuzz run "$target" "$corpus" -- -seed=1 -runs="$runs" -max_total_time=120 -rss_limit_mb=2048
  rm -rf "$corpus"
  echo "fuzz $target: $runs runs, no crash"
done
