#!/usr/bin/env bash
# hosts.sh - simulated Docker hosts h1..hN on one machine, for xoverlay tests.
#
#   hosts.sh up N          create/refresh hosts h1..hN (removes hosts > N)
#   hosts.sh down          remove every host and all traces (also after a
#                          half-failed "up"); safe to run repeatedly
#   hosts.sh env           print "export XO_..." lines describing the hosts
#   hosts.sh status        one line per host
#   hosts.sh exec I [CMD...]   run CMD (default: bash) inside host I's
#                          network, mount and UTS namespaces; DOCKER_HOST,
#                          XO_HOST, XO_HOST_INDEX and XO_HOST_ADDR are set
#   hosts.sh docker I ARGS...  run the docker CLI against host I's engine
#   hosts.sh stop-docker I | start-docker I | restart-docker I
#                          stop (gracefully: containers stop with it) or
#                          start host I's dockerd; the host stays up
#
# Layout. In the root network namespace a bridge "xo-underlay"
# (198.18.0.1/15) is the underlay. Host i has:
#   network namespace  xo-h$i (/var/run/netns/xo-h$i), eth0 = 198.18.0.(10+i)/15
#                      connected through veth "xo-h$i" to the bridge; no
#                      default route, so nothing leaves the simulated underlay
#   mount namespace    /run/xo-test/h$i/mnt, UTS namespace /run/xo-test/h$i/uts
#                      (hostname h$i). Private per host (bind mounts of
#                      /run/xo-test/h$i/root/<path>): /run/docker (with
#                      plugins/), /run/containerd, /run/netns, /etc/docker.
#                      /sys is a sysfs of the host's netns (cgroups re-bound).
#   dockerd            socket /run/xo-test/h$i/docker.sock (reachable from the
#                      root namespace), log /run/xo-test/h$i/dockerd.log,
#                      data /var/lib/xo-test/h$i/docker, exec-root
#                      /run/xo-test/h$i/exec, its own managed containerd,
#                      --bridge=none, cgroupfs driver, --cgroup-parent /xo-h$i
#
# The plugin directory of host i, seen from the root namespace, is
# /run/xo-test/h$i/root/run/docker/plugins (= /run/docker/plugins inside).
#
# Each engine's daemon.json sets "dns" to the xo agent's DNS address
# (169.254.53.53, the one-time engine setting xoverlay's discovery needs:
# Docker's embedded resolver forwards the names it does not know there).
#
# Env: XO_DOCKERD_ARGS (extra dockerd flags), XO_DOCKERD_LOG_LEVEL (info),
#      XO_UNDERLAY_MTU (1500), XO_UP_TIMEOUT (60 seconds per dockerd),
#      XO_DNS (169.254.53.53; empty leaves the engine's dns unset).
set -euo pipefail

STATE=/run/xo-test
DATA=/var/lib/xo-test
BRIDGE=xo-underlay
NET=198.18.0
PLEN=15
MTU=${XO_UNDERLAY_MTU:-1500}
UP_TIMEOUT=${XO_UP_TIMEOUT:-60}
MAXHOSTS=200
DNS=${XO_DNS-169.254.53.53}
# Paths made private (per host) inside each host's mount namespace.
PRIVATE_DIRS=(/run/docker /run/containerd /run/netns /etc/docker)
FWD_RULE=(FORWARD -i "$BRIDGE" -o "$BRIDGE" -m comment --comment xo-test -j ACCEPT)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { echo "hosts.sh: $*" >&2; }
die() {
	echo "hosts.sh: ERROR: $*" >&2
	exit 1
}

