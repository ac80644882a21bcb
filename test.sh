#!/usr/bin/env bash
# Set up (first time) and run every check: lint, format, and the offline test suite.
# Any arguments go to pytest (e.g. `./test.sh -k slash`).
set -euo pipefail
cd "$(dirname "$0")"
# Python caches compiled modules in __pycache__ unless told not to: some environments set this, and then each of
# the test processes compiles every module it imports again (pytest's rewritten test modules too).
unset PYTHONDONTWRITEBYTECODE
source scripts/venv.sh dev
.venv/bin/ruff check bot tests bench
.venv/bin/ruff format --check bot tests bench
# Compiled once here rather than by each of the suite's processes at once in a fresh clone (~1 s of CPU).
.venv/bin/python -m compileall -q -j 0 bot tests bench >/dev/null
# The same for pytest's own compiled test modules (their asserts rewritten; cached in tests/__pycache__): one
# collection in this process writes them (5 s) instead of every xdist process rewriting them at once in a fresh clone
# (21 s of CPU, 10 s of the suite's wall time). Its errors, if any, the run below reports.
.venv/bin/python -m pytest --collect-only -q -n 0 -p no:cacheprovider >/dev/null 2>&1 || true
exec .venv/bin/python -m pytest "$@"
