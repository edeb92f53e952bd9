#!/usr/bin/env bash
# Peak memory of a maximum-size training job: builds the server (or takes
# a built one from $CORR2D), starts it on a fresh embedded store with
# --memory-budget BUDGET (the server's default when empty), submits a
# 4096×4096 float64 input and a 4094×4094 float64 target as .npy parts
# with a 3×3 kernel and 2 steps, waits for the job to end, and prints the
# answer, the job's end and the server's peak resident memory (VmHWM).
# Needs NumPy in $PYTHON (default python3) to write the arrays.
#
#   bash scripts/trainmem.sh [BUDGET] [extra server flags...]
#   bash scripts/trainmem.sh 2GiB
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-}
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

bin=${CORR2D:-}
if [[ -z $bin ]]; then
	go build -o "$work/corr2d" ./cmd/server
	bin=$work/corr2d
fi
"${PYTHON:-python3}" - "$work" <<'EOF'
import sys
import numpy as np
rng = np.random.default_rng(1)
np.save(sys.argv[1] + "/x.npy", rng.random((4096, 4096)))
np.save(sys.argv[1] + "/t.npy", rng.random((4094, 4094)))
EOF
echo '{"kernel_size":[3,3],"lr":0.001,"steps":2,"seed":1}' >"$work/params.json"

port=$((20000 + RANDOM % 20000))
flags=(--addr "127.0.0.1:$port" --data-dir "$work/data" --log-level warn)
[[ -n $budget ]] && flags+=(--memory-budget "$budget")
"$bin" "${flags[@]}" "${@:2}" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
base=http://127.0.0.1:$port
grep VmHWM "/proc/$pid/status" | sed 's/^/idle: /'

start=$(date +%s.%N)
code=$(curl -s -o "$work/answer" -w '%{http_code}' -F input=@"$work/x.npy" -F target=@"$work/t.npy" \
	-F params=@"$work/params.json" "$base/train")
echo "POST /train: $code $(head -c 300 "$work/answer")"
if [[ $code == 202 ]]; then
	id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$work/answer")
	while :; do
		job=$(curl -fs "$base/jobs/$id?wait=30s")
		status=$(sed -n 's/.*"status":"\([^"]*\)".*/\1/p' <<<"$job")
		[[ $status == queued || $status == running ]] || break
	done
	echo "job $id: $status after $(echo "$(date +%s.%N) - $start" | bc) s; error: $(sed -n 's/.*"error":"\([^"]*\)".*/\1/p' <<<"$job")"
fi
grep VmHWM "/proc/$pid/status"
[[ -s $work/log ]] && { echo "server log:"; head -c 2000 "$work/log"; }
exit 0
