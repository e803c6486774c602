#!/usr/bin/env bash
# Runs every test: formatting, the plugins' unit tests, the simulators' tests, and the
# host's end-to-end tests (real plugins, real HTTP on loopback, the simulators).
set -euo pipefail
cd "$(dirname "$0")"

if command -v rustup >/dev/null; then rustup target add wasm32-wasip2 >/dev/null 2>&1 || true; fi
cargo fmt --all -- --check
cargo test --release --workspace
