#!/usr/bin/env bash
# Pretends to test one suite on one target.
echo "running $1 tests for $2 against version $VERSION"
sleep 0.2
echo "ok: $1/$2"
