#!/usr/bin/env bash
# orch's benchmark suite: synthetic workspaces, orch against ninja, make, Turborepo and
# b3sum on the same work, each timed as the median of several runs (hyperfine).
#
#   bash bench/run.sh            # everything; results in bench/out/results.md
#   BENCH_QUICK=1 bash bench/run.sh   # fewer runs, smaller N (a smoke test of the suite)
#
# Peers are installed by the suite itself: ninja, make, hyperfine, b3sum and GNU time from
# Debian's packages, Turborepo from the npm package `turbo` (its native binary is timed,
# not the Node wrapper).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: > "$results"

# 1. Overhead: N independent trivial jobs, no cache, -j 2, against ninja.
for n in $([ -n "$quick" ] && echo 1000 || echo "1000 10000"); do
  d="$work/overhead-$n"; rm -rf "$d"; mkdir -p "$d"
  { echo "jobs:"; echo "  t:"; echo "    shell: sh"; echo "    run: \"true\""; echo "    cache: false"
    echo "    matrix:"; printf "      i: ["; seq -s, 1 "$n" | tr -d '\n'; echo "]"; } > "$d/orch.yml"
  { echo "rule t"; echo "  command = true"; for i in $(seq 1 "$n"); do echo "build never-$i: t"; done; } > "$d/build.ninja"
  bench "overhead orch $n" "cd $d && $orch run -q -j 2"
  bench "overhead ninja $n" "cd $d && ninja -j 2 >/dev/null"
done

# 2. No-op: N jobs, one input and one output each, all up to date, against ninja.
for n in $([ -n "$quick" ] && echo 1000 || echo "1000 10000"); do
  d="$work/noop-$n"; rm -rf "$d"; mkdir -p "$d/in" "$d/out"
  for i in $(seq 1 "$n"); do echo "$i" > "$d/in/$i.txt"; done
  { echo "jobs:"; echo "  c:"; echo "    shell: sh"
    echo "    matrix:"; printf "      i: ["; seq -s, 1 "$n" | tr -d '\n'; echo "]"
    echo "    inputs: ['in/\${{ matrix.i }}.txt']"; echo "    outputs: ['out/\${{ matrix.i }}.txt']"
    echo "    run: cp in/\${{ matrix.i }}.txt out/\${{ matrix.i }}.txt"; } > "$d/orch.yml"
  { echo "rule cp"; echo "  command = cp \$in \$out"; for i in $(seq 1 "$n"); do echo "build out/$i.txt: cp in/$i.txt"; done; } > "$d/build.ninja"
  # The first run runs everything; after the stat cache's 2 s racy window (files written
  # in the same moment as they are hashed are hashed again) the second one reads every
  # record and remembers it: what follows is the steady no-op a user re-runs.
  (cd "$d" && "$orch" run -q -j 2 && ninja -j 2 >/dev/null && sleep 3 && "$orch" run -q -j 2)
  bench "noop orch $n" "cd $d && $orch run -q -j 2"
  bench "noop ninja $n" "cd $d && ninja -j 2 >/dev/null"
done

# 3. Full cache hit, and a hit with outputs deleted, against Turborepo: 200 packages, copy.
d="$work/turbo"; rm -rf "$d"; mkdir -p "$d/packages"
(cd "$d" && git init -q && git config user.email b@b && git config user.name b)
echo '{"name":"bench","private":true,"packageManager":"npm@10.0.0","workspaces":["packages/*"]}' > "$d/package.json"
echo '{"$schema":"https://turbo.build/schema.json","tasks":{"build":{"outputs":["out.txt"],"inputs":["src.txt"]}}}' > "$d/turbo.json"
{ echo "jobs:"; echo "  build:"; echo "    shell: sh"
  echo "    matrix:"; printf "      p: ["; seq -s, 1 200 | tr -d '\n'; echo "]"
  echo "    inputs: ['packages/p\${{ matrix.p }}/src.txt']"; echo "    outputs: ['packages/p\${{ matrix.p }}/out.txt']"
  echo "    run: cp packages/p\${{ matrix.p }}/src.txt packages/p\${{ matrix.p }}/out.txt"; } > "$d/orch.yml"
for i in $(seq 1 200); do
  mkdir -p "$d/packages/p$i"; echo "source $i" > "$d/packages/p$i/src.txt"
  echo "{\"name\":\"p$i\",\"version\":\"1.0.0\",\"scripts\":{\"build\":\"cp src.txt out.txt\"}}" > "$d/packages/p$i/package.json"
