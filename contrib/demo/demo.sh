#!/usr/bin/env bash
# demo.sh - the xoverlay story so far, on three simulated Docker hosts:
# a cluster formed with join tokens, a network created once on one host and
# present on all, plain `docker run` containers finding each other by name
# across hosts over VXLAN and surviving the restart and move of the one they
# depend on, and a leader crash that traffic does not notice. Run by
# `make demo` (after `make deps build`); KEEP=1 leaves the hosts up.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
hosts="$root/contrib/testenv/hosts.sh"
xo="$root/bin/xo"
declare -A agent_pid

bold=$(tput bold 2>/dev/null || true) dim=$(tput dim 2>/dev/null || true) off=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
say() { printf '%s%s%s\n' "$dim" "$*" "$off"; }
# on I CMD...: show and run a docker or xo command on host hI.
on() {
	local i=$1 tool=$2
	shift 2
	printf '%s[h%s]$ %s %s%s\n' "$bold" "$i" "$tool" "$*" "$off"
	case $tool in
	docker) docker -H "unix:///run/xo-test/h$i/docker.sock" "$@" ;;
	xo) "$xo" --api-socket "/run/xo-test/h$i/xo.sock" "$@" ;;
	*) "$hosts" exec "$i" "$tool" "$@" ;;
	esac
}
quiet() { "$@" >/dev/null 2>&1; }

start_agent() {
	local i=$1 st=/run/xo-test/h$1
	"$hosts" exec "$i" "$xo" agent --state-dir "$st/xo" --api-socket "$st/xo.sock" \
		--docker-host "unix://$st/docker.sock" --hostname "h$i" --advertise-addr "198.18.0.$((10 + i))" \
		--heartbeat-interval 250ms --node-suspect-after 1s --node-down-after 3s >>"$st/xo-agent.log" 2>&1 &
	agent_pid[$i]=$!
	disown "$!" # the demo kills one on purpose: no job-control noise
	for _ in $(seq 100); do
		quiet "$xo" --api-socket "$st/xo.sock" info && return 0
		sleep 0.1
	done
	echo "the agent on h$i did not come up; its log:" >&2
	tail -20 "$st/xo-agent.log" >&2
	return 1
}

cleanup() {
	for pid in "${agent_pid[@]}"; do kill "$pid" 2>/dev/null || true; done
	if [[ ${KEEP:-} == 1 ]]; then
		say "KEEP=1: hosts h1-h3 stay up; remove them with: $hosts down"
	else
		"$hosts" down >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

step "1. Three simulated Docker hosts"
say "Each is a network namespace with its own dockerd, on an underlay 198.18.0.0/15."
"$hosts" up 3
for i in 1 2 3; do
	bash "$root/contrib/images/build.sh" "/run/xo-test/h$i/docker.sock" >/dev/null
	start_agent "$i"
done
say "An xo agent runs on each: the Docker plugin 'xoverlay' plus a raft member."

step "2. Form the cluster"
on 1 xo cluster init
token=$("$xo" --api-socket /run/xo-test/h1/xo.sock cluster token manager -q)
say "A wrong token is refused before anything is joined:"
on 3 xo cluster join --token "${token%?????}aaaaa" 198.18.0.11 || true
on 2 xo cluster join --token "$token" 198.18.0.11
on 3 xo cluster join --token "$token" 198.18.0.11
say "Three managers (raft voters), as Swarm advises; mutual TLS between them."
sleep 1
on 2 xo node ls

step "3. Create the network once, on any host"
on 2 docker network create -d xoverlay --ipam-driver xoverlay --subnet 10.100.0.0/24 appnet
sleep 0.5
for i in 1 3; do on "$i" docker network ls --filter driver=xoverlay; done

step "4. Plain docker run on different hosts, finding each other by name"
say "Every engine's daemon.json has \"dns\": [\"169.254.53.53\"]: Docker's resolver (127.0.0.11)"
say "forwards the names it does not know to the xo agent's DNS server on that address."
on 1 docker run -d --net appnet --name mongo xo-demo:v1
on 2 docker run -d --net appnet --name timetrack -e CALL=http://mongo:8080/ xo-demo:v1
on 3 docker run -d --net appnet --name proxy -e CALL=http://timetrack:8080/call xo-demo:v1
ip=$(docker -H unix:///run/xo-test/h2/docker.sock inspect -f '{{(index .NetworkSettings.Networks "appnet").IPAddress}}' timetrack)
chain() { on 3 docker exec proxy /probe http http://127.0.0.1:8080/call | sed 's/"remote":"[^"]*",\?//g'; }
say "proxy (h3) calls timetrack (h2) by name, which calls mongo (h1) by name:"
sleep 0.5
chain
on 3 docker exec proxy /probe tcp -size 1400 "$ip:7"
say "h3's VXLAN device learns nothing: its entries are written from the cluster state:"
vni=$("$xo" --api-socket /run/xo-test/h3/xo.sock network inspect --format '{{.VNI}}' appnet)
on 3 bridge fdb show dev "xov-$vni"

step "5. Restart mongo, then move it to another host: nobody else restarts"
on 1 docker restart -t 1 mongo
chain
on 1 docker rm -f mongo
on 3 docker run -d --net appnet --name mongo xo-demo:v1
sleep 0.2
chain
say "The same proxy and timetrack containers, never restarted:"
on 2 docker ps --format '{{.Names}} up {{.RunningFor}}'
on 3 docker ps --format '{{.Names}} up {{.RunningFor}}'

step "6. kill -9 the leader's agent: traffic keeps flowing, the cluster goes on"
leader=$("$xo" --api-socket /run/xo-test/h2/xo.sock node ls --format '{{if eq .ManagerStatus "Leader"}}{{.Hostname}}{{end}}' | tr -d '\n')
n=${leader#h}
say "The leader is $leader; killing its agent."
kill -9 "${agent_pid[$n]}"
unset "agent_pid[$n]"
on 3 docker exec proxy /probe http -n 3 -interval 300ms "http://$ip:8080/"
other=$(( n % 3 + 1 ))
sleep 4
on "$other" xo node ls
say "Restarting it: same identity, it rejoins by itself."
start_agent "$n"
sleep 2
on "$other" xo node ls

step "7. Remove the network everywhere"
say "Refused while any host still has containers on it, naming them:"
on 2 xo network rm appnet || true
on 2 docker rm -f timetrack >/dev/null
on 3 docker rm -f proxy mongo >/dev/null
sleep 0.5
on 2 xo network rm appnet
sleep 1
for i in 1 2 3; do on "$i" docker network ls --filter driver=xoverlay; done
say "Done. Next: services, load balancing, rolling updates."
