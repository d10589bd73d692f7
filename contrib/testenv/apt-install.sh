#!/usr/bin/env bash
# apt-install.sh PKG... - install Debian packages for tests and benchmarks
# (as root), without letting package scripts start system-wide services:
# the simulated hosts run their own dockerd, nginx, dnsmasq...
set -euo pipefail
[[ $# -gt 0 ]] || exit 0
die() { echo "apt-install.sh: ERROR: $*" >&2; exit 1; }
command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install manually: $*"
export DEBIAN_FRONTEND=noninteractive
echo "apt-install.sh: apt-get install $*" >&2
apt-get update -q >/dev/null || die "apt-get update failed"
created_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	created_policy=1
fi
rc=0
apt-get install -y -q --no-install-recommends "$@" || rc=$?
[[ $created_policy == 0 ]] || rm -f /usr/sbin/policy-rc.d
[[ $rc == 0 ]] || die "apt-get install $* failed"
