#!/usr/bin/env bash
# Checks for the deployment files under deploy/, runnable without a Docker
# engine. Run from the repository root:
#
#   bash .ci/deploy-checks.sh
#
# Steps:
#   1. unit tests of the checking tools in tools/ (a separate Go module);
#   2. lint deploy/Dockerfile with BuildKit's own linter plus project policy;
#   3. run the Dockerfile's `go build` line outside Docker and check that the
#      binary's build info records CGO_ENABLED=0 and -trimpath, and that it
#      has no symbol table (-ldflags="-s -w");
#   4. validate the Grafana provisioning and dashboards, compose.yaml, the
#      Prometheus config and the HAProxy config, each alone and against each
#      other (tools/deploycheck);
#   5. `promtool check config` on the Prometheus config and `promtool test
#      rules` on the alert rules (installs Debian's
#      prometheus package if promtool is missing);
#   6. `haproxy -c` on the load balancer's config (installs Debian's haproxy
#      package if missing); the replicas' names do not resolve here, and
#      that is the one warning allowed;
#   7. only with DEPLOY_CHECKS_SMOKE=1: start the built server and probe it
#      with its own `healthcheck` subcommand, as the image's HEALTHCHECK does.
#
# None of this starts a container: the compose stack itself is never
# brought up here (there is no Docker engine).
#
# Environment:
#   DEPLOY_CHECKS_SMOKE=1             run step 7
#   DEPLOY_CHECKS_REQUIRE_PROMTOOL=1  fail, instead of skipping steps 5 and 6,
#                                     when promtool or haproxy cannot be
#                                     installed
set -euo pipefail

dockerfile=deploy/Dockerfile
if [[ ! -f $dockerfile || ! -f go.mod ]]; then
	echo "deploy-checks: run me from the repository root" >&2
	exit 2
fi

tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

step "1. tools: vet and unit tests"
go -C tools vet ./...
go -C tools test ./...

step "2. lint $dockerfile"
go -C tools run ./dockerlint "../$dockerfile"

