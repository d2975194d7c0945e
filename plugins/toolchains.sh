#!/usr/bin/env bash
# Installs the toolchains that build Emporium's Python and JavaScript plugins, project-locally:
#   - componentize-py (pinned below) into target/toolchains/venv, from PyPI with pip;
#   - @bytecodealliance/componentize-js (pinned in plugins/js/package-lock.json) into
#     plugins/js/node_modules, from npm with `npm ci`.
# Nothing else is downloaded. Idempotent: when both are already installed at the pinned versions
# it only checks and returns (well under a second).
#
# Usage: bash plugins/toolchains.sh            (from anywhere; paths are relative to the repo)
# Needs: python3 (>= 3.10, with venv) and node (>= 18) with npm on PATH.
# Prints the two tool paths at the end; xtask finds them at the same places.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/toolchains/venv"
jsdir="$root/plugins/js"

say() { printf 'toolchains: %s\n' "$*" >&2; }

# --- Python: componentize-py -------------------------------------------------------------------
need_py=1
if [[ -x "$venv/bin/componentize-py" ]]; then
    have="$("$venv/bin/componentize-py" --version 2>/dev/null | awk '{print $2}')" || have=""
    [[ "$have" == "$COMPONENTIZE_PY_VERSION" ]] && need_py=0
fi
if (( need_py )); then
    command -v python3 >/dev/null || { say "python3 not found on PATH"; exit 1; }
    say "installing componentize-py==$COMPONENTIZE_PY_VERSION into $venv"
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

# --- JavaScript: componentize-js ---------------------------------------------------------------
# npm ci installs exactly the lock file; the stamp remembers which lock file was installed.
stamp="$jsdir/node_modules/.emporium-lock.sha256"
want="$(sha256sum "$jsdir/package-lock.json" | cut -d' ' -f1)"
if [[ ! -x "$jsdir/node_modules/.bin/componentize-js" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    command -v npm >/dev/null || { say "npm not found on PATH"; exit 1; }
    say "installing componentize-js from plugins/js/package-lock.json (npm ci)"
    (cd "$jsdir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
fi

echo "$venv/bin/componentize-py"
echo "$jsdir/node_modules/.bin/componentize-js"
