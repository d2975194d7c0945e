#!/usr/bin/env bash
# Builds plugin.wasm for {{id}}: runs the unit tests natively, then builds the component.
# Needs `rustup target add wasm32-wasip2`. The WIT package is in ./wit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
cargo test --quiet
cargo build --quiet --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/plugin.wasm" plugin.wasm
echo "built $(pwd)/plugin.wasm"
