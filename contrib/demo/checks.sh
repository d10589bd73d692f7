# shellcheck shell=bash disable=SC2154 # root, work, probe...: set by lib.sh
# checks.sh - what contrib/demo/demo.sh verifies (sourced after lib.sh).
# A check prints why it does not hold and returns 1, so that `eventually`
# can retry it and fail the demo with that reason.

build_images() {
	local i pids=() pid
	bash "$root/contrib/images/build.sh" /run/xo-test/h1/docker.sock "$imgdir" >"$work/images-h1.log" 2>&1 ||
		{ cat "$work/images-h1.log" >&2; fail "building the images on h1 failed (above)"; }
	for i in 2 3; do # the binaries are built now: only images
		bash "$root/contrib/images/build.sh" "/run/xo-test/h$i/docker.sock" "$imgdir" >"$work/images-h$i.log" 2>&1 &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || { cat "$work"/images-h*.log >&2; fail "building the images failed (above)"; }
	done
	(cd "$root" && "${GO:-go}" build -o "$loadcheck" ./contrib/demo/loadcheck) || fail "go build ./contrib/demo/loadcheck failed"
	grep -q 'probe load' <<<"$("$probe" help)" ||
		fail "this probe has no 'load' command (contrib/probe/load.go): the rolling update steps need it"
}

# managers_ready I: host hI sees three ready managers, one of them leader.
managers_ready() {
	local out
	out=$(xo_ "$1" node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}') || return 1
	if [[ $(grep -c ' ready ' <<<"$out") != 3 || $(grep -c ' Leader$' <<<"$out") != 1 ||
		$(grep -c ' Reachable$' <<<"$out") != 2 ]]; then
		echo "$out"
		return 1
	fi
}

# leader_seen_by I: the hostname of the leader, as host hI sees it.
leader_seen_by() { xo_ "$1" node ls --format '{{if eq .ManagerStatus "Leader"}}{{.Hostname}}{{end}}' | tr -d '\n'; }

# new_leader I OLD: host hI sees a leader other than OLD, and OLD down.
new_leader() {
	local out leader
	out=$(xo_ "$1" node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}') || return 1
	leader=$(awk '$3 == "Leader" {print $1}' <<<"$out")
	if [[ -z $leader || $leader == "$2" ]] || ! grep -q "^$2 down " <<<"$out"; then
		echo "$out"
		return 1
	fi
}

has_network() {
	local out
	out=$(dk "$1" network inspect -f '{{.Driver}} {{(index .IPAM.Config 0).Subnet}}' appnet 2>&1) || { echo "$out"; return 1; }
	[[ $out == "xoverlay 10.100.0.0/24" ]] || { echo "h$1 has appnet as: $out"; return 1; }
}

no_network() {
	local out
	out=$(dk "$1" network ls -q --filter driver=xoverlay)
	[[ -z $out ]] || { echo "h$1 still has xoverlay networks: $out"; return 1; }
}

