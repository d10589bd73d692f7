#!/usr/bin/env bash
# deps.sh - install what contrib/testenv needs (Debian/Ubuntu, as root).
#
# Only packages whose commands are missing are installed; "apt-get update"
# runs at most once, and only when something has to be installed. Service
# start-up by package scripts is suppressed (policy-rc.d) so that installing
# docker.io does not start a system-wide engine: the simulated hosts run
# their own dockerd instances.
set -euo pipefail

log() { echo "deps.sh: $*" >&2; }
die() { echo "deps.sh: ERROR: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root"

# "command package" pairs; a package is installed when its command is missing.
checks=(
	"dockerd docker.io"
	"containerd docker.io"
	"runc docker.io"
	"iptables iptables"
	"nft nftables"
	"ip iproute2"
	"unshare util-linux"
	"nsenter util-linux"
	"flock util-linux"
	"mountpoint util-linux"
	"findmnt util-linux"
	"ps procps"
	"sysctl procps"
	"busybox busybox-static"
	"nginx nginx-light"
)

missing=()
for c in "${checks[@]}"; do
	read -r cmd pkg <<<"$c"
	if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$cmd && ! -x /sbin/$cmd ]]; then
		log "missing command $cmd (package $pkg)"
		[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
	fi
done
# A docker CLI is needed too; docker.io ships one, a newer one in PATH is fine.
if ! command -v docker >/dev/null 2>&1; then
	[[ " ${missing[*]-} " == *" docker.io "* ]] || missing+=(docker.io)
fi

if [[ ${#missing[@]} -gt 0 ]]; then
	bash "$(dirname "$0")/apt-install.sh" "${missing[@]}"
else
	log "all dependencies present"
fi

# Kernel features; built in on most kernels, modules elsewhere. Best effort.
if command -v modprobe >/dev/null 2>&1; then
	for m in overlay bridge br_netfilter veth vxlan nf_tables; do
		modprobe -q "$m" 2>/dev/null || true
	done
fi
