#!/usr/bin/env bash
# Re-records the Acronis, Commvault and VSPC transcript suites (guest/*/transcripts/*.json)
# against the simulators, with faults injected through their control API. Run it after a
# plugin's behaviour changes on purpose; `tenantctl plugins test` replays the suites.
#
#   guest/record-transcripts.sh            (builds with cargo first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tenantctl
cargo build --release --quiet -p tenantctl-simulator
# VSPC is a drop-in plugin: record it through a plugin directory, as operators run it.
cargo build --quiet --profile plugin --target wasm32-wasip2 -p tenantctl-plugin-vspc
plugins=$(mktemp -d)
cp target/wasm32-wasip2/plugin/tenantctl_plugin_vspc.wasm "$plugins/"
export TENANTCTL_PLUGIN_DIR=$plugins
bin=$PWD/target/release
exports=$(mktemp)
"$bin/tenantctl-simulator" --tenants 5 >"$exports" 2>/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -rf "$exports" "$plugins"' EXIT
for _ in $(seq 100); do grep -q COMMVAULT_PASSWORD "$exports" 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC1090
source "$exports"
export TENANTCTL_CACHE_DIR="$PWD/target/tenantctl-cache"
acronis_root=${TENANTCTL_ACRONIS_URL}
commvault_root=${TENANTCTL_COMMVAULT_URL%/commandcenter/api}
vspc_root=${TENANTCTL_VSPC_URL}

fixture() { curl -fsS "$1/_sim/fixtures" | python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$2"; }
fault() { curl -fsS -X POST "$1/_sim/faults" -d "$2" >/dev/null; }
clear_faults() { curl -fsS -X DELETE "$1/_sim/faults" >/dev/null; }

# record VENDOR NAME [tenantctl arguments...]: one transcript, whatever the exit code.
record() {
    local vendor=$1 name=$2; shift 2
    "$bin/tenantctl" "$@" --vendor "$vendor" --record "guest/$vendor/transcripts/$name.json" >/dev/null 2>&1 || true
    case $vendor in
        acronis) clear_faults "$acronis_root" ;;
        commvault) clear_faults "$commvault_root" ;;
        vspc) clear_faults "$vspc_root" ;;
    esac
    echo "recorded guest/$vendor/transcripts/$name.json" >&2
}

