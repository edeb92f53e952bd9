#!/usr/bin/env bash
# Read latency under training: builds the server at REV (default: the work
# tree), starts it on the embedded SQLite store or, with a URL, on
# PostgreSQL, and runs scripts/readlat against it (two jobs training at
# full speed while GET /jobs/{id}, GET /jobs and /metrics are read).
#
#   bash scripts/readlat.sh [REV] [postgres://...]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-}
url=${2:-}
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

if [[ -n $rev ]]; then
	git worktree add --detach "$work/src" "$rev" >/dev/null
	(cd "$work/src" && go build -o "$work/corr2d" ./cmd/server)
	git worktree remove --force "$work/src"
else
	go build -o "$work/corr2d" ./cmd/server
fi
store=(--data-dir "$work/data")
[[ -n $url ]] && store=(--database-url "$url")
port=$((20000 + RANDOM % 20000))
"$work/corr2d" --addr "127.0.0.1:$port" "${store[@]}" --log-level warn >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
go run ./scripts/readlat -base "http://127.0.0.1:$port" "${@:3}"
