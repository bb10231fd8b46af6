#!/usr/bin/env bash
# Installs BuildGrid (a Remote Execution API server) for the remote-cache tests, once:
# a Python virtual environment from PyPI under ~/.cache/orch-ci (or $ORCH_CI_CACHE).
# BuildGrid 0.4.4 is the newest that runs on this machine's Python 3.11 (0.9 needs 3.13).
# The tests start and stop their own servers, on 127.0.0.1 only.
set -euo pipefail
root="${ORCH_CI_CACHE:-$HOME/.cache/orch-ci}"
venv="$root/buildgrid-0.4.4"
if [ -x "$venv/bin/bgd" ] && "$venv/bin/python" -c 'import buildgrid, psycopg2' 2>/dev/null; then
    echo "BuildGrid: $venv/bin/bgd"
    exit 0
fi
rm -rf "$venv"
mkdir -p "$root"
python3 -m venv "$venv"
# psycopg2: its SQL scheduler (remote execution) keeps its state in PostgreSQL.
"$venv/bin/pip" install --quiet --disable-pip-version-check 'buildgrid==0.4.4' 'psycopg2-binary==2.9.13'
echo "BuildGrid installed: $venv/bin/bgd"