done
printf 'node_modules\n.turbo\n.orch\n' > "$d/.gitignore"
(cd "$d" && git add -A && git commit -qm init && npm install --silent >/dev/null 2>&1 || true)
tflags="--concurrency=2 --output-logs=none --no-daemon"
(cd "$d" && "$turbo" run build $tflags >/dev/null 2>&1 && "$orch" run -q -j 2 && sleep 3 && "$orch" run -q -j 2)
bench "hit orch" "cd $d && $orch run -q -j 2"
bench "hit turbo" "cd $d && $turbo run build $tflags >/dev/null 2>&1"
alternate "restore orch" "cd $d && $orch run -q -j 2" "restore turbo" "cd $d && $turbo run build $tflags" "rm -f $d/packages/*/out.txt"

# 4. Cold against cached: six jobs that each sleep 1 s (-j 2).
d="$work/sleep"; rm -rf "$d"; mkdir -p "$d"
printf 'jobs:\n  s:\n    shell: sh\n    inputs: []\n    matrix: { i: [1, 2, 3, 4, 5, 6] }\n    run: sleep 1\n' > "$d/orch.yml"
bench "sleep cold orch" "cd $d && $orch run -q -j 2 --no-cache" --runs 3
(cd "$d" && "$orch" run -q -j 2)
bench "sleep cached orch" "cd $d && $orch run -q -j 2"

# 5. Scale: a 50,000-node matrix through graph, plan and a no-op run.
d="$work/scale"; rm -rf "$d"; mkdir -p "$d"
{ echo "jobs:"; echo "  big:"; echo "    shell: sh"; echo "    inputs: []"; echo "    run: \"true\""
  echo "    matrix:"; printf "      a: ["; seq -s, 1 500 | tr -d '\n'; echo "]"; printf "      b: ["; seq -s, 1 100 | tr -d '\n'; echo "]"; } > "$d/orch.yml"
bench "scale graph 50k" "cd $d && $orch graph --format json >/dev/null" --runs 3
echo "{\"name\": \"scale graph 50k peak KiB\", \"median\": $(cd "$d" && peak "$orch" graph --format json)}" >> "$results"
if [ -z "$quick" ]; then
  (cd "$d" && "$orch" run -q -j 2)
  bench "scale plan 50k" "cd $d && $orch plan >/dev/null" --runs 3
  bench "scale noop 50k" "cd $d && $orch run -q -j 2" --runs 3
  echo "{\"name\": \"scale noop 50k peak KiB\", \"median\": $(cd "$d" && peak "$orch" run -q -j 2)}" >> "$results"
fi

# 6. Hashing: 1 GiB of inputs, cold (no stat cache), against b3sum.
d="$work/hash"; mkdir -p "$d/data"
gib=$([ -n "$quick" ] && echo 128 || echo 1024)
if [ ! -f "$d/data/ok-$gib" ]; then
  rm -rf "$d/data"; mkdir -p "$d/data"
  for i in $(seq 1 64); do head -c $((gib * 1024 * 1024 / 64)) /dev/urandom > "$d/data/f$i.bin"; done
  touch "$d/data/ok-$gib"
fi
printf "jobs:\n  h:\n    shell: sh\n    inputs: ['data/*.bin']\n    run: \"true\"\n" > "$d/orch.yml"
bench "hash orch ${gib}MiB" "cd $d && $orch plan >/dev/null" --prepare "rm -rf $d/.orch/state"
bench "hash b3sum ${gib}MiB" "b3sum $d/data/*.bin >/dev/null"

# 7. Watch: from a file write to the end of the re-run it causes, 1,000 nodes.
d="$work/watch"; rm -rf "$d"; mkdir -p "$d"
read -r wstart wend < <(python3 "$here/watch_latency.py" "$orch" "$d")
echo "{\"name\": \"watch start 1000\", \"median\": $wstart}" >> "$results"
echo "{\"name\": \"watch done 1000\", \"median\": $wend}" >> "$results"

