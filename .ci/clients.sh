#!/usr/bin/env bash
# The clients' tests against a real server: builds the server, starts it on
# a loopback port of its choice with a throwaway data dir, runs the Python
# client's pytest suite, the Go client's examples (after checking that the
# generated client is what the spec generates) and the browser tests of /
# and /docs, then stops it.
# Run from the repository root:
#
#   bash .ci/clients.sh
#
# Installs Debian's packages it needs when they are missing: the Python
# client installs offline from them (numpy, setuptools, pip, venv), pytest
# runs it, and chromium is the browser that puppeteer-core (npm ci, from the
# committed package-lock.json) drives. Screenshots land in
# $BROWSER_OUT (default clients/browser/out).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in python3-numpy python3-pytest python3-venv python3-setuptools python3-pip chromium; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v npm >/dev/null || need+=(nodejs npm)
if ((${#need[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

work=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	# Chromium's helpers can outlive a killed test run; none may outlive this.
	pkill -KILL -f corr2d-chromium- 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== clients: build and start the server"
go build -o "$work/corr2d" ./cmd/server
# The server listens on a port the system picks and writes it to a file:
# no other process can take the port between its choice and its use. A
# start shows no progress to watch, so the wait gives up only if the server
# exits, or after two minutes (a start takes seconds on a loaded machine).
"$work/corr2d" --addr 127.0.0.1:0 --addr-file "$work/addr" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!
url=
for _ in $(seq 1200); do
	if [[ -z $url && -s $work/addr ]]; then url="http://$(<"$work/addr")"; fi
	if [[ -n $url ]] && curl -fs --max-time 5 "$url/readyz" >/dev/null 2>&1; then break; fi
	kill -0 "$server_pid" 2>/dev/null || { echo "server exited" >&2; cat "$work/server.log" >&2; exit 1; }
	sleep 0.1
done
[[ -n $url ]] && curl -fs --max-time 5 "$url/readyz" >/dev/null || { echo "server not ready" >&2; cat "$work/server.log" >&2; exit 1; }

echo "== clients: python (pip install --no-build-isolation ./clients/python, pytest)"
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install -q --no-build-isolation ./clients/python
(cd "$work" && CORR2D_URL=$url timeout -k 10 300 "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$OLDPWD/clients/python/tests")

echo "== clients: Go (regenerated from the spec: any difference fails; examples against the server)"
go generate ./client/corr2dapi
if ! git diff --quiet -- client/corr2dapi; then
	git diff --stat -- client/corr2dapi >&2
	echo "client/corr2dapi differs from what api/openapi.yaml generates: run go generate ./client/corr2dapi and commit" >&2
	exit 1
fi
CORR2D_URL=$url go test -count=1 -timeout 5m ./client/...

echo "== clients: browser (chromium + puppeteer-core)"
# Every browser step is bounded: a stalled registry or a wedged browser
# fails the run in minutes instead of holding it. A failed attempt is
# retried once with chromium's own output shown, so a real failure still
# fails, and a one-off one says what happened.
for attempt in 1 2; do
	timeout -k 10 300 sh -c 'cd clients/browser && npm ci --no-audit --no-fund --loglevel=error' && break
	echo "npm ci failed or timed out (attempt $attempt)" >&2
	((attempt < 2)) || exit 1
done
for attempt in 1 2; do
	start=$(date +%s)
	dumpio=$((attempt > 1 ? 1 : 0))
	if (cd clients/browser && CORR2D_URL=$url BROWSER_OUT=${BROWSER_OUT:-$PWD/out} CHROMIUM_DUMPIO=$dumpio \
		timeout -k 10 300 node --test --test-timeout=180000); then
		echo "browser tests took $(($(date +%s) - start)) s"
		break
	fi
	echo "browser tests failed or timed out after $(($(date +%s) - start)) s (attempt $attempt)" >&2
	pkill -KILL -f corr2d-chromium- 2>/dev/null || true
	tail -20 "$work/server.log" >&2
	((attempt < 2)) || exit 1
done
