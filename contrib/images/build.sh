#!/usr/bin/env bash
# build.sh DOCKER_HOST_SOCKET [OUT_DIR]
#
# Builds the static demoapp and probe binaries (CGO_ENABLED=0) into OUT_DIR
# and the images xo-demo:v1, xo-demo:v2 (same image), xo-demo:hc (with a
# HEALTHCHECK) and xo-probe:latest into
# the Docker engine listening on DOCKER_HOST_SOCKET (a path or unix:// URL).
# Images are built FROM scratch with the legacy builder, so no registry or
# network access is needed. Re-running is cheap: binaries are only relinked
# when sources changed, and an image is only rebuilt when the sha256 of its
# inputs (recorded in the label xo.contrib.sum) differs.
#
# Env: GO (go binary, default "go"), DOCKER (docker CLI, default "docker").
set -euo pipefail

die() { echo "build.sh: ERROR: $*" >&2; exit 1; }
log() { echo "build.sh: $*" >&2; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: build.sh DOCKER_HOST_SOCKET [OUT_DIR]"
sock=$1
sock=${sock#unix://}
[[ -S $sock ]] || die "$sock is not a unix socket (is the engine running?)"
out=${2:-${TMPDIR:-/tmp}/xo-test-images}
GO=${GO:-go}
DOCKER=${DOCKER:-docker}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
[[ -f $root/go.mod ]] || die "cannot find go.mod in $root"

mkdir -p "$out"
out=$(cd "$out" && pwd)

# Several build.sh may run at once (one per simulated host): serialize the
# go build step on a lock inside OUT_DIR.
exec 8>"$out/.lock"
flock -w 600 8 || die "timeout waiting for $out/.lock"
(
	cd "$root"
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags='-s -w' -o "$out/demoapp" ./contrib/demoapp
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags='-s -w' -o "$out/probe" ./contrib/probe
) || die "go build failed"
for f in demo.Dockerfile demo-hc.Dockerfile probe.Dockerfile; do
	cmp -s "$here/$f" "$out/$f" || cp "$here/$f" "$out/$f"
done
# Keep the build context to the files the Dockerfiles need.
printf '*\n!demoapp\n!probe\n' >"$out/.dockerignore"
flock -u 8
exec 8>&-

sum_of() { cat "$@" | sha256sum | cut -c1-32; }
demo_sum=$(sum_of "$out/demo.Dockerfile" "$out/demoapp" "$out/probe")
hc_sum=$(sum_of "$out/demo-hc.Dockerfile" "$out/demoapp" "$out/probe")
probe_sum=$(sum_of "$out/probe.Dockerfile" "$out/probe")

docker_() { env -u DOCKER_CONTEXT -u DOCKER_HOST "$DOCKER" -H "unix://$sock" "$@"; }

# build_image DOCKERFILE SUM TAG...
build_image() {
	local df=$1 sum=$2 tag have
	shift 2
	local need=0
	for tag in "$@"; do
		have=$(docker_ image inspect -f '{{index .Config.Labels "xo.contrib.sum"}}' "$tag" 2>/dev/null || true)
		[[ $have == "$sum" ]] || need=1
	done
	if [[ $need == 0 ]]; then
		log "$* up to date"
		return
	fi
	local args=()
	for tag in "$@"; do args+=(-t "$tag"); done
	log "building $* on $sock"
	local errf
	errf=$(mktemp)
	# Build context = OUT_DIR (only binaries and Dockerfiles live there).
	if ! DOCKER_BUILDKIT=0 docker_ build -q --label "xo.contrib.sum=$sum" \
		"${args[@]}" -f "$out/$df" "$out" >/dev/null 2>"$errf"; then
		cat "$errf" >&2
		rm -f "$errf"
		die "docker build of $* failed"
	fi
	rm -f "$errf"
}

build_image demo.Dockerfile "$demo_sum" xo-demo:v1 xo-demo:v2
build_image demo-hc.Dockerfile "$hc_sum" xo-demo:hc
build_image probe.Dockerfile "$probe_sum" xo-probe:latest
