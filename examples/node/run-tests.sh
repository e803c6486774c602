#!/usr/bin/env bash
# Tests the Node.js embedding example against the plugin files and simulator of a release
# build: installs the locked dependencies, then runs test/*.test.mjs with node:test.
set -euo pipefail
cd "$(dirname "$0")"

bin_dir="${TENANTCTL_BIN_DIR:-../../target/release}"
for binary in tenantctl tenantctl-simulator; do
    if [ ! -x "$bin_dir/$binary" ]; then
        echo "examples/node: $bin_dir/$binary is missing." >&2
        echo "Build it first: run \`cargo test --release --workspace\` or \`cargo build --release\` at the repository root (or set TENANTCTL_BIN_DIR to where the binaries are)." >&2
        exit 1
    fi
done
TENANTCTL_BIN_DIR="$(cd "$bin_dir" && pwd)"
export TENANTCTL_BIN_DIR

npm ci --no-audit --no-fund
npm test