usage() {
	sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

need_root() { [[ $(id -u) == 0 ]] || die "must run as root"; }

hdir() { echo "$STATE/h$1"; }
haddr() { echo "$NET.$((10 + $1))"; }
hnetns() { echo "/run/netns/xo-h$1"; }
hsock() { echo "$STATE/h$1/docker.sock"; }

docker_cli() {
	local i=$1
	shift
	env -u DOCKER_CONTEXT -u DOCKER_HOST docker -H "unix://$(hsock "$i")" "$@"
}

lock() {
	local f=/run/lock/xo-test.lock
	[[ -d /run/lock ]] || f=/tmp/xo-test.lock
	exec 9>"$f"
	if ! flock -n 9; then
		log "waiting for another hosts.sh (lock $f)"
		flock -w 600 9 || die "timeout waiting for $f"
	fi
}

valid_index() { [[ $1 =~ ^[0-9]+$ && $1 -ge 1 && $1 -le $MAXHOSTS ]]; }

# ---------------------------------------------------------------- discovery

# All host indices that have any trace on this machine.
known_hosts() {
	{
		local p
		for p in "$STATE"/h* "$DATA"/h* /run/netns/xo-h* /sys/fs/cgroup/xo-h* /sys/fs/cgroup/*/xo-h*; do
			[[ -e $p ]] || continue
			p=${p##*/}
			p=${p#xo-}
			echo "${p#h}"
		done
		ip -o link show 2>/dev/null | sed -nE 's/^[0-9]+: xo-h([0-9]+)[@:].*/\1/p'
		grep -laE 'xo-test/h[0-9]+/' /proc/[0-9]*/cmdline 2>/dev/null |
			while read -r f; do
				tr '\0' '\n' <"$f" 2>/dev/null | sed -nE 's|.*xo-test/h([0-9]+)/.*|\1|p'
			done
	} | grep -E '^[0-9]+$' | sort -n -u || true
}

# Prints the pids belonging to host $1 (namespace, cgroup or command line),
# excluding this script and its ancestors.
host_pids() {
	local i=$1 d
	d=$(hdir "$i")
	local -A skip=()
	local p=$$
	while [[ $p -gt 1 ]]; do
		skip[$p]=1
		p=$(awk '/^PPid:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 1)
	done
	skip[$BASHPID]=1
	local want=()
	local f kind
	for kind in mnt uts; do
		f=$d/$kind
		if mountpoint -q "$f" 2>/dev/null; then
			want+=("$kind:[$(stat -L -c %i "$f")]")
		fi
	done
	f=$(hnetns "$i")
	if mountpoint -q "$f" 2>/dev/null; then
		want+=("net:[$(stat -L -c %i "$f")]")
	fi
	{
		if [[ ${#want[@]} -gt 0 ]]; then
			local pat
			pat=$(printf '%s\n' "${want[@]}" | sed 's/[][]/\\&/g' | paste -sd'|')
			find /proc/[0-9]*/ns -maxdepth 1 \( -name mnt -o -name net -o -name uts \) -printf '%h %l\n' 2>/dev/null |
				grep -E " ($pat)\$" | sed -E 's|^/proc/([0-9]+)/ns .*|\1|'
		fi
		grep -lE ":/xo-h$i(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3
		grep -laF "xo-test/h$i/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3
	} | sort -n -u | while read -r p; do
		[[ -n $p && -z ${skip[$p]-} ]] || continue
		# skip zombies and processes that are already gone
		local st
		st=$(awk '/^State:/{print $2}' "/proc/$p/status" 2>/dev/null) || continue
		[[ $st != Z && -n $st ]] || continue
		echo "$p"
	done
}

# ---------------------------------------------------------------- teardown

# Container processes of host $1 (cgroup below /xo-h$1).
container_pids() {
	grep -lE ":/xo-h$1(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | while read -r p; do
		[[ $p != "$$" && $p != "$BASHPID" ]] || continue
		st=$(awk '/^State:/{print $2}' "/proc/$p/status" 2>/dev/null) || continue
		[[ $st != Z && -n $st ]] && echo "$p"
	done
}

# wait_gone SECONDS FUNC ARGS: polls until FUNC prints nothing.
wait_gone() {
	local t=$1 n
	shift
	for ((n = 0; n < t * 5; n++)); do
		[[ -n $("$@") ]] || return 0
		sleep 0.2
	done
	return 1
}

kill_host_procs() {
	local i=$1 pids p
	pids=$(host_pids "$i")
	[[ -n $pids ]] || return 0
	# 1. dockerd, so that it does not restart containerd or containers.
	for p in $pids; do
		if [[ $(cat "/proc/$p/comm" 2>/dev/null) == dockerd ]]; then
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	# 2. container processes, while their shims are alive to reap them.
	pids=$(container_pids "$i")
	if [[ -n $pids ]]; then
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		wait_gone 5 container_pids "$i" || true
	fi
	# 3. everything else (containerd, shims, agents...): TERM, then KILL.
	pids=$(host_pids "$i")
	[[ -n $pids ]] || return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	wait_gone 2 host_pids "$i" && return 0
	for p in 1 2 3 4 5; do
		pids=$(host_pids "$i")
		[[ -n $pids ]] || return 0
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		wait_gone 2 host_pids "$i" && return 0
	done
	log "WARNING: h$i: processes still alive after SIGKILL: $(echo $(host_pids "$i"))"
	return 1
}

remove_cgroups() {
	local i=$1 c n
	for n in 1 2 3 4 5 6 7 8 9 10; do
		local left=0
		for c in /sys/fs/cgroup/xo-h"$i" /sys/fs/cgroup/*/xo-h"$i"; do
			[[ -d $c ]] || continue
			find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || left=1
			[[ ! -d $c ]] || left=1
		done
		[[ $left == 1 ]] || return 0
		sleep 0.3
	done
	log "WARNING: h$i: could not remove cgroups: $(ls -d /sys/fs/cgroup/xo-h"$i" /sys/fs/cgroup/*/xo-h"$i" 2>/dev/null | tr '\n' ' ')"
}

# Unmount everything at or below $1 in the root mount namespace.
umount_below() {
	local base=$1 m
	findmnt -rn -o TARGET 2>/dev/null | awk -v b="$base" 'index($0, b) == 1 && (length($0) == length(b) || substr($0, length(b) + 1, 1) == "/")' |
		sort -r | while read -r m; do
		m=$(printf '%b' "$m") # findmnt escapes blanks as \x20
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "WARNING: cannot unmount $m"
	done
}

host_down() {
	local i=$1 d
	d=$(hdir "$i")
	if ! kill_host_procs "$i"; then
		# Keep the namespace files: they are what identifies the remaining
		# processes, so that a later "down" can retry.
		log "WARNING: h$i: leaving its state in place, run 'hosts.sh down' again"
		return 1
	fi
	local f
	for f in "$d/mnt" "$d/uts"; do
		while mountpoint -q "$f" 2>/dev/null; do umount "$f" || umount -l "$f" || break; done
	done
	if [[ -e $(hnetns "$i") ]]; then
		ip netns delete "xo-h$i" 2>/dev/null || {
			umount -l "$(hnetns "$i")" 2>/dev/null || true
			rm -f "$(hnetns "$i")"
		}
	fi
	if ip link show "xo-h$i" >/dev/null 2>&1; then
		ip link delete "xo-h$i" 2>/dev/null || true
	fi
	remove_cgroups "$i"
	umount_below "$d"
	umount_below "$DATA/h$i"
	rm -rf --one-file-system "$d" "$DATA/h$i"
}

fwd_rule() {
	# Bridged underlay traffic traverses the root namespace's FORWARD chain
	# when br_netfilter is active; accept it when that chain would drop.
	local op=$1
	command -v iptables >/dev/null 2>&1 || return 0
	case $op in
	add)
		[[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || return 0
		if iptables -w -S FORWARD 2>/dev/null | grep -qE '^-P FORWARD (DROP|REJECT)|^-A FORWARD'; then
			iptables -w -C "${FWD_RULE[@]}" 2>/dev/null || iptables -w -I "${FWD_RULE[@]}"
		fi
		;;
	del)
		while iptables -w -C "${FWD_RULE[@]}" 2>/dev/null; do
			iptables -w -D "${FWD_RULE[@]}" || break
		done
		;;
	esac
}

cmd_down() {
	need_root
	lock
	local hosts i
	hosts=$(known_hosts)
	local failed=0
	for i in $hosts; do
		log "removing h$i"
		host_down "$i" || failed=1
	done
	[[ $failed == 0 ]] || die "down incomplete: some processes could not be killed"
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link delete "$BRIDGE"
	fi
	fwd_rule del
	local created=()
	if [[ -f $STATE/.created-dirs ]]; then
		mapfile -t created <"$STATE/.created-dirs"
	fi
	umount_below "$STATE"
	rm -rf --one-file-system "$STATE"
	[[ ! -e $DATA ]] || rmdir "$DATA" 2>/dev/null || rm -rf --one-file-system "$DATA"
	local c
	for c in "${created[@]}"; do
		[[ -n $c && -d $c ]] || continue
		if [[ $c == /run/mount && ! -s /run/mount/utab ]]; then
			# libmount's userspace mount table, created by our mounts
			rm -f /run/mount/utab /run/mount/utab.lock
		fi
		rmdir "$c" 2>/dev/null || log "note: $c is not empty, left in place"
	done
	# leftovers check
	local left=()
	[[ -z $(known_hosts) ]] || left+=("hosts: $(known_hosts | tr '\n' ' ')")
	! ip link show "$BRIDGE" >/dev/null 2>&1 || left+=("bridge $BRIDGE")
	[[ ! -e $STATE ]] || left+=("$STATE")
	[[ ! -e $DATA ]] || left+=("$DATA")
	if [[ ${#left[@]} -gt 0 ]]; then
		die "down incomplete, left: ${left[*]}"
	fi
	[[ -z $hosts ]] || log "down: removed h$(echo $hosts | sed 's/ /, h/g')"
}

# ---------------------------------------------------------------- bring-up

ensure_state() {
	local fresh=0
	[[ -d $STATE ]] || fresh=1
	mkdir -p "$STATE" "$DATA"
	# libmount may create /run/mount (utab) on our first mount: remember it.
	if [[ $fresh == 1 && ! -e /run/mount ]]; then
		echo /run/mount >>"$STATE/.created-dirs"
	fi
	# ns files can only be bind-mounted below a private mount.
	if ! mountpoint -q "$STATE"; then
		mount --bind "$STATE" "$STATE"
	fi
	mount --make-private "$STATE"
	local p
	for p in "${PRIVATE_DIRS[@]}"; do
		if [[ ! -d $p ]]; then
			mkdir -p "$p"
			echo "$p" >>"$STATE/.created-dirs"
		fi
	done
}

ensure_bridge() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
	fi
	ip link set "$BRIDGE" mtu "$MTU" up
	if ! ip -4 addr show dev "$BRIDGE" | grep -q " $NET.1/$PLEN "; then
		ip addr add "$NET.1/$PLEN" dev "$BRIDGE"
	fi
	fwd_rule add
}

host_healthy() {
	local i=$1 d pid
	d=$(hdir "$i")
	mountpoint -q "$d/mnt" 2>/dev/null && mountpoint -q "$d/uts" 2>/dev/null || return 1
	mountpoint -q "$(hnetns "$i")" 2>/dev/null || return 1
	ip link show "xo-h$i" >/dev/null 2>&1 || return 1
	pid=$(cat "$d/docker.pid" 2>/dev/null) || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	timeout 10 env -u DOCKER_CONTEXT -u DOCKER_HOST docker -H "unix://$(hsock "$i")" info >/dev/null 2>&1
}

# Runs inside the new mount+UTS namespaces (and the host's netns): $1=i $2=dir
# shellcheck disable=SC2016
NS_SETUP='
set -euo pipefail
i=$1 d=$2
shift 2
hostname "h$i"
# Drop copies of namespace bind mounts inherited from the root namespace
# (other hosts netns/uts files): they would keep those namespaces alive.
findmnt -rn -t nsfs -o TARGET | sort -r | while read -r m; do umount "$(printf "%b" "$m")"; done
for p in "$@"; do
	mkdir -p "$d/root$p"
	mount --bind "$d/root$p" "$p"
done
mkdir -p /run/docker/plugins
# sysfs showing this network namespace; keep the cgroup hierarchies.
mkdir -p "$d/sys"
mount -t sysfs -o nosuid,nodev,noexec sysfs "$d/sys"
if mountpoint -q /sys/fs/cgroup; then
	mount --rbind /sys/fs/cgroup "$d/sys/fs/cgroup"
fi
mount --move "$d/sys" /sys
'

host_create() {
	local i=$1 d ns
	d=$(hdir "$i")
	ns=xo-h$i
	mkdir -p "$d/exec" "$DATA/h$i/docker"
	# network
	ip netns add "$ns"
	ip link add "xo-h$i" mtu "$MTU" type veth peer name eth0 netns "$ns"
	ip link set "xo-h$i" master "$BRIDGE" up
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 address "$(printf '02:58:4f:00:00:%02x' "$i")" mtu "$MTU" up
	ip -n "$ns" addr add "$(haddr "$i")/$PLEN" dev eth0
	nsenter --net="$(hnetns "$i")" sysctl -q -w net.ipv4.ip_forward=1
	# mount + UTS namespaces, persisted as bind mounts of ns files
	touch "$d/mnt" "$d/uts"
	nsenter --net="$(hnetns "$i")" \
		unshare --mount="$d/mnt" --uts="$d/uts" --propagation private \
		bash -c "$NS_SETUP" ns-setup "$i" "$d" "${PRIVATE_DIRS[@]}" ||
		die "h$i: namespace setup failed"
	if [[ -n $DNS ]]; then
		printf '{"dns": ["%s"]}\n' "$DNS" >"$d/daemon.json"
	else
		echo '{}' >"$d/daemon.json"
	fi
	echo "${XO_DOCKERD_ARGS-}" >"$d/dockerd.args"
	echo "${XO_DOCKERD_LOG_LEVEL:-info}" >"$d/dockerd.loglevel"
	cat >"$d/env" <<-EOF
		XO_H${i}_DOCKER_HOST=unix://$(hsock "$i")
		XO_H${i}_ADDR=$(haddr "$i")
		XO_H${i}_NETNS=/var/run/netns/$ns
		XO_H${i}_MNTNS=$d/mnt
		XO_H${i}_UTSNS=$d/uts
		XO_H${i}_PLUGIN_DIR=$d/root/run/docker/plugins
		XO_H${i}_STATE=$d
	EOF
	start_dockerd "$i"
}

# Starts host $1's dockerd inside the host's three namespaces, in the
# background. nsenter, setsid and env exec in place, so $! is dockerd's pid.
start_dockerd() {
	local i=$1 d
	d=$(hdir "$i")
	# extra flags and log level, as recorded when the host was created
	local extra=() level=info
	[[ ! -f $d/dockerd.args ]] || read -r -a extra <"$d/dockerd.args"
	[[ ! -f $d/dockerd.loglevel ]] || level=$(cat "$d/dockerd.loglevel")
	echo "=== $(date -u +%FT%TZ) hosts.sh: starting dockerd" >>"$d/dockerd.log"
	nsenter --net="$(hnetns "$i")" --mount="$d/mnt" --uts="$d/uts" --wd=/ \
		setsid env -i PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root \
		dockerd \
		--data-root "$DATA/h$i/docker" \
		--exec-root "$d/exec" \
		--pidfile "$d/docker.pid" \
		-H "unix://$(hsock "$i")" \
		--config-file "$d/daemon.json" \
		--bridge=none \
		--exec-opt native.cgroupdriver=cgroupfs \
		--cgroup-parent "/xo-h$i" \
		--log-level "$level" \
		"${extra[@]}" \
		</dev/null >>"$d/dockerd.log" 2>&1 9>&- &
	echo $! >"$d/dockerd.launch.pid"
}

# Stops host $1's dockerd gracefully (running containers are stopped, as on
# a real host; dockerd also stops its managed containerd).
stop_dockerd() {
	local i=$1 d pid n
	d=$(hdir "$i")
	pid=$(cat "$d/dockerd.launch.pid" 2>/dev/null) || return 0
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] || return 0
	kill -TERM "$pid"
	for ((n = 0; n < 600; n++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "h$i: dockerd did not stop within 60s, killing it"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.2
	fi
	# its containerd normally exits with it; a survivor is adopted on start
	for ((n = 0; n < 100; n++)); do
		grep -qsF "$d/exec/containerd/containerd.toml" /proc/[0-9]*/cmdline || break
		sleep 0.1
	done
}

# Waits for the dockerd of the given hosts.
wait_engines() {
	local pending=("$@") start=$SECONDS i
	while [[ ${#pending[@]} -gt 0 ]]; do
		local still=()
		for i in "${pending[@]}"; do
			local d
			d=$(hdir "$i")
			if docker_cli "$i" info >/dev/null 2>&1; then
				log "h$i: dockerd ready after $((SECONDS - start))s ($(haddr "$i"), $(hsock "$i"))"
				continue
			fi
			if ! kill -0 "$(cat "$d/dockerd.launch.pid")" 2>/dev/null; then
				log "h$i: dockerd exited; last lines of $d/dockerd.log:"
				tail -n 30 "$d/dockerd.log" >&2 || true
				die "h$i: dockerd failed to start (run 'hosts.sh down' to clean up)"
			fi
			if ((SECONDS - start >= UP_TIMEOUT)); then
				log "h$i: last lines of $d/dockerd.log:"
				tail -n 30 "$d/dockerd.log" >&2 || true
				die "h$i: dockerd not ready after ${UP_TIMEOUT}s (run 'hosts.sh down' to clean up)"
			fi
			still+=("$i")
		done
		pending=("${still[@]}")
		[[ ${#pending[@]} -eq 0 ]] || sleep 0.2
	done
}

cmd_up() {
	[[ $# == 1 ]] && valid_index "$1" || die "usage: hosts.sh up N (1 <= N <= $MAXHOSTS)"
	local n=$1 i
	need_root
	local out
	out=$(bash "$here/deps.sh" 2>&1) || {
		echo "$out" >&2
		die "deps.sh failed"
	}
	[[ $out == *"all dependencies present"* ]] || echo "$out" >&2
	lock
	ensure_state
	ensure_bridge
	for i in $(known_hosts); do
		if [[ $i -gt $n ]]; then
			log "removing h$i (not part of up $n)"
			host_down "$i"
		fi
	done
	local started=()
	for i in $(seq 1 "$n"); do
		if host_healthy "$i"; then
			log "h$i: already up"
			continue
		fi
		if [[ -n $(known_hosts | grep -x "$i") ]]; then
			log "h$i: cleaning up stale state"
			host_down "$i"
		fi
		log "h$i: creating ($(haddr "$i"))"
		host_create "$i"
		started+=("$i")
	done
	[[ ${#started[@]} -eq 0 ]] || wait_engines "${started[@]}"
	echo "$n" >"$STATE/hosts"
	log "up: $n host(s) ready; eval \"\$($here/hosts.sh env)\" for XO_* variables"
}

# ---------------------------------------------------------------- queries

cmd_env() {
	local n=0 i
	[[ -f $STATE/hosts ]] && n=$(cat "$STATE/hosts")
	echo "export XO_HOSTS=$n"
	echo "export XO_STATE_DIR=$STATE"
	echo "export XO_UNDERLAY_BRIDGE=$BRIDGE"
	echo "export XO_UNDERLAY_GATEWAY=$NET.1"
	for i in $(seq 1 "$n"); do
		[[ -f $(hdir "$i")/env ]] || continue
		sed 's/^/export /' "$(hdir "$i")/env"
	done
}

cmd_status() {
	local i any=0
	for i in $(known_hosts); do
		any=1
		if host_healthy "$i"; then
			echo "h$i up   $(haddr "$i") unix://$(hsock "$i")"
		else
			echo "h$i DOWN (stale state; run hosts.sh down or up)"
		fi
	done
	[[ $any == 1 ]] || echo "no hosts"
}

cmd_exec() {
	[[ $# -ge 1 ]] && valid_index "$1" || die "usage: hosts.sh exec I [CMD...]"
	local i=$1 d
	shift
	d=$(hdir "$i")
	mountpoint -q "$d/mnt" 2>/dev/null && mountpoint -q "$(hnetns "$i")" 2>/dev/null ||
		die "host h$i is not up"
	[[ $# -gt 0 ]] || set -- bash
	exec 9>&-
	exec nsenter --net="$(hnetns "$i")" --mount="$d/mnt" --uts="$d/uts" --wd="$PWD" \
		env -u DOCKER_CONTEXT DOCKER_HOST="unix://$(hsock "$i")" XO_HOST="h$i" \
		XO_HOST_INDEX="$i" XO_HOST_ADDR="$(haddr "$i")" "$@"
}

host_is_up() {
	local d
	d=$(hdir "$1")
	mountpoint -q "$d/mnt" 2>/dev/null && mountpoint -q "$(hnetns "$1")" 2>/dev/null
}

cmd_dockerd() {
	local op=$1
	shift
	[[ $# == 1 ]] && valid_index "$1" || die "usage: hosts.sh $op-docker I"
	local i=$1
	need_root
	host_is_up "$i" || die "host h$i is not up"
	lock
	case $op in
	stop | restart)
		log "h$i: stopping dockerd"
		stop_dockerd "$i"
		;;
	esac
	case $op in
	start | restart)
		if docker_cli "$i" info >/dev/null 2>&1; then
			log "h$i: dockerd already running"
		else
			log "h$i: starting dockerd"
			start_dockerd "$i"
			wait_engines "$i"
		fi
		;;
	esac
}

cmd_docker() {
	[[ $# -ge 1 ]] && valid_index "$1" || die "usage: hosts.sh docker I ARGS..."
	local i=$1
	shift
	exec env -u DOCKER_CONTEXT -u DOCKER_HOST docker -H "unix://$(hsock "$i")" "$@"
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case $cmd in
up) cmd_up "$@" ;;
down) [[ $# == 0 ]] || usage; cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
exec) cmd_exec "$@" ;;
docker) cmd_docker "$@" ;;
stop-docker) cmd_dockerd stop "$@" ;;
start-docker) cmd_dockerd start "$@" ;;
restart-docker) cmd_dockerd restart "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
