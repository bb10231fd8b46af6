"""Turns bench/run.sh's results.jsonl into the table of BENCHMARKS.md."""
import json
import os
import platform
import subprocess
import sys

rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows[r["name"]] = r["median"]


def ms(name):
    v = rows.get(name)
    return "-" if v is None else f"{v * 1000:.1f} ms"


def ratio(a, b):
    if a not in rows or b not in rows or rows[b] == 0:
        return "-"
    return f"{rows[a] / rows[b]:.2f}×"


cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}; medians of repeated runs.\n")
print("| workload | orch | peer | orch / peer | bar |")
print("|---|---:|---:|---:|---|")
for n in ("1000", "10000"):
    if f"overhead orch {n}" in rows:
        print(f"| overhead, {n} trivial jobs, -j 2 (vs ninja) | {ms(f'overhead orch {n}')} | {ms(f'overhead ninja {n}')} | {ratio(f'overhead orch {n}', f'overhead ninja {n}')} | ≤ 1.5× |")
for n in ("1000", "10000"):
    if f"noop orch {n}" in rows:
        print(f"| no-op, {n} jobs (vs ninja no-op) | {ms(f'noop orch {n}')} | {ms(f'noop ninja {n}')} | {ratio(f'noop orch {n}', f'noop ninja {n}')} | ≤ 3× at 1,000 |")
print(f"| full cache hit, 200 packages (vs turbo) | {ms('hit orch')} | {ms('hit turbo')} | {ratio('hit orch', 'hit turbo')} | ≤ 0.2× |")
print(f"| hit with outputs deleted (vs turbo) | {ms('restore orch')} | {ms('restore turbo')} | {ratio('restore orch', 'restore turbo')} | ≤ 0.3× |")
cold, cached = rows.get("sleep cold orch"), rows.get("sleep cached orch")
if cold and cached:
    print(f"| 6 × sleep 1 s: cold / cached | {ms('sleep cold orch')} | {ms('sleep cached orch')} | {cold / cached:.0f}× faster | ≥ 100× |")
print(f"| 50,000 nodes: graph --format json | {ms('scale graph 50k')} | - | - | < 3 s |")
if "scale graph 50k peak KiB" in rows:
    print(f"| 50,000 nodes: graph peak memory | {rows['scale graph 50k peak KiB'] / 1024:.0f} MiB | - | - | < 1 GiB |")
for k in ("scale plan 50k", "scale noop 50k"):
    if k in rows:
        print(f"| 50,000 nodes: {k.split()[1]} | {ms(k)} | - | - | |")
if "scale noop 50k peak KiB" in rows:
    print(f"| 50,000 nodes: no-op run peak memory | {rows['scale noop 50k peak KiB'] / 1024:.0f} MiB | - | - | |")
if "watch start 1000" in rows:
    print(f"| watch, 1,000 nodes: file write → re-run starts | {ms('watch start 1000')} | - | - | < 100 ms |")
    print(f"| watch, 1,000 nodes: file write → re-run done | {ms('watch done 1000')} | - | - | |")
for k in rows:
    if k.startswith("hash orch"):
        size = k.split()[-1]
        b = f"hash b3sum {size}"
        mib = int(size.replace("MiB", ""))
        tput = lambda name: f"{mib / rows[name]:.0f} MiB/s"
        print(f"| cold hashing, {size} | {tput(k)} | {tput(b)} | {rows[b] / rows[k]:.2f}× b3sum's throughput | ≥ 0.8× |")
for n in ("1000", "10000", "50000"):
    a, b = f"separate noop orch {n}", f"separate noop ninja {n}"
    if a in rows:
        bar = "≤ 2×" if n == "1000" else ""
        print(f"| no-op, {n} separate jobs, literal paths (vs ninja no-op) | {ms(a)} | {ms(b)} | {ratio(a, b)} | {bar} |")
if "separate noop 10000 peak KiB" in rows:
    print(f"| no-op, 10000 separate jobs: peak memory | {rows['separate noop 10000 peak KiB'] / 1024:.0f} MiB | - | - | |")
for a, b, what, bar in (
        ("separate overhead orch", "separate overhead ninja", "overhead, 1000 separate jobs, --no-cache -j 2 (vs ninja building all)", "≤ 1.5×"),
        ("uses noop orch", "uses noop ninja", "no-op, 1000 jobs each a `uses:` of one playbook (vs ninja no-op)", ""),
        ("needs noop orch", "needs noop ninja", "no-op, 1000 jobs with 5000 `needs` (vs ninja no-op, same edges)", ""),
        ("needs graph orch", None, "1000 jobs with 5000 `needs`: graph --format json", ""),
        ("tree hit orch", "tree hit turbo", "10,000-file git tree, 10 jobs on default inputs, full hit (vs turbo)", ""),
        ("tree edit orch", "tree edit turbo", "10,000-file git tree, one file edited, all 10 re-run (vs turbo)", "")):
    if a in rows:
        peer = ms(b) if b else "-"
        r = ratio(a, b) if b else "-"
        print(f"| {what} | {ms(a)} | {peer} | {r} | {bar} |")
for name, what, bars in (("mono-200x1", "200 packages", ("0.15", "0.2", "-")),
                         ("mono-100x100", "100 packages × 100 files", ("0.15", "-", "0.1"))):
    for kind, words, bar in (("hit", "full hit", bars[0]), ("restore", "hit, outputs deleted", bars[1]),
                             ("edit", "one file edited", bars[2])):
        a, b = f"{name} {kind} orch", f"{name} {kind} turbo"
        if a in rows:
            print(f"| {what}, one job each, {words} (vs turbo) | {ms(a)} | {ms(b)} | {ratio(a, b)} | {'≤ ' + bar + '×' if bar != '-' else ''} |")
if "remote hit orch" in rows:
    print(f"| 200 packages, one job each, all from a remote cache on loopback, local cache and outputs deleted (vs turbo + turborepo-remote-cache) | {ms('remote hit orch')} | {ms('remote hit turbo')} | {ratio('remote hit orch', 'remote hit turbo')} | |")
    print(f"| the same workspace's local hit, outputs deleted (vs orch's remote hit) | {ms('remote local restore orch')} | {ms('remote hit orch')} | {ratio('remote local restore orch', 'remote hit orch')} | |")
