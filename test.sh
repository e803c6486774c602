#!/usr/bin/env bash
# Runs every test: formatting, the plugins' unit tests, the simulators' tests, the host's
# end-to-end tests (real plugins, real HTTP on loopback, the simulators), and the Node and
# Python embedding examples against the same plugin files.
set -euo pipefail
cd "$(dirname "$0")"

if command -v rustup >/dev/null; then rustup target add wasm32-wasip2 >/dev/null 2>&1 || true; fi
cargo fmt --all -- --check
cargo test --release --workspace
# The benchmark suite as a smoke run (small sizes; figures only, see BENCHMARKS.md).
cargo bench -p tenantctl --bench suite -- --quick

# The service's API descriptions, validated (openapi-spec-validator in a venv), and its
# PostgreSQL tests against a throwaway server started in a temporary directory.
echo "== tests/openapi" >&2
tests/openapi/validate.sh
echo "== tests/postgres.sh" >&2
tests/postgres.sh

# The embedding examples load the plugin files the tenantctl binary itself uses.
export TENANTCTL_BIN_DIR="$PWD/target/release"
for example in examples/node examples/python; do
    echo "== $example" >&2
    "$example/run-tests.sh"
done
