#!/usr/bin/env bash
# compare.sh - the L7 proxy (l7serve) against nginx as a reverse proxy,
# and wrk straight to the backends (the limit): same backends (demo app
# instances), same keep-alive wrk load, rounds alternated, medians.
# Loopback only; every process it starts is stopped by PID at exit.
#
#   bash lbproxy/l7/internal/l7serve/compare.sh
#
# Env: ROUNDS (5), DUR (5s per round), CONNS (64), THREADS (2),
# BACKENDS (1), URLPATH (/healthz). Needs wrk and nginx (Debian:
# apt-get install -y wrk nginx-light); run from the repository root.
set -euo pipefail
ROUNDS=${ROUNDS:-5} DUR=${DUR:-5s} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
BACKENDS=${BACKENDS:-1} URLPATH=${URLPATH:-/healthz}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
command -v wrk >/dev/null || { echo "compare: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[[ -x $NGINX ]] || { echo "compare: nginx is missing (apt-get install -y nginx-light)" >&2; exit 1; }

dir=$(mktemp -d)
pids=()
cleanup() {
	[[ -f $dir/nginx.pid ]] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

go build -o "$dir/demoapp" ./contrib/demoapp
go build -o "$dir/l7serve" ./lbproxy/l7/internal/l7serve

base=18100
addrs=() servers=""
for i in $(seq 1 "$BACKENDS"); do
	port=$((base + i))
	"$dir/demoapp" -port "$port" -echo-port 0 >/dev/null 2>&1 &
	pids+=($!)
	addrs+=("127.0.0.1:$port")
	servers+="    server 127.0.0.1:$port;"$'\n'
done
xo=127.0.0.1:18180 ngx=127.0.0.1:18190
"$dir/l7serve" -listen "$xo" -backend "$(IFS=,; echo "${addrs[*]}")" >"$dir/l7serve.log" 2>&1 &
pids+=($!)
xopid=$!

mkdir -p "$dir/tmp"
cat >"$dir/nginx.conf" <<CONF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
user root;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  upstream be {
$servers    keepalive 256;
  }
  server {
    listen $ngx;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
    }
  }
}
CONF
"$NGINX" -p "$dir" -c "$dir/nginx.conf"
sleep 1
for a in "${addrs[0]}" "$xo" "$ngx"; do
	curl -sf -o /dev/null "http://$a$URLPATH" || { echo "compare: $a does not answer" >&2; exit 1; }
done

ticks() { # CPU ticks of the given PIDs (all threads)
	local s=0 p u st
	for p in "$@"; do read -r u st < <(awk '{print $14, $15}' "/proc/$p/stat"); s=$((s + u + st)); done
	echo "$s"
}
run() { # name address pids...
	local name=$1 addr=$2 out b a rps reqs p50 p99 cpu
	shift 2
	b=$(ticks "$@")
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "http://$addr$URLPATH")
	a=$(ticks "$@")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	p50=$(awk '$1=="50%" {print $2}' <<<"$out")
	p99=$(awk '$1=="99%" {print $2}' <<<"$out")
	cpu=$(awk -v t=$((a - b)) -v hz="$(getconf CLK_TCK)" -v n="$reqs" 'BEGIN {printf "%.1f", t*1e6/hz/n}')
	echo "$name rps=$rps p50=$p50 p99=$p99 cpu_us_per_req=$cpu $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')"
}
ngxpids=$(pgrep -P "$(cat "$dir/nginx.pid")" | tr '\n' ' ')
for r in $(seq 1 "$ROUNDS"); do
	run direct "${addrs[0]}" "${pids[0]}"
	# shellcheck disable=SC2086
	run nginx "$ngx" $ngxpids
	run xo "$xo" "$xopid"
done | tee "$dir/rounds"
echo "medians over $ROUNDS rounds ($BACKENDS backends, $CONNS connections, $DUR each):"
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for n in direct nginx xo; do
	rps=$(grep "^$n " "$dir/rounds" | sed 's/.*rps=\([0-9.]*\) .*/\1/' | median)
	p99=$(grep "^$n " "$dir/rounds" | sed 's/.*p99=\([0-9.]*\)\(us\|ms\|s\) .*/\1 \2/' |
		awk '{v=$1; if ($2=="ms") v*=1000; else if ($2=="s") v*=1e6; print v}' | median)
	cpu=$(grep "^$n " "$dir/rounds" | sed 's/.*cpu_us_per_req=\([0-9.]*\).*/\1/' | median)
	printf "  %-6s rps %8.0f  p99 %8.0fus  cpu %5.1fus/req\n" "$n" "$rps" "$p99" "$cpu"
done
