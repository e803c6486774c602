#!/usr/bin/env bash
# Runs the Python embedding example's tests: creates .venv, installs requirements.txt into
# it, and runs the unittest suite against the plugin files and simulator that
# $TENANTCTL_BIN_DIR (default ../../target/release) holds. Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

bin_dir="${TENANTCTL_BIN_DIR:-$here/../../target/release}"
for exe in tenantctl tenantctl-simulator; do
    if [ ! -x "$bin_dir/$exe" ]; then
        echo "run-tests.sh: $bin_dir/$exe is missing; build it first (cargo build --release)" \
            "or point TENANTCTL_BIN_DIR at it" >&2
        exit 1
    fi
done
export TENANTCTL_BIN_DIR="$(cd "$bin_dir" && pwd)"

python="${PYTHON:-python3}"
# Recreate the environment when it is missing or its interpreter no longer runs.
if ! .venv/bin/python -c '' >/dev/null 2>&1; then
    rm -rf .venv
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python - <<'PY' >&2
import importlib.metadata, sys
print("python", sys.version.split()[0], "wasmtime-py", importlib.metadata.version("wasmtime"))
PY
exec .venv/bin/python -m unittest -v test_disable
