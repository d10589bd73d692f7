#!/usr/bin/env bash
# demo.sh - the xoverlay story on three simulated Docker hosts, narrated
# step by step: a cluster formed with join tokens; a network created once;
# plain `docker run` containers finding each other by name across hosts and
# surviving the restart and move of the one they depend on; a leader crash;
# a service of 3 replicas behind a VIP and a published port; a rolling
# update and a rollback under load with no failed request; teardown.
#
# Every step checks what it says: when one does not, the demo stops with a
# non-zero exit and a message naming the step, so `make demo` is an
# end-to-end check too. Run by `make demo` (after `make deps build`). It
# holds the machine-wide lock of the simulated hosts (the e2e tests' and
# benchmarks') for its whole run. KEEP=1 leaves the hosts up.
set -euo pipefail
# shellcheck source=contrib/demo/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=contrib/demo/checks.sh
source "$(dirname "$0")/checks.sh"

begin

step "Three simulated Docker hosts"
say "Each is a network namespace with its own dockerd, on an underlay 198.18.0.0/15."
"$hosts" down >/dev/null 2>&1 || true # what an earlier run left behind
"$hosts" up 3 >"$work/hosts.log" 2>&1 3>&- 7>&- || { cat "$work/hosts.log" >&2; fail "hosts.sh up 3 failed (above)"; }
build_images
"$hosts" status
for i in 1 2 3; do start_agent "$i"; done
say "An xo agent runs on each: the Docker plugin 'xoverlay', a raft member, DNS, load balancing."

step "Form the cluster"
on 1 xo cluster init
token=$(xo_ 1 cluster token manager -q)
say "A wrong token is refused before anything is joined:"
if on 3 xo cluster join --token "${token%?????}aaaaa" 198.18.0.11; then fail "h3 joined with a wrong token"; fi
on 2 xo cluster join --token "$token" 198.18.0.11
on 3 xo cluster join --token "$token" 198.18.0.11
eventually 15 "three managers, all ready, one leader" managers_ready 2
say "Three managers (raft voters), as Swarm advises; mutual TLS between them."
on 2 xo node ls

step "Create the network once, on any host"
on 2 docker network create -d xoverlay --ipam-driver xoverlay --subnet 10.100.0.0/24 appnet
for i in 1 3; do
	eventually 10 "appnet on h$i" has_network "$i"
	on "$i" docker network ls --filter driver=xoverlay
done

step "Plain docker run on different hosts, finding each other by name"
say "Every engine's daemon.json has \"dns\": [\"169.254.53.53\"], the agent's DNS server."
on 1 docker run -d --net appnet --name mongo xo-demo:v1
on 2 docker run -d --net appnet --name timetrack -e CALL=http://mongo:8080/ xo-demo:v1
on 3 docker run -d --net appnet --name proxy -e CALL=http://timetrack:8080/call xo-demo:v1
started=$(started_at)
say "proxy (h3) calls timetrack (h2) by name, which calls mongo (h1) by name:"
chain 1
ip=$(ip_of 2 timetrack)
say "A full-size TCP payload crosses the VXLAN tunnel (MTU 1450 in the containers):"
on 3 docker exec proxy /probe tcp -size 1400 "$ip:7"
say "h3's VXLAN device learns nothing: its entries are written from the cluster state:"
on 3 bridge fdb show dev "xov-$(xo_ 3 network inspect --format '{{.VNI}}' appnet)"

step "Restart mongo, then move it to another host: nobody else restarts"
old=$(ip_of 1 mongo)
on 1 docker restart -t 1 mongo
say "mongo is back at $(ip_of 1 mongo) (was $old):"
chain 1
on 1 docker rm -f mongo
on 3 docker run -d --net appnet --name mongo xo-demo:v1
say "mongo now runs on h3, at $(ip_of 3 mongo):"
chain 3
[[ $(started_at) == "$started" ]] || fail "timetrack or proxy restarted: started at $(started_at), was $started"
ok "timetrack and proxy are the containers started at first, never restarted"

