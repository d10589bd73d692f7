# shellcheck shell=bash
# lib.sh - helpers of contrib/demo/demo.sh (sourced): narration, commands
# on the simulated hosts, checks that fail the demo, the machine-wide lock,
# the agents and the load generators.
#
# File descriptors: 3 is the demo's stdout (commands are shown there even
# while their output is captured), 7 holds the lock. Processes that may
# outlive a step (dockerd, agents, load generators) get neither.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
hosts="$root/contrib/testenv/hosts.sh"
xo="$root/bin/xo"
imgdir=${TMPDIR:-/tmp}/xo-demo-images # build.sh's OUT_DIR: demoapp, probe; plus loadcheck
probe=$imgdir/probe
loadcheck=$imgdir/loadcheck
work="" # load reports and logs, made by begin
ctl=/run/xo-test/h3/demo # /ctl in the container client: the load generators' stop file
vip_rate=200 mesh_rate=300 # requests/s of the load generators
declare -A agent_pid=()
load_pids=()
step_no=0 step_title="start" t0=$SECONDS

# The demo's traffic stays on this machine: no proxy, and docker talks to
# the simulated engines only.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY DOCKER_HOST DOCKER_CONTEXT
exec 3>&1

bold=$(tput bold 2>/dev/null || true) dim=$(tput dim 2>/dev/null || true)
red=$(tput setaf 1 2>/dev/null || true) green=$(tput setaf 2 2>/dev/null || true) off=$(tput sgr0 2>/dev/null || true)

clock() { printf '%d:%02d' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)); }
step() {
	step_no=$((step_no + 1)) step_title=$*
	printf '\n%s== %d. %s%s %s[%s]%s\n' "$bold" "$step_no" "$*" "$off" "$dim" "$(clock)" "$off" >&3
}
say() { printf '%s%s%s\n' "$dim" "$*" "$off" >&3; }
ok() { printf '%s✓ %s%s\n' "$green" "$*" "$off" >&3; }
fail() {
	printf '\n%sDEMO FAILED in step %d (%s): %s%s\n' "$red$bold" "$step_no" "$step_title" "$*" "$off" >&2
	exit 1
}

# quoted ARGS: the arguments as one would type them in a shell.
quoted() {
	local a safe='^[A-Za-z0-9_./:=,@%+-]+$' out=()
	for a in "$@"; do
		if [[ $a =~ $safe ]]; then out+=("$a"); else out+=("'$a'"); fi
	done
	printf '%s' "${out[*]}"
}
show() { printf '%s[%s]$ %s%s\n' "$bold" "$1" "$(quoted "${@:2}")" "$off" >&3; }
# show_bg WHERE CMD...: show a command started in the background.
show_bg() { printf '%s[%s]$ %s &%s\n' "$bold" "$1" "$(quoted "${@:2}")" "$off" >&3; }
# nojunk: the demo app's JSON without the client's address and port.
nojunk() { sed -E 's/,"remote":"[^"]*"//g'; }

dk() { docker -H "unix:///run/xo-test/h$1/docker.sock" "${@:2}"; }
xo_() { "$xo" --api-socket "/run/xo-test/h$1/xo.sock" "${@:2}"; }
# on I TOOL ARGS...: show and run a docker or xo command (or any command
# inside the host's namespaces) on host hI.
on() {
	local i=$1 tool=$2
	shift 2
	show "h$i" "$tool" "$@"
	case $tool in
	docker) dk "$i" "$@" ;;
	xo) xo_ "$i" "$@" ;;
	*) "$hosts" exec "$i" "$tool" "$@" ;;
	esac
}
# outside CMD...: show and run a command in the machine's own namespace,
# a client outside the simulated hosts that reaches them on the underlay.
outside() {
	show outside "$@"
	"$@"
}
# get URL: one GET from outside the hosts, with curl when there is one.
get() {
	if command -v curl >/dev/null; then
		outside curl -sS --max-time 3 "$1"
	else
		show outside probe http "$1"
		"$probe" http -timeout 3s "$1"
	fi
}

# eventually SECONDS WHAT CMD...: run CMD (quietly) until it succeeds,
# leaving its output in REPLY and the number of tries in TRIES; fail the
# demo with WHAT and CMD's last output when it still does not after SECONDS.
eventually() {
	local secs=$1 what=$2 out end=$((SECONDS + $1))
	shift 2
	TRIES=0
	while :; do
		TRIES=$((TRIES + 1))
		if out=$("$@" 2>&1); then
			REPLY=$out
			return 0
		fi
		((SECONDS < end)) || fail "$what: not so after ${secs}s${out:+: $out}"
		sleep 0.2
	done
}

# begin takes the lock, then owns the hosts: from now on the demo's exit
# removes them (not before: they may be another run's).
begin() {
	take_lock
	work=$(mktemp -d "${TMPDIR:-/tmp}/xo-demo.XXXXXX")
	t0=$SECONDS
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'fail "this command failed with status $?: $BASH_COMMAND"' ERR
}

