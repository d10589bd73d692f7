#!/usr/bin/env bash
# demo.sh - the xoverlay story so far, on one simulated Docker host:
# a network made once, plain `docker run` containers talking across it,
# and an agent crash that traffic does not notice. Run by `make demo`
# (after `make deps build`); KEEP=1 leaves the host up afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
hosts="$root/contrib/testenv/hosts.sh"
xo="$root/bin/xo"
state=/run/xo-test/h1
sock="$state/xo.sock"

bold=$(tput bold 2>/dev/null || true) dim=$(tput dim 2>/dev/null || true) off=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
say() { printf '%s%s%s\n' "$dim" "$*" "$off"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$off"; "$@"; }
d() { run docker -H "unix://$state/docker.sock" "$@"; }
x() { run "$xo" --api-socket "$sock" "$@"; }
agent_pid=

start_agent() {
	"$hosts" exec 1 "$xo" agent --state-dir "$state/xo" --api-socket "$sock" \
		--docker-host "unix://$state/docker.sock" --hostname h1 >>"$state/xo-agent.log" 2>&1 &
	agent_pid=$!
	for _ in $(seq 100); do
		"$xo" --api-socket "$sock" info >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "the agent did not come up; its log:" >&2
	tail -20 "$state/xo-agent.log" >&2
	return 1
}

cleanup() {
	[[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null || true
	if [[ ${KEEP:-} == 1 ]]; then
		say "KEEP=1: host h1 stays up; remove it with: $hosts down"
	else
		"$hosts" down >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

step "1. A simulated Docker host"
say "A network namespace with its own dockerd, standing in for a real host."
"$hosts" up 1
bash "$root/contrib/images/build.sh" "$state/docker.sock" >/dev/null
say "Images built offline (FROM scratch + a static Go binary): xo-demo:v1, xo-probe."

step "2. Start the xoverlay agent"
say "It serves the Docker plugin 'xoverlay' (network + IPAM driver) and keeps the"
say "cluster state in raft on local disk: a single-node cluster by default."
start_agent
x info

step "3. Create the network once"
d network create -d xoverlay --ipam-driver xoverlay --subnet 10.100.0.0/24 appnet
d network inspect -f 'driver={{.Driver}} ipam={{.IPAM.Driver}} subnet={{(index .IPAM.Config 0).Subnet}}' appnet

step "4. Plain docker run, unchanged"
d run -d --net appnet --name timetrack -e VERSION=v1 xo-demo:v1
d run -d --net appnet --name proxy xo-demo:v1
say "The proxy calls timetrack by name:"
d exec proxy /probe http -n 1 http://timetrack:8080/

step "5. What the cluster state says"
x network ls
x network inspect --format '{{range .Hosts}}{{.Hostname}}:{{range .Endpoints}} {{.Container}}={{.IP}}{{end}}{{end}}' appnet
say "In the kernel: a bridge holding the gateway and a VXLAN device (learning off, port 4789):"
"$hosts" exec 1 ip -br link show type bridge
vni=$("$xo" --api-socket "$sock" network inspect --format '{{.VNI}}' appnet)
"$hosts" exec 1 ip -d link show "xov-$vni" | grep -oE '^[0-9]+: [^ ]+|mtu 1450|vxlan id [0-9]+|dstport [0-9]+|nolearning' | paste -sd' '

step "6. kill -9 the agent: traffic keeps flowing"
kill -9 "$agent_pid"
wait "$agent_pid" 2>/dev/null || true
agent_pid=
d exec proxy /probe http -n 3 -interval 200ms http://timetrack:8080/
say "Restarting it: it re-reads its state, re-applies what is missing, removes orphans."
start_agent
d run -d --net appnet --name blog xo-demo:v1
say "The new container got a fresh address, never one already in use:"
x network inspect --format '{{range .Hosts}}{{range .Endpoints}}{{.Container}}={{.IP}} {{end}}{{end}}' appnet

step "7. Bad input is refused with a clear error, and leaves nothing behind"
d network create -d xoverlay --subnet 10.101.0.0/24 noipam || true
d network create -d xoverlay --ipam-driver xoverlay --subnet 10.100.0.0/16 overlap || true

step "8. Clean up"
d rm -f timetrack proxy blog >/dev/null
d network rm appnet
x network ls
say "Done: one host for now; multi-host VXLAN, DNS across hosts and services come next."