step "3. the Dockerfile's build line, run here"
# The one RUN that builds the server, on a single line, as the Dockerfile
# promises. Anything else means the Dockerfile and this script have drifted.
mapfile -t runs < <(grep -E '^RUN[[:space:]](.*[[:space:]])?go build[[:space:]]' "$dockerfile" || true)
[[ ${#runs[@]} -eq 1 ]] || fail "want exactly one single-line RUN with 'go build' in $dockerfile, found ${#runs[@]}"
build_line=${runs[0]#RUN }
for want in 'CGO_ENABLED=0 ' ' -trimpath ' ' -o /out/corr2d ' ' ./cmd/server'; do
	[[ "$build_line " == *"$want"* ]] || fail "build line lacks '$want': $build_line"
done
# The builder image's Go must be the release go.mod asks for.
go_mod_minor=$(awk '$1 == "go" { split($2, v, "."); print v[1] "." v[2]; exit }' go.mod)
grep -Eq "^FROM[[:space:]]+golang:${go_mod_minor//./\\.}([-.@][^[:space:]]*)?[[:space:]]" "$dockerfile" ||
	fail "builder image in $dockerfile is not golang:$go_mod_minor (go.mod says go $go_mod_minor)"

local_line=${build_line//\/out\//$tmp/}
echo "+ $local_line"
bash -c "$local_line"
bin=$tmp/corr2d
[[ -x $bin ]] || fail "the build line did not produce $bin"

info=$(go version -m "$bin")
echo "$info" | grep -E '^[[:space:]]+build[[:space:]]+(CGO_ENABLED|-trimpath)'
grep -Eq '^[[:space:]]+build[[:space:]]+CGO_ENABLED=0$' <<<"$info" || fail "build info lacks CGO_ENABLED=0"
grep -Eq '^[[:space:]]+build[[:space:]]+-trimpath=true$' <<<"$info" || fail "build info lacks -trimpath=true"
# Go leaves -ldflags out of the build info when -trimpath is on, so -s is
# checked on the binary itself: it must carry no symbol table.
nm_out=$(go tool nm "$bin" 2>&1 || true)
if [[ $nm_out == *"no symbols"* ]]; then
	echo "go tool nm: no symbol table (-ldflags=-s took effect)"
else
	fail "$bin still has a symbol table; was -ldflags=\"-s -w\" dropped?"
fi
if command -v file >/dev/null; then
	file -b "$bin" | grep 'statically linked' >/dev/null || fail "file(1) does not call $bin statically linked: $(file -b "$bin")"
	echo "file: statically linked"
fi

step "4. Grafana, Compose and Prometheus files"
go -C tools run ./deploycheck ../deploy

# install_deb COMMAND PACKAGE installs Debian's PACKAGE if COMMAND is
# missing, and reports whether COMMAND is there afterwards.
install_deb() {
	command -v "$1" >/dev/null && return 0
	echo "$1 missing; installing Debian's $2 package"
	if ! apt-cache policy "$2" 2>/dev/null | grep -E 'Candidate: [0-9]' >/dev/null; then
		apt-get update -qq || true
	fi
	if apt-cache policy "$2" 2>/dev/null | grep -E 'Candidate: [0-9]' >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
			echo "apt-get install $2 failed" >&2
	fi
	command -v "$1" >/dev/null
}

step "5. promtool check config"
if install_deb promtool prometheus; then
	promtool check config deploy/prometheus/prometheus.yml
	(cd deploy/prometheus && promtool test rules alerts_test.yml)
elif [[ ${DEPLOY_CHECKS_REQUIRE_PROMTOOL:-0} == 1 ]]; then
	fail "promtool is not available"
else
	echo "SKIP: promtool is not available, Prometheus config checked by step 4 only"
fi

step "6. haproxy -c"
if install_deb haproxy haproxy; then
	out=$(haproxy -c -f deploy/haproxy/haproxy.cfg 2>&1) || { echo "$out" >&2; fail "haproxy -c rejects deploy/haproxy/haproxy.cfg"; }
	echo "$out"
	if unexpected=$(echo "$out" | grep -E '\[(WARNING|ALERT)\]' | grep -v 'could not resolve address'); then
		fail "haproxy -c warns about more than unresolvable replicas: $unexpected"
	fi
elif [[ ${DEPLOY_CHECKS_REQUIRE_PROMTOOL:-0} == 1 ]]; then
	fail "haproxy is not available"
else
	echo "SKIP: haproxy is not available, its config checked by step 4 only"
fi

step "7. smoke test of the healthcheck subcommand"
if [[ ${DEPLOY_CHECKS_SMOKE:-0} != 1 ]]; then
	echo "SKIP: set DEPLOY_CHECKS_SMOKE=1 to run it"
else
	port=
	for p in $(seq 18080 18119); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
	done
	[[ -n $port ]] || fail "no free port in 18080-18119"
	export CORR2D_ADDR=127.0.0.1:$port CORR2D_DATA_DIR=$tmp/data
	mkdir -p "$CORR2D_DATA_DIR"
	# With nothing listening the probe must fail, and quickly: a binary that
	# ignored the subcommand would start a server here and be timed out.
	rc=0
	timeout 10 "$bin" healthcheck || rc=$?
	case $rc in
	0) fail "healthcheck succeeded with no server running" ;;
	124) fail "healthcheck did not return within 10s with no server running" ;;
	esac
	"$bin" >"$tmp/server.log" 2>&1 &
	server_pid=$!
	healthy=
	for _ in $(seq 1 40); do
		if timeout 5 "$bin" healthcheck; then healthy=1; break; fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.5
	done
	if [[ -z $healthy ]]; then
		cat "$tmp/server.log" >&2
		fail "server did not become healthy on $CORR2D_ADDR"
	fi
	echo "healthcheck: ok on $CORR2D_ADDR"
	kill -TERM "$server_pid"
	for _ in $(seq 1 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
	if kill -0 "$server_pid" 2>/dev/null; then fail "server still running 30s after SIGTERM"; fi
	wait "$server_pid" || fail "server exited non-zero after SIGTERM (status $?)"
	server_pid=
	echo "server stopped cleanly on SIGTERM"
fi

echo
echo "deploy checks: all passed"
