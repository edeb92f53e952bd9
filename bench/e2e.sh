#!/usr/bin/env bash
# Builds and starts the server on a free loopback port with a scratch data
# dir, runs bench/e2e.py against it, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/corr2d" ./cmd/server
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$tmp/corr2d" --addr "127.0.0.1:$port" --data-dir "$tmp/data" --log-level warn &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
/usr/bin/python3 bench/e2e.py "http://127.0.0.1:$port"