# 8. The shapes people write (issue 13), built by shapes.py: separate jobs with literal
# paths against ninja; reusable playbooks; many needs; a big git tree; monorepos of one job per package (working-directory, globs, git)
# against Turborepo on the same tree: full hit, hit with outputs deleted, one file edited.
# Separate jobs at three sizes (linear growth), the overhead of running them all, and the
# peak memory of the 10,000-job no-op.
# steady DIR: a first run, then (after the stat cache's racy window) the run that
# remembers every record, for orch and ninja alike.
steady() { (cd "$1" && "$orch" run -q -j 2 && ninja -j 2 >/dev/null && sleep 3 && "$orch" run -q -j 2); }
for n in $([ -n "$quick" ] && echo 1000 || echo "1000 10000 50000"); do
  d="$work/separate-$n"; rm -rf "$d"
  python3 "$here/shapes.py" separate "$d" "$n"
  steady "$d"
  count=(); [ "$n" -ge 50000 ] && count=(--runs 3)
  bench "separate noop orch $n" "cd $d && $orch run -q -j 2" "${count[@]}"
  bench "separate noop ninja $n" "cd $d && ninja -j 2 >/dev/null" "${count[@]}"
  if [ "$n" = 10000 ]; then
    echo "{\"name\": \"separate noop 10000 peak KiB\", \"median\": $(cd "$d" && peak "$orch" run -q -j 2)}" >> "$results"
  fi
  if [ "$n" = 1000 ]; then
    bench "separate overhead orch" "cd $d && $orch run -q -j 2 --no-cache"
    bench "separate overhead ninja" "cd $d && ninja -j 2 >/dev/null" --prepare "sh -c 'rm -f $d/out/*'"
  fi
done
# The same 1,000 copies, each a `uses:` of one reusable playbook; and 1,000 jobs with
# 5,000 `needs` edges (every node's key holds all it needs, transitively).
d="$work/uses-1000"; rm -rf "$d"; python3 "$here/shapes.py" uses "$d" 1000; steady "$d"
bench "uses noop orch" "cd $d && $orch run -q -j 2"
bench "uses noop ninja" "cd $d && ninja -j 2 >/dev/null"
d="$work/needs-1000"; rm -rf "$d"; python3 "$here/shapes.py" needs "$d" 1000 5000; steady "$d"
bench "needs noop orch" "cd $d && $orch run -q -j 2"
bench "needs noop ninja" "cd $d && ninja -j 2 >/dev/null"
bench "needs graph orch" "cd $d && $orch graph --format json >/dev/null"
# A git workspace of 10,000 files and 10 jobs on the default inputs (every file not
# ignored), against Turborepo's root tasks on their default inputs (every file).
d="$work/tree-10000"; rm -rf "$d"; python3 "$here/shapes.py" tree "$d" 10000 10
tasks=$(seq -f "t%g" 0 9 | tr '\n' ' ')
(cd "$d" && npm install --silent >/dev/null 2>&1 || true)
(cd "$d" && "$turbo" run $tasks $tflags >/dev/null 2>&1 && "$orch" run -q -j 2 && sleep 3 && "$orch" run -q -j 2)
bench "tree hit orch" "cd $d && $orch run -q -j 2"
bench "tree hit turbo" "cd $d && $turbo run $tasks $tflags >/dev/null 2>&1"
edit="sh -c 'date +%N >> $d/src/d0/f0.txt'"
bench "tree edit orch" "cd $d && $orch run -q -j 2" --prepare "$edit"
bench "tree edit turbo" "cd $d && $turbo run $tasks $tflags >/dev/null 2>&1" --prepare "$edit"
for shape in "200 1" "100 100"; do
  set -- $shape; name="mono-$1x$2"; d="$work/$name"; rm -rf "$d"
  python3 "$here/shapes.py" monorepo "$d" "$1" "$2"
  (cd "$d" && npm install --silent >/dev/null 2>&1 || true)
  (cd "$d" && "$turbo" run build $tflags >/dev/null 2>&1 && "$orch" run -q -j 2 && sleep 3 && "$orch" run -q -j 2)
  bench "$name hit orch" "cd $d && $orch run -q -j 2"
  bench "$name hit turbo" "cd $d && $turbo run build $tflags >/dev/null 2>&1"
  alternate "$name restore orch" "cd $d && $orch run -q -j 2" "$name restore turbo" "cd $d && $turbo run build $tflags" "rm -rf $d/packages/*/dist"
  # One source file of one package edited (a new value each run): that package re-runs.
  edit="sh -c 'date +%N >> $d/packages/p0/src/f0.txt'"
  bench "$name edit orch" "cd $d && $orch run -q -j 2" --prepare "$edit"
  bench "$name edit turbo" "cd $d && $turbo run build $tflags >/dev/null 2>&1" --prepare "$edit"
done

# 10. The remote cache: 200 packages from a server on loopback, against Turborepo's.
source "$here/remote.sh"

python3 "$here/report.py" "$results" > "$out/results.md"
cat "$out/results.md"
