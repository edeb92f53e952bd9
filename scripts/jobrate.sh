#!/usr/bin/env bash
# Job throughput on PostgreSQL: starts REPLICAS server processes on the
# database at URL (which should be empty), submits JOBS small training jobs
# round-robin across them, and reports jobs per second until all succeeded.
#
#   bash scripts/jobrate.sh postgres://... [REPLICAS] [JOBS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
url=$1
n=${2:-1}
jobs=${3:-200}
steps=${4:-50}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/corr2d" ./cmd/server
bases=()
for i in $(seq "$n"); do
	port=$((20000 + RANDOM % 20000))
	"$work/corr2d" --addr "127.0.0.1:$port" --database-url "$url" --log-level warn >"$work/log$i" 2>&1 &
	pids+=($!)
	bases+=("http://127.0.0.1:$port")
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
body='{"input":[[1,1,0,0,0,0,1,1],[1,1,0,0,0,0,1,1],[1,1,0,0,0,0,1,1]],"target":[[0,1,0,0,0,-1,0],[0,1,0,0,0,-1,0],[0,1,0,0,0,-1,0]],"kernel_size":[1,2],"lr":0.03,"loss":"sum","seed":1,"steps":'$steps'}'
start=$(date +%s.%N)
# Eight clients submit at once, spread over the replicas.
for i in $(seq 0 $((jobs - 1))); do echo "${bases[$((i % n))]}/train"; done |
	xargs -P 8 -n 1 curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body"
submitted=$(date +%s.%N)
while :; do
	done_=$(curl -fs "${bases[0]}/metrics" | awk '/^corr2d_jobs\{status="succeeded"\}/ {print $2}')
	[[ ${done_%.*} -ge $jobs ]] && break
	sleep 0.05
done
end=$(date +%s.%N)
echo "submitted in $(echo "$submitted - $start" | bc) s"
echo "$n replica(s): $jobs jobs of $steps steps in $(echo "$end - $start" | bc) s: $(echo "scale=1; $jobs / ($end - $start)" | bc) jobs/s"
