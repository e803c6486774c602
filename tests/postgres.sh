#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server in a temporary directory (as user postgres when run
# as root) and runs the service's PostgreSQL tests against it: two replicas sharing jobs,
# one killed mid-job. Needs Debian's `postgresql` package (.ci/run installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL is not installed: apt-get install postgresql" >&2
    exit 1
fi
dir=$(mktemp -d)
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as_pg=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop() {
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U tenantctl --auth=trust >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null
export TENANTCTL_TEST_POSTGRES_URL="postgres://tenantctl@127.0.0.1:$port/postgres"
cargo test --release -p tenantctl --test serve_postgres -- --ignored
