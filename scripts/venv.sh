# Sourced by run.sh and test.sh: make .venv (Python >= 3.11) and install the project into it, with its "ocr" extra
# (the local OCR engine, about 370 MB) and the extra $1 names ("" or "dev"), when pyproject.toml or the extras have
# changed since the last install.
set -euo pipefail
extra="${1:-}"
extras="${extra:+$extra,}ocr"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "labelbot needs Python 3.11 or newer as '$python' (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed${extra:+-$extra}"
# The extras are part of the stamp: a .venv installed before the ocr extra existed gets it on the next run.
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) [$extras]"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "Installing labelbot with its OCR engine${extra:+ and its $extra tools} into .venv ..." >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[$extras]"
    echo "$wanted" > "$stamp"
fi
