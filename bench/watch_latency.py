"""Latency of `orch watch` on a 1,000-node playbook: from a file write to the start of the
re-run it causes (its run directory appears), and to the end of that re-run. Prints the
two medians, in seconds."""
import os
import subprocess
import sys
import time

orch, work = sys.argv[1], sys.argv[2]
os.makedirs(f"{work}/in", exist_ok=True)
n = 1000
with open(f"{work}/orch.yml", "w") as f:
    f.write("jobs:\n  c:\n    shell: sh\n    matrix: { i: [%s] }\n" % ", ".join(str(i) for i in range(1, n + 1)))
    f.write("    inputs: ['in/${{ matrix.i }}.txt']\n    outputs: ['out/${{ matrix.i }}.txt']\n")
    f.write("    run: mkdir -p out && cp in/${{ matrix.i }}.txt out/${{ matrix.i }}.txt\n")
for i in range(1, n + 1):
    with open(f"{work}/in/{i}.txt", "w") as f:
        f.write(f"{i}\n")
proc = subprocess.Popen([orch, "watch", "-j", "2"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "CI": "true"})
assert "[1]" in proc.stdout.readline()
starts, ends = [], []
runs = f"{work}/.orch/runs"
for round_ in range(2, 12):
    time.sleep(0.3)
    before = set(os.listdir(runs))
    started = time.monotonic()
    with open(f"{work}/in/{round_ * 10}.txt", "w") as f:
        f.write(f"edit {round_}\n")
    while not (set(os.listdir(runs)) - before - {"latest"}):
        time.sleep(0.0005)
    starts.append(time.monotonic() - started)
    line = proc.stdout.readline()
    ends.append(time.monotonic() - started)
    assert f"[{round_}]" in line and "ran 1," in line, line
proc.send_signal(2)
proc.wait()
median = lambda xs: sorted(xs)[len(xs) // 2]
print(median(starts), median(ends))
