#!/usr/bin/env python3
"""Workspaces of the shapes people write, for bench/run.sh and by hand.

  shapes.py separate DIR N        N separate jobs, in/K.txt -> out/K.txt (and build.ninja)
  shapes.py monorepo DIR P F      P packages of F source files each, one job per package
                                  with working-directory, globbed inputs and outputs, in git
                                  (and turbo.json / package.json for Turborepo)
  shapes.py uses DIR N            the separate jobs, each a `uses:` of one reusable playbook
  shapes.py needs DIR N E         N separate jobs with E `needs` edges on earlier jobs (and
                                  build.ninja with the same edges as implicit dependencies)
  shapes.py tree DIR F J          a git workspace of F files in folders of 100 and J jobs on
                                  the default inputs (every file not ignored), and the same
                                  tasks for Turborepo in single-package mode (its default
                                  inputs: every file git knows)
"""
import json
import os
import random
import subprocess
import sys


def separate(root, n):
    inputs(root, n)
    with open(f"{root}/orch.yml", "w") as f:
        f.write("jobs:\n")
        for k in range(n):
            f.write(f"  j{k}:\n    shell: sh\n    inputs: [in/{k}.txt]\n"
                    f"    outputs: [out/{k}.txt]\n    run: cp in/{k}.txt out/{k}.txt\n")
    with open(f"{root}/build.ninja", "w") as f:
        f.write("rule cp\n  command = cp $in $out\n")
        for k in range(n):
            f.write(f"build out/{k}.txt: cp in/{k}.txt\n")


def monorepo(root, packages, files):
    os.makedirs(root, exist_ok=True)
    with open(f"{root}/orch.yml", "w") as f:
        f.write("jobs:\n")
        for p in range(packages):
            f.write(f"  p{p}:\n    shell: sh\n    working-directory: packages/p{p}\n"
                    f"    inputs: ['packages/p{p}/src/**']\n"
                    f"    outputs: ['packages/p{p}/dist/**']\n"
                    f"    run: mkdir -p dist && cat src/* > dist/out.txt\n")
    workspaces = []
    for p in range(packages):
        base = f"{root}/packages/p{p}"
        os.makedirs(f"{base}/src", exist_ok=True)
        for k in range(files):
            with open(f"{base}/src/f{k}.txt", "w") as f:
                f.write(f"package {p} file {k}\n")
        with open(f"{base}/package.json", "w") as f:
            json.dump({"name": f"p{p}", "version": "0.0.0",
                       "scripts": {"build": "mkdir -p dist && cat src/* > dist/out.txt"}}, f)
        workspaces.append(f"packages/p{p}")
    with open(f"{root}/package.json", "w") as f:
        json.dump({"name": "mono", "private": True, "packageManager": "npm@10.0.0",
                   "workspaces": workspaces}, f)
    with open(f"{root}/turbo.json", "w") as f:
        json.dump({"tasks": {"build": {"inputs": ["src/**"], "outputs": ["dist/**"]}}}, f)
    with open(f"{root}/.gitignore", "w") as f:
        f.write(".orch/\n.turbo/\nnode_modules/\ndist/\n")
    git_commit(root)


def git_commit(root):
    git = ["git", "-C", root, "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "bench"], check=True)


def inputs(root, n):
    os.makedirs(f"{root}/in", exist_ok=True)
    os.makedirs(f"{root}/out", exist_ok=True)
    for k in range(n):
        with open(f"{root}/in/{k}.txt", "w") as f:
            f.write(f"{k}\n")


def uses(root, n):
    inputs(root, n)
    with open(f"{root}/copy.yml", "w") as f:
        f.write("inputs:\n  n: { required: true }\njobs:\n  copy:\n    shell: sh\n"
                "    inputs: ['in/${{ inputs.n }}.txt']\n    outputs: ['out/${{ inputs.n }}.txt']\n"
                "    run: cp in/${{ inputs.n }}.txt out/${{ inputs.n }}.txt\n")
    with open(f"{root}/orch.yml", "w") as f:
        f.write("jobs:\n")
        for k in range(n):
            f.write(f"  u{k}: {{ uses: copy.yml, with: {{ n: {k} }} }}\n")
    with open(f"{root}/build.ninja", "w") as f:
        f.write("rule cp\n  command = cp $in $out\n")
        for k in range(n):
            f.write(f"build out/{k}.txt: cp in/{k}.txt\n")


def needs(root, n, edges):
    """Job k needs up to five earlier jobs, picked by a fixed pseudo-random sequence;
    the edges short of `edges` are added to the last jobs, one more each."""
    inputs(root, n)
    rng = random.Random(13)
    per_job = [min(k, 5) for k in range(n)]
    short = edges - sum(per_job)
    for k in range(n - 1, -1, -1):
        if short <= 0:
            break
        if per_job[k] < k:
            per_job[k] += 1
            short -= 1
    deps = [sorted(rng.sample(range(k), per_job[k])) for k in range(n)]
    with open(f"{root}/orch.yml", "w") as f:
        f.write("jobs:\n")
        for k in range(n):
            need = ", ".join(f"j{d}" for d in deps[k])
            f.write(f"  j{k}:\n    shell: sh\n    needs: [{need}]\n    inputs: [in/{k}.txt]\n"
                    f"    outputs: [out/{k}.txt]\n    run: cp in/{k}.txt out/{k}.txt\n")
    with open(f"{root}/build.ninja", "w") as f:
        f.write("rule cp\n  command = cp $in $out\n")
        for k in range(n):
            implicit = " ".join(f"out/{d}.txt" for d in deps[k])
            f.write(f"build out/{k}.txt: cp in/{k}.txt" + (f" | {implicit}\n" if implicit else "\n"))


def tree(root, files, jobs):
    os.makedirs(f"{root}/out", exist_ok=True)
    for k in range(files):
        folder = f"{root}/src/d{k // 100}"
        os.makedirs(folder, exist_ok=True)
        with open(f"{folder}/f{k % 100}.txt", "w") as f:
            f.write(f"file {k}\n")
    with open(f"{root}/orch.yml", "w") as f:
        f.write("jobs:\n")
        for j in range(jobs):
            f.write(f"  t{j}:\n    shell: sh\n    outputs: [out/t{j}.txt]\n"
                    f"    run: ls -R src | wc -l > out/t{j}.txt\n")
    scripts = {f"t{j}": f"ls -R src | wc -l > out/t{j}.txt" for j in range(jobs)}
    with open(f"{root}/package.json", "w") as f:
        json.dump({"name": "tree", "private": True, "packageManager": "npm@10.0.0",
                   "workspaces": [], "scripts": scripts}, f)
    with open(f"{root}/turbo.json", "w") as f:
        json.dump({"tasks": {f"t{j}": {"outputs": [f"out/t{j}.txt"]} for j in range(jobs)}}, f)
    with open(f"{root}/.gitignore", "w") as f:
        f.write(".orch/\n.turbo/\nnode_modules/\nout/\n")
    git_commit(root)


if __name__ == "__main__":
    shape, root = sys.argv[1], sys.argv[2]
    if shape == "separate":
        separate(root, int(sys.argv[3]))
    elif shape == "monorepo":
        monorepo(root, int(sys.argv[3]), int(sys.argv[4]))
    elif shape == "uses":
        uses(root, int(sys.argv[3]))
    elif shape == "needs":
        needs(root, int(sys.argv[3]), int(sys.argv[4]))
    elif shape == "tree":
        tree(root, int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"unknown shape {shape}")
