#!/usr/bin/env bash
# Set up (first time) and run labelbot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT.
# Reads .env; any arguments go to `python -m bot` (e.g. `./run.sh label photo.jpg`).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh ""
exec .venv/bin/python -m bot "$@"
