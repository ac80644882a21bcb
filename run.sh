#!/usr/bin/env bash
# Set up (first time) and run labelbot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT.
# Reads .env; any arguments go to `python -m bot` (e.g. `./run.sh label photo.jpg`).
set -euo pipefail
cd "$(dirname "$0")"
# Python caches compiled modules in __pycache__ unless told not to: some environments set this, and then each of
# the bot's processes compiles every module it imports again (pytest's rewritten test modules too).
unset PYTHONDONTWRITEBYTECODE
source scripts/venv.sh ""
# ONNX Runtime (the local text reader, bot/local_text.py) sends Microsoft usage telemetry unless told not to.
export ORT_DISABLE_TELEMETRY=1
exec .venv/bin/python -m bot "$@"
