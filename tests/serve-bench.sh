#!/usr/bin/env bash
# Times a 10,000-row disable job through `tenantctl serve` against `tenantctl apply` on the
# same rows, each on a fresh simulator, and reports each process's peak memory (VmHWM).
# Usage: tests/serve-bench.sh [ROWS] (default 10000). Needs target/release/{tenantctl,
# tenantctl-simulator} (cargo build --release) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-10000}"
bin="$PWD/target/release"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work" TENANTCTL_AUDIT_LOG="$work/audit.jsonl"
export TENANTCTL_DATABASE_URL="sqlite://$work/tenantctl.db"

# Starts a fresh Acronis simulator with $rows tenants; sets the TENANTCTL_ACRONIS_* variables.
simulator() {
    coproc SIM { exec "$bin/tenantctl-simulator" --vendor acronis --tenants "$rows" --exit-on-stdin-close; }
    pids+=("$SIM_PID")
    while read -r line <&"${SIM[0]}"; do
        case "$line" in
            export\ *) eval "$line" ;;
        esac
        [[ "$line" == *CLIENT_SECRET* ]] && break
    done
}

peak() { awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$1/status"; }

simulator
"$bin/tenantctl" list --vendor acronis --output csv > "$work/tenants.csv"
count=$(($(wc -l < "$work/tenants.csv") - 1))
echo "rows: $count" >&2

start=$(date +%s.%N)
"$bin/tenantctl" apply --output json --action disable --input "$work/tenants.csv" > "$work/apply.out" 2> "$work/apply.err" &
apply_pid=$!
apply_peak=0
while kill -0 "$apply_pid" 2>/dev/null; do
    now=$(awk '/VmHWM/ {print $2}' "/proc/$apply_pid/status" 2>/dev/null || echo 0)
    [ "${now:-0}" -gt "$apply_peak" ] && apply_peak=$now
    sleep 0.2
done
wait "$apply_pid" || true
apply_time=$(echo "$(date +%s.%N) - $start" | bc)
echo "apply: $(grep -c '"status":"changed"' "$work/apply.out" || true) changed; $(grep '^apply:' "$work/apply.err")" >&2
kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true

simulator
token=$("$bin/tenantctl" tokens create bench --role operate 2>/dev/null)
"$bin/tenantctl" serve --listen 127.0.0.1:0 2> "$work/serve.err" &
serve_pid=$!
pids+=("$serve_pid")
until grep -q 'listening on' "$work/serve.err"; do sleep 0.1; done
addr=$(grep -o 'listening on http://[^ ]*' "$work/serve.err" | head -1 | cut -d/ -f3)
python3 - "$work/tenants.csv" > "$work/job.json" <<'PY'
import csv, json, sys
rows = [{"vendor": r["vendor"], "action": "disable", "tenant": r["tenant"]}
        for r in csv.DictReader(open(sys.argv[1]))]
print(json.dumps({"rows": rows}))
PY
start=$(date +%s.%N)
id=$(curl -sf -H "Authorization: Bearer $token" -H 'Idempotency-Key: bench' \
    -H 'Content-Type: application/json' --data-binary @"$work/job.json" \
    "http://$addr/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
while :; do
    status=$(curl -sf -H "Authorization: Bearer $token" "http://$addr/v1/jobs/$id" \
        | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["status"], j["done"], j["counts"])')
    case "$status" in succeeded*|failed*|cancelled*) break ;; esac
    sleep 0.2
done
serve_time=$(echo "$(date +%s.%N) - $start" | bc)
echo "service job: $status" >&2
printf 'rows %s\napply   %6.1f s  peak %s MiB\nservice %6.1f s  peak %s (tenantctl serve, SQLite)\n' \
    "$count" "$apply_time" "$((apply_peak / 1024))" "$serve_time" "$(peak "$serve_pid")"