step "kill -9 the leader's agent: traffic keeps flowing, the cluster goes on"
leader=$(leader_seen_by 2)
[[ $leader =~ ^h[123]$ ]] || fail "no leader in xo node ls on h2: '$leader'"
n=${leader#h}
say "The leader is $leader; killing its agent."
kill -9 "${agent_pid[$n]}"
unset "agent_pid[$n]"
say "Containers keep talking (by address: on $leader, names wait for its agent):"
on 3 docker exec proxy /probe http -n 3 -interval 300ms "http://$ip:8080/" | nojunk
other=$((n % 3 + 1))
eventually 20 "a new leader, $leader down" new_leader "$other" "$leader"
on "$other" xo node ls
say "Restarting it: same identity, it rejoins by itself."
start_agent "$n"
eventually 20 "three managers, all ready, one leader" managers_ready "$other"
on "$other" xo node ls
chain 3

step "A service: 3 replicas behind a VIP and a published port"
say "Kept off h3 (a constraint), so h3 shows the published port on a host without a task;"
say "with a health check, so a task serves only once it is healthy."
on 1 xo service create --name web --replicas 3 --network appnet --publish 8080:8080 \
	--constraint 'node.hostname!=h3' --health-cmd '["CMD","/demoapp","-check"]' \
	--health-interval 500ms --health-retries 1 xo-demo:v1
eventually 20 "web: 3 tasks running and healthy, on h1 and h2" web_running 3
on 1 xo service ls
on 1 xo service ps web
vip=$(xo_ 1 service inspect --format '{{range .VirtualIPs}}{{.Addr}}{{end}}' web)
mkdir -p "$ctl"
on 3 docker run -d --net appnet --name client -v "$ctl:/ctl" xo-probe
say "web resolves to its virtual IP, tasks.web to the tasks:"
eventually 10 "web resolves to the VIP $vip" resolves_to web "$vip"
eventually 10 "tasks.web resolves to the 3 tasks" resolves_to tasks.web "$(task_ips)"
on 3 docker exec client /probe resolve web
on 3 docker exec client /probe resolve tasks.web
spread_over_tasks
say "The published port answers on every host, h3 included:"
for i in 1 2 3; do mesh_answers "$i" v1; done

step "Rolling update to v2 under load"
say "Two clients send requests all along and count every failure and every version answered:"
say "client (h3) through the VIP at $vip_rate/s, and one outside the hosts through the published"
say "port of h1, h2 and h3 in turn at $mesh_rate/s (keep-alive connections)."
load_start update
say "start-first: each new task starts, and serves once healthy; then the old one leaves DNS,"
say "the VIPs and the mesh on every host, its requests finish, and only then it gets SIGTERM."
on 1 xo service update --image xo-demo:v2 --env-add VERSION=v2 --update-order start-first \
	--update-monitor 1s --rollback-monitor 1s web
sleep 1
load_finish update v1,v2
eventually 20 "web: 3 tasks of v2, the old containers gone" on_version v2 completed
on 1 xo service ps web

step "Roll back to v1 under load"
load_start rollback
say "The rollback uses the rollback policy (stop-first, one at a time): each v2 task is taken"
say "out of service everywhere before it stops, while the two others serve."
on 2 xo service rollback web
sleep 1
load_finish rollback v2,v1
eventually 20 "web: 3 tasks of v1 again" on_version v1 rollback_completed
on 2 xo service inspect --format '{{.UpdateStatus.State}}: {{.UpdateStatus.Message}}' web

step "Teardown"
on 1 xo service rm web
for i in 1 2 3; do eventually 20 "port 8080 closed on h$i" port_closed "$i"; done
if get http://198.18.0.13:8080/; then fail "h3:8080 still answers"; fi
ok "port 8080 is closed on every host"
say "A network is not removed while any host has containers on it; xo names them:"
if on 2 xo network rm appnet; then fail "appnet was removed while containers were on it"; fi
on 3 docker rm -f client proxy mongo
on 2 docker rm -f timetrack
eventually 20 "no container left on appnet" network_empty
on 2 xo network rm appnet
for i in 1 2 3; do
	eventually 10 "appnet gone from h$i" no_network "$i"
	on "$i" docker network ls --filter driver=xoverlay
done
say "Stopping the agents and removing the hosts."
for pid in "${agent_pid[@]}"; do kill "$pid"; done
agent_pid=()
if [[ ${KEEP:-} != 1 ]]; then
	"$hosts" down >"$work/hosts.log" 2>&1 || { cat "$work/hosts.log" >&2; fail "hosts.sh down failed (above)"; }
fi
printf '\n%sDemo done in %s: every step did what it said.%s\n' "$bold" "$(clock)" "$off"