# take_lock holds the machine-wide lock of the simulated hosts (the e2e
# harness's clusterLock) until the demo exits: one cluster at a time.
take_lock() {
	local dir=/run/lock
	[[ -d $dir ]] || dir=${TMPDIR:-/tmp}
	local f=$dir/xo-test-cluster.lock
	exec 7>>"$f"
	if ! flock -n 7; then
		say "waiting for another run of the simulated hosts (an e2e test, a benchmark or a demo holds $f)"
		local start=$SECONDS
		flock -w 1800 7 || fail "still waiting for $f after 30 minutes; see who holds it: fuser -v $f"
		say "got the lock after $((SECONDS - start))s"
	fi
}

start_agent() {
	local i=$1 st=/run/xo-test/h$1
	"$hosts" exec "$i" "$xo" agent --state-dir "$st/xo" --api-socket "$st/xo.sock" \
		--docker-host "unix://$st/docker.sock" --hostname "h$i" --advertise-addr "198.18.0.$((10 + i))" \
		>>"$st/xo-agent.log" 2>&1 3>&- 7>&- &
	agent_pid[$i]=$!
	disown "$!" # the demo kills one on purpose: no job-control noise
	local n
	for ((n = 0; n < 100; n++)); do
		xo_ "$i" info >/dev/null 2>&1 && return 0
		kill -0 "${agent_pid[$i]}" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$st/xo-agent.log" >&2
	fail "the agent on h$i did not come up (its log is above)"
}

# agent_logs prints the last lines of each agent's log (no debug lines).
agent_logs() {
	local i
	for i in 1 2 3; do
		[[ -f /run/xo-test/h$i/xo-agent.log ]] || continue
		echo "--- h$i xo-agent.log (tail):" >&2
		grep -v 'level=DEBUG' "/run/xo-test/h$i/xo-agent.log" | tail -15 >&2 || true
	done
}

cleanup() {
	local rc=$? pid
	[[ ! -d $ctl ]] || touch "$ctl/stop" # the load generators in the client container too
	for pid in "${load_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	if [[ $rc != 0 ]]; then
		agent_logs
		echo "load reports and logs: $work" >&2
	fi
	for pid in "${agent_pid[@]}"; do kill "$pid" 2>/dev/null || true; done
	if [[ ${KEEP:-} == 1 ]]; then
		say "KEEP=1: hosts h1-h3 stay up (agents stopped); remove them with: $hosts down"
	else
		"$hosts" down >/dev/null 2>&1 || echo "hosts.sh down failed; run: $hosts down" >&2
	fi
	[[ $rc != 0 ]] || rm -rf "$work"
	exit "$rc"
}

# load_start TAG: the clients of a rolling update, in the background: one
# in the container client on h3, through the VIP of web; one outside the
# hosts, through the published port of h1, h2 and h3 in turn. Both stop
# when $ctl/stop exists (load_finish), after 2 minutes at the latest.
load_start() {
	local tag=$1
	((${#load_pids[@]} == 0)) || fail "the load generators of an earlier step still run"
	rm -f "$ctl/stop"
	show_bg h3 docker exec client /probe load -url http://web:8080/ -rate "$vip_rate" -duration 2m -stop-file /ctl/stop
	dk 3 exec client /probe load -url http://web:8080/ -rate "$vip_rate" -duration 2m -stop-file /ctl/stop \
		>"$work/$tag-vip.json" 2>"$work/$tag-vip.log" 3>&- 7>&- &
	load_pids+=($!)
	local urls=(-url http://198.18.0.11:8080/ -url http://198.18.0.12:8080/ -url http://198.18.0.13:8080/)
	show_bg outside probe load "${urls[@]}" -rate "$mesh_rate" -duration 2m -stop-file "$ctl/stop"
	"$probe" load "${urls[@]}" -rate "$mesh_rate" -duration 2m -stop-file "$ctl/stop" \
		>"$work/$tag-mesh.json" 2>"$work/$tag-mesh.log" 3>&- 7>&- &
	load_pids+=($!)
	sleep 2
	local f line
	for f in vip mesh; do
		line=$(tail -1 "$work/$tag-$f.log" 2>/dev/null || true)
		[[ $line =~ ok=([1-9][0-9]*) ]] || fail "the $f client gets no answers: ${line:-no progress line} (log $work/$tag-$f.log)"
		say "  $f client: $line"
	done
}

# load_finish TAG VERSIONS: stop both clients, print their summaries, and
# fail unless no request failed and the answers went through VERSIONS
# (v1,v2), ending on the last.
load_finish() {
	local tag=$1 versions=$2 pid
	touch "$ctl/stop"
	for pid in "${load_pids[@]}"; do
		wait "$pid" || fail "a load generator exited with status $? (logs in $work)"
	done
	load_pids=()
	"$loadcheck" -label "through the VIP, client on h3 → web:8080" -versions "$versions" "$work/$tag-vip.json" >&3 ||
		fail "requests through the VIP failed or answered other versions (above)"
	"$loadcheck" -label "through the published port, outside → h1, h2, h3 :8080" -versions "$versions" "$work/$tag-mesh.json" >&3 ||
		fail "requests through the published port failed or answered other versions (above)"
}