# network_empty: no container on appnet on any host (the service's tasks
# and the routing mesh's container stop after `xo service rm`).
network_empty() {
	local out
	# shellcheck disable=SC2016 # a Go template
	out=$(xo_ 1 network inspect --format '{{range .Hosts}}{{$h := .Hostname}}{{range .Endpoints}}{{.Container}}@{{$h}} {{end}}{{end}}' appnet)
	[[ -z ${out// /} ]] || { echo "still on appnet: $out"; return 1; }
}

ip_of() { dk "$1" inspect -f '{{(index .NetworkSettings.Networks "appnet").IPAddress}}' "$2"; }

# started_at: when timetrack and proxy started (a restart changes it).
started_at() { echo "$(dk 2 inspect -f '{{.State.StartedAt}}' timetrack) $(dk 3 inspect -f '{{.State.StartedAt}}' proxy)"; }

# chain I: proxy (h3) calls timetrack (h2), which calls mongo, on hI, by
# name; the answer must come from the mongo container running now.
chain() {
	local id
	id=$(dk "$1" inspect -f '{{.Config.Hostname}}' mongo)
	show h3 docker exec proxy /probe http http://127.0.0.1:8080/call
	eventually 5 "proxy → timetrack → mongo on h$1" chain_once "$id"
	nojunk <<<"$REPLY" >&3
	ok "proxy (h3) → timetrack (h2) → mongo (h$1, $(ip_of "$1" mongo)), by name at every hop$(tries_note)"
}

chain_once() {
	local out
	out=$(dk 3 exec proxy /probe http -timeout 3s http://127.0.0.1:8080/call 2>&1) || { echo "$out"; return 1; }
	[[ $out == *"\"hostname\":\"$1\""* ]] || { echo "the answer is not from mongo ($1): $out"; return 1; }
	echo "$out"
}

tries_note() { ((TRIES == 1)) || printf ' (answered at try %d)' "$TRIES"; }

# web_running N: N tasks of web meant to run, all running, on h1 and h2,
# and REPLICAS N/N.
web_running() {
	local out
	out=$(xo_ 1 service ps web --filter desired-state=running --format '{{.Node}} {{.State}}') || return 1
	if [[ $(grep -c '^h[12] running$' <<<"$out") != "$1" || $(wc -l <<<"$out") != "$1" ]]; then
		echo "tasks: $out"
		return 1
	fi
	out=$(xo_ 1 service ls --filter name=web --format '{{.Replicas}}')
	[[ $out == "$1/$1" ]] || { echo "replicas $out"; return 1; }
}

# tasks: "CONTAINER12 NODE" for each task of web meant to run.
tasks() {
	xo_ 1 service ps web --filter desired-state=running --format '{{.ContainerID}} {{.Node}}' |
		awk '{print substr($1, 1, 12), $2}'
}

# resolves_to NAME WANT: NAME resolves to WANT (addresses sorted, space
# separated) in the container client.
resolves_to() {
	local out
	out=$(dk 3 exec client /probe resolve -timeout 3s "$1" 2>&1 | sort -V | paste -sd' ')
	[[ $out == "$2" ]] || { echo "$1 resolves to: $out"; return 1; }
}

# task_ips: the addresses of web's tasks on appnet, sorted.
task_ips() {
	local id node
	while read -r id node; do ip_of "${node#h}" "$id"; done <<<"$(tasks)" | sort -V | paste -sd' '
}

# spread_over_tasks: 30 requests from client to http://web:8080/ (a new
# connection each) reach every task of web.
spread_over_tasks() {
	local out ts id node n
	ts=$(tasks)
	say "30 requests from client to http://web:8080/, a new connection each:"
	show h3 docker exec client /probe http -n 30 http://web:8080/
	out=$(dk 3 exec client /probe http -n 30 -timeout 3s http://web:8080/ 2>&1) || fail "requests to http://web:8080/ failed: $out"
	head -2 <<<"$out" | nojunk >&3
	say "... (28 more)"
	while read -r id node; do
		n=$(grep -c "\"hostname\":\"$id\"" <<<"$out" || true)
		((n > 0)) || fail "no answer from the task $id on $node among 30 requests to the VIP"
		ok "task $id on $node: $n answers"
	done <<<"$ts"
}

# mesh_answers I VERSION: the published port of hI answers, from a task
# of web of VERSION.
mesh_answers() {
	local i=$1 id node ts
	if command -v curl >/dev/null; then show outside curl -s "http://198.18.0.1$i:8080/"; else show outside probe http "http://198.18.0.1$i:8080/"; fi
	eventually 10 "h$i:8080 answers from web" fetch "http://198.18.0.1$i:8080/"
	nojunk <<<"$REPLY" >&3
	[[ $REPLY == *"\"version\":\"$2\""* ]] || fail "h$i:8080 answered another version than $2: $REPLY"
	ts=$(tasks)
	while read -r id node; do
		[[ $REPLY == *"\"hostname\":\"$id\""* ]] || continue
		if [[ $i == 3 ]]; then
			ok "h3, which runs no task of web, passed it to task $id on $node"
		else
			ok "h$i:8080 answered from task $id on $node"
		fi
		return 0
	done <<<"$ts"
	fail "h$i:8080 answered from a container that is no task of web: $REPLY"
}

# fetch URL: one GET from outside the hosts (curl, or the probe).
fetch() {
	if command -v curl >/dev/null; then
		curl -sS --fail --max-time 3 "$1"
	else
		"$probe" http -timeout 3s "$1"
	fi
}

port_closed() { ! fetch "http://198.18.0.1$1:8080/" >/dev/null 2>&1 || { echo "h$1:8080 still answers"; return 1; }; }

# on_version VERSION STATE: the update status is STATE, 3 tasks of the
# spec run (the old ones stopped), and 12 requests through the VIP are
# all answered by VERSION.
on_version() {
	local out n=0 i
	out=$(xo_ 1 service inspect --format '{{.UpdateStatus.State}}' web) || return 1
	[[ $out == "$2" ]] || { echo "update status: $out, want $2"; return 1; }
	out=$(xo_ 1 service ps web --filter desired-state=running --format '{{.State}} {{.Outdated}}') || return 1
	[[ $(grep -c '^running false$' <<<"$out") == 3 && $(wc -l <<<"$out") == 3 ]] || { echo "tasks: $out"; return 1; }
	for i in 1 2 3; do n=$((n + $(dk "$i" ps -q --filter label=xo.service=web | wc -l))); done
	((n == 3)) || { echo "$n web containers running on the engines, want 3"; return 1; }
	out=$(dk 3 exec client /probe http -n 12 -timeout 3s http://web:8080/ 2>&1) || { echo "$out"; return 1; }
	[[ $(grep -c "\"version\":\"$1\"" <<<"$out") == 12 ]] || { echo "answers: $out"; return 1; }
	ok "3 tasks of $1 running, the old containers stopped, 12 of 12 answers through the VIP from $1"
}
