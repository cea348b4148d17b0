#!/usr/bin/env bash
# API load benchmark (#7): 13 months of daily costs for 500 services in a fresh SQLite store
# (or FINOPSD_DATABASE_URL), `finopsd run` serving them, and wrk driving the read routes
# (one service's costs, costs of a month by service, a team's showback) in rotation, then
# each route alone: first with the answer cache off (every request made from the store),
# then with it on. Prints wrk's throughput and latency percentiles. Needs a release build
# (`cargo build --release`), python3 and Debian's wrk.
#
#   benches/api_load.sh [SERVICES=500] [SECONDS=30] [CONNECTIONS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
services="${1:-500}"
seconds="${2:-30}"
connections="${3:-10}"
bin="${FINOPSD_BIN:-${CARGO_TARGET_DIR:-target}/release/finopsd}"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk: apt-get install -y wrk" >&2; exit 1; }

work="$(mktemp -d)"
trap 'kill "${daemon:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
export FINOPSD_DATABASE_URL="${FINOPSD_DATABASE_URL:-sqlite://$work/finopsd.db}"
python3 benches/api_load/generate.py "$work/costs.csv" "$services" 2025-11
echo "== $(($(wc -l < "$work/costs.csv") - 1)) daily cost rows, $services services, 13 months"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
hash=$(printf %s load-test-token | sha256sum | cut -d' ' -f1)
# `$1` MiB of answer cache (0: every request made from the store).
config() {
    cat > "$work/finopsd.toml" <<TOML
[daemon]
listen = "127.0.0.1:$port"
pipeline_every_secs = 86400
api_cache_mib = $1
[[daemon.tokens]]
name = "load"
sha256 = "$hash"
scopes = ["read"]
TOML
}
config 0
/usr/bin/time -f "ingest and allocate: %e s, peak RSS %M KiB" "$bin" --quiet --config "$work/finopsd.toml" ingest "$work/costs.csv"
for cache_mib in 0 64; do
    config "$cache_mib"
    "$bin" --config "$work/finopsd.toml" run 2>"$work/daemon.log" &
    daemon=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    # Let the daemon's first pipeline run (allocate, detect) finish before measuring.
    sleep 5
    echo "== api_cache_mib = $cache_mib: all routes in rotation, $connections connections, ${seconds}s"
    wrk -t2 -c"$connections" -d"${seconds}s" --latency -s benches/api_load/requests.lua "http://127.0.0.1:$port"
    for path in "/api/v1/services/svc-250/costs" "/api/v1/costs?from=2026-06&to=2026-06&group_by=tag:service" \
        "/api/v1/showback/2026-06?by=team&value=team-7"; do
        echo "== api_cache_mib = $cache_mib: $path alone"
        wrk -t2 -c"$connections" -d"$((seconds / 3))s" --latency -H "Authorization: Bearer load-test-token" \
            "http://127.0.0.1:$port$path" | grep -E "Requests/sec|50%|90%|99%|Non-2xx"
    done
    kill "$daemon"
    wait "$daemon" || true
done
