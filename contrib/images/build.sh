#!/usr/bin/env bash
# build.sh DOCKER_HOST_SOCKET [OUT_DIR]
#
# Builds the static demoapp and probe binaries (CGO_ENABLED=0) into OUT_DIR
# and the images xo-demo:v1, xo-demo:v2 (same image), xo-demo:hc (with a
# HEALTHCHECK), xo-probe:latest and xo-nginx:latest (the host's nginx binary
# and the libraries it links, see nginx.Dockerfile) into
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

# stage_nginx CTX: xo-nginx's build context, CTX/nginx.Dockerfile and
# CTX/rootfs, from the host's nginx. Staged beside CTX and swapped in only
# when it differs: another host's build may be reading CTX right now.
stage_nginx() {
	local ctx=$1 bin f
	bin=$(command -v nginx 2>/dev/null || true)
	[[ -n $bin || ! -x /usr/sbin/nginx ]] || bin=/usr/sbin/nginx
	[[ -n $bin ]] || die "nginx not found: the image xo-nginx packs the host's nginx binary; install it with contrib/testenv/deps.sh (Debian package nginx-light)"
	local new=$ctx.new root=$ctx.new/rootfs
	rm -rf "$new"
	mkdir -p "$root"/{usr/sbin,etc/nginx,var/lib/nginx,var/log/nginx,var/lock,run,tmp}
	chmod 1777 "$root/tmp"
	cp -L "$bin" "$root/usr/sbin/nginx"
	local libs
	libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }') ||
		die "ldd $bin failed"
	[[ -n $libs ]] || die "ldd $bin lists no libraries (a static nginx? then drop this step)"
	for f in $libs; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
	[[ ! -f /etc/nginx/mime.types ]] || cp /etc/nginx/mime.types "$root/etc/nginx/mime.types"
	cp "$here/nginx.conf" "$root/etc/nginx/nginx.conf"
	cp "$here/nginx.Dockerfile" "$new/nginx.Dockerfile"
	if [[ -d $ctx ]] && diff -r "$new" "$ctx" >/dev/null 2>&1; then
		rm -rf "$new"
	else
		rm -rf "$ctx"
		mv "$new" "$ctx"
	fi
}
stage_nginx "$out/nginx"
flock -u 8
exec 8>&-

sum_of() { cat "$@" | sha256sum | cut -c1-32; }
demo_sum=$(sum_of "$out/demo.Dockerfile" "$out/demoapp" "$out/probe")
hc_sum=$(sum_of "$out/demo-hc.Dockerfile" "$out/demoapp" "$out/probe")
probe_sum=$(sum_of "$out/probe.Dockerfile" "$out/probe")
# The file list (with modes) too: an added library or directory counts.
nginx_sum=$( (cd "$out/nginx" && find . -printf '%p %m\n' | LC_ALL=C sort &&
	find . -type f -print0 | LC_ALL=C sort -z | xargs -0 cat) | sha256sum | cut -c1-32)

docker_() { env -u DOCKER_CONTEXT -u DOCKER_HOST "$DOCKER" -H "unix://$sock" "$@"; }

# build_image [-C CONTEXT] DOCKERFILE SUM TAG...  (CONTEXT: default OUT_DIR)
build_image() {
	local ctx=$out
	if [[ $1 == -C ]]; then
		ctx=$2
		shift 2
	fi
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
		"${args[@]}" -f "$ctx/$df" "$ctx" >/dev/null 2>"$errf"; then
		cat "$errf" >&2
		rm -f "$errf"
		die "docker build of $* failed"
	fi
	rm -f "$errf"
}

build_image demo.Dockerfile "$demo_sum" xo-demo:v1 xo-demo:v2
build_image demo-hc.Dockerfile "$hc_sum" xo-demo:hc
build_image probe.Dockerfile "$probe_sum" xo-probe:latest
build_image -C "$out/nginx" nginx.Dockerfile "$nginx_sum" xo-nginx:latest
