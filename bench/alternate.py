"""Times two commands run by run in turn, each after its own prepare command, and prints
one results.jsonl line per command (the median, min and max seconds).

Used where a run's cost depends on what the runs before it left: a restore deletes and
creates hundreds of files, and ext4 searches ever longer for a free inode while its
recently deleted ones stay recent (minutes), so the command timed second in a block of
runs pays for the first one's. Alternating makes both meet the same filesystem.

    python3 alternate.py RUNS NAME_A CMD_A PREP_A NAME_B CMD_B PREP_B
"""
import json
import statistics
import subprocess
import sys
import time

runs = int(sys.argv[1])
pairs = [(sys.argv[2], sys.argv[3], sys.argv[4]), (sys.argv[5], sys.argv[6], sys.argv[7])]
times = {name: [] for name, _, _ in pairs}
for round_ in range(runs + 1):
    for name, cmd, prep in pairs:
        subprocess.run(["sh", "-c", prep], check=True)
        start = time.perf_counter()
        subprocess.run(["sh", "-c", cmd], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        if round_ > 0:  # the first round is the warm-up
            times[name].append(elapsed)
for name, _, _ in pairs:
    t = times[name]
    print(json.dumps({"name": name, "median": statistics.median(t), "min": min(t), "max": max(t)}))
