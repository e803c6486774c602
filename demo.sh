#!/usr/bin/env bash
# Builds tenantctl and the vendor simulators, starts the simulators on loopback, and runs
# tenantctl against them: status, disable, dry run, offboard and enable on Acronis and
# Commvault through the real plugins. Needs only rustup; no vendor account.
set -euo pipefail
cd "$(dirname "$0")"

if command -v rustup >/dev/null; then rustup target add wasm32-wasip2 >/dev/null 2>&1 || true; fi
echo "== building (first time: about 10 minutes on 2 cores)" >&2
cargo build --release --quiet -p tenantctl -p tenantctl-simulator

bin=target/release
exports=$(mktemp)
"$bin/tenantctl-simulator" --tenants 25 >"$exports" &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -f "$exports"' EXIT
for _ in $(seq 100); do [ -s "$exports" ] && grep -q COMMVAULT_PASSWORD "$exports" && break; sleep 0.1; done
# shellcheck disable=SC1090
source "$exports"
export TENANTCTL_CACHE_DIR="${TENANTCTL_CACHE_DIR:-$PWD/target/tenantctl-cache}"

run() { echo; printf '$ tenantctl' >&2; printf ' %q' "$@" >&2; echo >&2; "$bin/tenantctl" "$@" || echo "(exit code $?)" >&2; }

echo "== simulators: Acronis at $TENANTCTL_ACRONIS_URL, Commvault at $TENANTCTL_COMMVAULT_URL" >&2
run plugins list
run status   --vendor acronis   --tenant-name "Acme Corp"
run disable  --vendor acronis   --tenant-name "Acme Corp" --expect-name "Acme Corp"
run disable  --vendor acronis   --tenant-name "Acme Corp"
run disable  --vendor acronis   --tenant-name "Twin Co"
run enable   --vendor acronis   --tenant-name "Acme Corp" --output json
run status   --vendor commvault --tenant-name "halfway inc"
run disable  --vendor commvault --tenant-name "halfway inc"
run offboard --vendor commvault --tenant-name "acme corp" --dry-run --output json
run offboard --vendor commvault --tenant-name "acme corp"
run offboard --vendor commvault --tenant-name "acme corp" --yes

echo >&2; echo "== the end of offboarding: list the tenants, disable one, then delete it" >&2
run list    --vendor acronis --output csv
run delete  --vendor acronis --tenant-name "Customer 00020" --expect-name "Customer 00020" --yes
run disable --vendor acronis --tenant-name "Customer 00020"
run delete  --vendor acronis --tenant-name "Customer 00020" --expect-name "Customer 00020" --dry-run --output json
run delete  --vendor acronis --tenant-name "Customer 00020" --expect-name "Customer 00020" --yes

echo >&2; echo "== a batch across both vendors (tenantctl apply), with an audit log" >&2
fleet=$(mktemp -d)
{
    echo "vendor,action,tenant,tenant_name,expect_name"
    for n in 01 02 03 04 05 06; do echo "acronis,disable,,Customer 000$n,"; done
    for n in 01 02 03 04 05 06; do echo "commvault,disable,,Company 000$n,"; done
    echo "commvault,offboard,,Company 00007,Company 00007"
    echo "acronis,disable,,Nobody Inc,"
} >"$fleet/fleet.csv"
run apply --input "$fleet/fleet.csv" --dry-run
run apply --input "$fleet/fleet.csv" --yes --audit-log "$fleet/audit.jsonl"
run apply --input "$fleet/fleet.csv" --yes --audit-log "$fleet/audit.jsonl" --resume
echo "(the audit log has $(grep -c '"intent"' "$fleet/audit.jsonl") intent and $(grep -c '"result"' "$fleet/audit.jsonl") result records)" >&2
rm -rf "$fleet"
echo >&2
echo "== done: every command above went through the real WebAssembly plugins over HTTP" >&2