rm -f guest/acronis/transcripts/*.json guest/commvault/transcripts/*.json guest/vspc/transcripts/*.json

# --- Acronis
root=$(fixture "$acronis_root" root_id)
acme=$(fixture "$acronis_root" acme_corp_id)
foreign=$(fixture "$acronis_root" foreign_id)
dormant=$(fixture "$acronis_root" dormant_id)
record acronis status-by-name status --tenant-name "Acme Corp"
record acronis disable-dry-run disable --tenant-name "Acme Corp" --dry-run
record acronis disable-by-name disable --tenant-name "Acme Corp"
record acronis disable-already-disabled disable --tenant "$acme"
record acronis enable-by-id enable --tenant "$acme"
record acronis expect-name-mismatch disable --tenant "$acme" --expect-name "Acme Corporation"
record acronis not-found-by-name disable --tenant-name "No Such Tenant"
record acronis not-found-by-id disable --tenant 3f1c2d9e-0000-4000-8000-000000000000
record acronis ambiguous-name disable --tenant-name "Twin Co"
record acronis invalid-id status --tenant "../etc"
record acronis forbidden-tenant disable --tenant "$foreign"
record acronis own-tenant-refused disable --tenant "$root"
TENANTCTL_ACRONIS_CLIENT_SECRET=wrong record acronis wrong-credentials status --tenant "$acme"
fault "$acronis_root" '{"method": "PUT", "fault": {"kind": "concurrent_change"}}'
record acronis conflict-then-success disable --tenant "$acme"
record acronis enable-again enable --tenant "$acme"
fault "$acronis_root" '{"method": "PUT", "times": null, "fault": {"kind": "concurrent_change"}}'
record acronis conflict-exhausted disable --tenant "$acme"
fault "$acronis_root" '{"method": "GET", "path": "/api/2/tenants/", "fault": {"kind": "expire_tokens"}}'
record acronis session-expired-renewed status --tenant "$acme"
fault "$acronis_root" '{"method": "GET", "path": "/api/2/tenants/", "times": null, "fault": {"kind": "non_json", "status": 502}}'
record acronis server-error-html status --tenant "$acme"
fault "$acronis_root" '{"method": "PUT", "times": null, "fault": {"kind": "status", "status": 429, "headers": {"Retry-After": "3600"}}}'
record acronis rate-limited disable --tenant "$acme"
fault "$acronis_root" '{"method": "GET", "path": "/api/2/tenants/", "times": null, "fault": {"kind": "delay", "ms": 1500}}'
record acronis timeout status --tenant "$acme" --timeout 1
record acronis delete-enabled-refused delete --tenant "$acme" --expect-name "Acme Corp" --yes
record acronis delete-dry-run delete --tenant-name "Dormant Ltd" --expect-name "Dormant Ltd" --dry-run
fault "$acronis_root" '{"method": "DELETE", "fault": {"kind": "concurrent_change"}}'
record acronis delete-conflict-then-success delete --tenant "$dormant" --expect-name "Dormant Ltd" --yes
record acronis status-after-delete-not-found status --tenant "$dormant"

# --- Commvault
acme=$(fixture "$commvault_root" acme_corp_id)
halfway=$(fixture "$commvault_root" halfway_id)
dormant=$(fixture "$commvault_root" dormant_id)
record commvault status-by-name status --tenant-name "ACME CORP"
record commvault status-partly-deactivated status --tenant "$halfway"
record commvault delete-partly-deactivated-refused delete --tenant "$halfway" --expect-name "Halfway Inc" --yes
record commvault delete-active-refused delete --tenant-name "acme corp" --expect-name "Acme Corp" --yes
record commvault disable-dry-run disable --tenant-name "acme corp" --dry-run
record commvault disable-by-name disable --tenant-name "acme corp"
record commvault disable-already-deactivated disable --tenant "$acme"
record commvault disable-completes-partial disable --tenant "$halfway"
record commvault enable-deactivated enable --tenant "$dormant"
record commvault offboard-dry-run offboard --tenant "$acme" --dry-run
record commvault offboard offboard --tenant "$acme" --yes
record commvault not-found-by-id status --tenant 999999
record commvault not-found-by-name disable --tenant-name "No Such Company"
record commvault ambiguous-name disable --tenant-name "twin co"
record commvault invalid-id status --tenant 12abc
TENANTCTL_COMMVAULT_PASSWORD=wrong record commvault login-refused status --tenant "$acme"
fault "$commvault_root" '{"path": "/action/activate", "fault": {"kind": "http200_error", "code": 7, "message": "Company is locked"}}'
record commvault activate-error-in-http-200 enable --tenant "$halfway"
fault "$commvault_root" '{"path": "/tenant/offboard", "fault": {"kind": "http200_error", "code": 2, "message": "Failed to offboard tenant"}}'
record commvault offboard-error-in-http-200 offboard --tenant "$acme" --yes
fault "$commvault_root" '{"method": "GET", "path": "/organization/", "fault": {"kind": "expire_tokens"}}'
record commvault session-expired-renewed status --tenant "$acme"
fault "$commvault_root" '{"path": "/action/activate", "times": null, "fault": {"kind": "status", "status": 429, "headers": {"Retry-After": "3600", "X-RateLimit-Limit": "100", "X-RateLimit-Period": "3600"}}}'
record commvault rate-limited enable --tenant "$halfway"
fault "$commvault_root" '{"method": "GET", "path": "/organization/", "times": null, "fault": {"kind": "non_json", "status": 503}}'
record commvault server-error-html status --tenant "$acme"
fault "$commvault_root" '{"method": "DELETE", "fault": {"kind": "http200_error", "code": 2, "message": "The company has plans associated with it"}}'
record commvault delete-refused-in-http-200 delete --tenant "$halfway" --expect-name "Halfway Inc" --yes
record commvault delete-dry-run delete --tenant "$halfway" --expect-name "Halfway Inc" --dry-run
record commvault delete-deactivated delete --tenant "$halfway" --expect-name "Halfway Inc" --yes

# --- Veeam Service Provider Console
acme=$(fixture "$vspc_root" acme_corp_uid)
dormant=$(fixture "$vspc_root" dormant_uid)
lapsed=$(fixture "$vspc_root" lapsed_uid)
record vspc status-by-name status --tenant-name "acme corp"
record vspc disable-dry-run disable --tenant-name "Acme Corp" --dry-run
record vspc disable-by-name disable --tenant-name "Acme Corp"
record vspc disable-already-disabled disable --tenant "$acme"
record vspc enable-by-id enable --tenant "$dormant"
record vspc expired-company-refused disable --tenant "$lapsed"
record vspc not-found-by-name disable --tenant-name "No Such Company"
record vspc not-found-by-id status --tenant 3f1c2d9e-0000-4000-8000-000000000000
record vspc ambiguous-name disable --tenant-name "twin co"
record vspc invalid-id status --tenant "not-a-uuid"
TENANTCTL_VSPC_PASSWORD=wrong record vspc login-refused status --tenant "$acme"
fault "$vspc_root" '{"method": "GET", "path": "/companies/", "fault": {"kind": "expire_tokens"}}'
record vspc session-expired-renewed status --tenant "$acme"
fault "$vspc_root" '{"method": "PATCH", "times": null, "fault": {"kind": "status", "status": 429, "headers": {"Retry-After": "3600"}}}'
record vspc rate-limited enable --tenant "$acme"
fault "$vspc_root" '{"method": "GET", "path": "/companies/", "times": null, "fault": {"kind": "status", "status": 520}}'
record vspc server-error status --tenant "$acme"
fault "$vspc_root" '{"method": "GET", "path": "/companies/", "times": null, "fault": {"kind": "non_json", "status": 502}}'
record vspc proxy-error-html status --tenant "$acme"
# Dormant Ltd is Active here (enable-by-id), Acme Corp Disabled (disable-by-name; the
# rate-limited enable changed nothing).
record vspc delete-active-refused delete --tenant "$dormant" --expect-name "Dormant Ltd" --yes
fault "$vspc_root" '{"method": "DELETE", "fault": {"kind": "async_failure", "message": "Agents could not be removed"}}'
record vspc delete-async-failed delete --tenant "$acme" --expect-name "Acme Corp" --yes
record vspc delete-async delete --tenant-name "acme corp" --expect-name "Acme Corp" --yes
