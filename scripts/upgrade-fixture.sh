#!/usr/bin/env bash
# Writes testdata/upgrade/v2/corr2d.db.gz: a data dir made by the server at a
# given revision (schema version 2, JSON columns), for the upgrade test.
#
#   bash scripts/upgrade-fixture.sh [REV]     # REV defaults to 97f2313
#
# It holds one job of each kind an upgrade meets: succeeded with a loss
# history, failed (diverged), canceled while queued, running (the server was
# killed mid-job, before its first checkpoint) and queued, never started.
# With --job-concurrency 1 the long job holds the only slot, so the jobs
# submitted after it stay queued; kill -9 leaves them as a crash would.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-97f2313}
out=testdata/upgrade/v2
work=$(mktemp -d)
trap 'kill -9 "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

git worktree add --detach "$work/src" "$rev" >/dev/null
(cd "$work/src" && go build -o "$work/corr2d" ./cmd/server)
git worktree remove --force "$work/src"

port=$((20000 + RANDOM % 20000))
"$work/corr2d" --addr "127.0.0.1:$port" --data-dir "$work/data" --job-concurrency 1 \
	--checkpoint-every 1h --max-steps 1000000000 >"$work/log" 2>&1 &
pid=$!
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done

post() { curl -fs -X POST -H 'Content-Type: application/json' -d "$1" "$base/train" | sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/'; }
wait_ended() {
	for _ in $(seq 200); do
		curl -fs "$base/jobs/$1" | grep -Eq '"status":"(succeeded|failed|canceled)"' && return
		sleep 0.05
	done
	echo "job $1 did not end" >&2
	exit 1
}
x='[[1,1,0,0,0,0,1,1],[1,1,0,0,0,0,1,1],[1,1,0,0,0,0,1,1]]'
y='[[0,1,0,0,0,-1,0],[0,1,0,0,0,-1,0],[0,1,0,0,0,-1,0]]'

ok=$(post '{"input":'"$x"',"target":'"$y"',"kernel_size":[1,2],"steps":20,"seed":42,"bias":true}')
wait_ended "$ok"
bad=$(post '{"input":'"$x"',"target":'"$y"',"kernel_size":[1,2],"steps":500,"lr":10}')
wait_ended "$bad"
long=$(post '{"input":'"$x"',"target":'"$y"',"kernel_size":[1,2],"steps":1000000000,"optimizer":{"name":"adam"}}')
for _ in $(seq 100); do curl -fs "$base/jobs/$long" | grep -q '"status":"running"' && break; sleep 0.05; done
queued=$(post '{"input":'"$x"',"target":'"$y"',"kernel_size":[1,2],"steps":30,"init":[[0.5,-0.25]],"optimizer":{"name":"sgd","momentum":0.9},"dtype":"float64"}')
gone=$(post '{"input":'"$x"',"target":'"$y"',"kernel_size":[1,2],"steps":30}')
curl -fs -X POST "$base/jobs/$gone/cancel" >/dev/null
kill -9 "$pid"
wait "$pid" 2>/dev/null || true

# One self-contained file: fold the WAL in and compact.
/usr/bin/python3 - "$work/data/corr2d.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.execute("PRAGMA journal_mode=DELETE")
c.execute("VACUUM")
c.close()
PY
mkdir -p "$out"
gzip -9n <"$work/data/corr2d.db" >"$out/corr2d.db.gz"
printf '%s\n' "succeeded $ok" "failed $bad" "running $long" "queued $queued" "canceled $gone" >"$out/jobs.txt"
echo "wrote $out ($(stat -c %s "$out/corr2d.db.gz") bytes gzipped) from $rev"
cat "$out/jobs.txt"
