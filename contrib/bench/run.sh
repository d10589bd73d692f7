#!/usr/bin/env bash
# run.sh - run xoverlay's benchmarks and regenerate contrib/bench/REPORT.md.
#
#   BENCH=all bash contrib/bench/run.sh        # every scenario (make bench)
#   BENCH=run bash contrib/bench/run.sh        # one (make bench BENCH=run)
#   BENCH=run,other bash contrib/bench/run.sh  # several
#
# Needs root, the simulated-host dependencies (make deps) and bin/xo (make
# build). Installs with apt-get the Debian packages the chosen scenarios
# need (peers, load generators; services are not started by the install).
# Each scenario is the subtest TestBench/<name> (build tag "bench") and
# writes contrib/bench/results/<name>.json; the report is then rebuilt from
# every results file present, so running one scenario keeps the others.
#
# Env: BENCH (default all), GO (default go), BENCH_ROUNDS (rounds per
# scenario, default per scenario, at least 3), XO_BENCH_AGENT_ARGS (extra
# flags for every agent, e.g. --debug-pprof for CPU profiles).
set -euo pipefail

log() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
GO=${GO:-go}
BENCH=${BENCH:-all}

# The scenarios and their packages, one a line: "name [package...]".
list=$("$GO" run ./contrib/bench/report -list) || die "cannot list the scenarios"
declare -A packages=()
names=()
while read -r name pkgs; do
	[[ -n $name ]] || continue
	names+=("$name")
	packages[$name]=$pkgs
done <<<"$list"
[[ ${#names[@]} -gt 0 ]] || die "no scenarios defined (contrib/bench/bench.go)"

selected=()
if [[ $BENCH == all ]]; then
	selected=("${names[@]}")
else
	IFS=',' read -r -a wanted <<<"$BENCH"
	for w in "${wanted[@]}"; do
		[[ -n $w ]] || continue
		[[ -v "packages[$w]" ]] || die "unknown scenario BENCH=$w; scenarios: ${names[*]} (or all)"
		[[ " ${selected[*]-} " == *" $w "* ]] || selected+=("$w")
	done
	[[ ${#selected[@]} -gt 0 ]] || die "BENCH is empty; scenarios: ${names[*]} (or all)"
fi
log "scenarios: ${selected[*]}"

[[ $(id -u) == 0 ]] || die "must run as root (the benchmarks start simulated Docker hosts)"
[[ -x bin/xo ]] || die "bin/xo is missing: run 'make build' (or use 'make bench')"

# Debian packages the selected scenarios need and do not have yet.
missing=()
for s in "${selected[@]}"; do
	for p in ${packages[$s]}; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			[[ " ${missing[*]-} " == *" $p "* ]] || missing+=("$p")
		fi
	done
done
if [[ ${#missing[@]} -gt 0 ]]; then
	bash contrib/testenv/apt-install.sh "${missing[@]}"
fi

# go test -run matches each slash-separated part separately.
pattern="^TestBench\$/^($(IFS='|'; echo "${selected[*]}"))\$"
stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT
log "go test -tags bench -run '$pattern'"
rc=0
"$GO" test -tags bench -count=1 -timeout 30m -v -run "$pattern" ./contrib/bench/... || rc=$?

# A scenario that was skipped (missing prerequisites) writes nothing.
for s in "${selected[@]}"; do
	f=contrib/bench/results/$s.json
	if [[ ! $f -nt $stamp ]]; then
		log "scenario $s wrote no new $f (failed or skipped; see above)"
		[[ $rc != 0 ]] || rc=1
	fi
done

"$GO" run ./contrib/bench/report -results contrib/bench/results -out contrib/bench/REPORT.md || die "report failed"
[[ $rc == 0 ]] || die "benchmarks failed (exit $rc); REPORT.md shows the results files present"
log "done: contrib/bench/REPORT.md"
