#!/usr/bin/env python3
"""Workspaces of the shapes people write, for bench/run.sh and by hand.

  shapes.py separate DIR N        N separate jobs, in/K.txt -> out/K.txt (and build.ninja)
  shapes.py monorepo DIR P F      P packages of F source files each, one job per package
                                  with working-directory, globbed inputs and outputs, in git
                                  (and turbo.json / package.json for Turborepo)
"""
import json
import os
import subprocess
import sys


def separate(root, n):
    os.makedirs(f"{root}/in", exist_ok=True)
    os.makedirs(f"{root}/out", exist_ok=True)
    with open(f"{root}/orch.yml", "w") as f:
        f.write("jobs:\n")
        for k in range(n):
            f.write(f"  j{k}:\n    shell: sh\n    inputs: [in/{k}.txt]\n"
                    f"    outputs: [out/{k}.txt]\n    run: cp in/{k}.txt out/{k}.txt\n")
    with open(f"{root}/build.ninja", "w") as f:
        f.write("rule cp\n  command = cp $in $out\n")
        for k in range(n):
            f.write(f"build out/{k}.txt: cp in/{k}.txt\n")
    for k in range(n):
        with open(f"{root}/in/{k}.txt", "w") as f:
            f.write(f"{k}\n")


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
    git = ["git", "-C", root, "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "bench"], check=True)


if __name__ == "__main__":
    shape, root = sys.argv[1], sys.argv[2]
    if shape == "separate":
        separate(root, int(sys.argv[3]))
    elif shape == "monorepo":
        monorepo(root, int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"unknown shape {shape}")
