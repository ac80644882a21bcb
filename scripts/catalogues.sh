#!/usr/bin/env bash
# The message catalogues (bot/i18n.py), with Babel from the dev tools:
#   scripts/catalogues.sh          extract every sentence the code marks into bot/locales/labelbot.pot, merge it into
#                                  each language's labelbot.po (new ones untranslated, changed ones fuzzy), compile .mo
#   scripts/catalogues.sh compile  only compile each .po to its .mo (after translating)
# tests/test_i18n.py fails while a marked sentence has no translation or a .mo is older than its .po.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh dev
babel=(.venv/bin/pybabel -q)
if [ "${1:-}" != "compile" ]; then
    "${babel[@]}" extract --no-default-keywords -k tr -k plural:1,2 -k N_ -k Sentence --sort-by-file --no-wrap \
        --project labelbot --copyright-holder "labelbot's authors" -o bot/locales/labelbot.pot bot
    "${babel[@]}" update --no-wrap --ignore-obsolete -i bot/locales/labelbot.pot -d bot/locales -D labelbot
fi
"${babel[@]}" compile -d bot/locales -D labelbot  # fuzzy (changed) entries stay out until checked
