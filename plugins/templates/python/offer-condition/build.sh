#!/usr/bin/env bash
# Builds plugin.wasm for {{id}}: runs the unit tests, then componentize-py.
# Uses componentize-py from $COMPONENTIZE_PY or PATH, else installs the pinned version into
# .venv here (from PyPI). The WIT package is in ./wit (copied by `emporium plugin new`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

cpy="${COMPONENTIZE_PY:-$(command -v componentize-py || true)}"
if [[ -z "$cpy" ]]; then
    [[ -x .venv/bin/componentize-py ]] || {
        python3 -m venv .venv
        .venv/bin/pip install --quiet --disable-pip-version-check componentize-py==0.25.1
    }
    cpy="$PWD/.venv/bin/componentize-py"
fi

PYTHONDONTWRITEBYTECODE=1 python3 -m unittest -q

# Only the plugin's modules go into the component (no tests, no .venv).
rm -rf build/src && mkdir -p build/src
find . -maxdepth 1 -name '*.py' ! -name 'test_*.py' -exec cp {} build/src/ \;
(cd build/src && "$cpy" -q -d ../../wit -w {{world}} componentize app -o ../../plugin.wasm)
echo "built $(pwd)/plugin.wasm"
