package bench

// Scenario l7's peers' configurations (untagged, so plain `go test`
// checks them): nginx and HAProxy as reverse proxies in front of the same
// backends as xoverlay's L7 proxy, with the same upstream behaviour (round
// robin, keep-alive to the backends, the same X-Forwarded-* headers) and
// no logging.

import (
	"fmt"
	"strings"
)

// l7Peer is what both peer configurations need.
type l7Peer struct {
	Dir      string   // the scenario's temp dir (pid file, logs, temp paths)
	Listen   string   // host:port the proxy listens on
	Backends []string // host:port of every backend
	Workers  int      // HAProxy threads (nginx: worker_processes auto, one per CPU)
}

// nginxConf renders nginx.conf: an upstream with the backends and a pool
// of idle keep-alive connections to them, HTTP/1.1 to the upstream, the
// X-Forwarded-* headers xoverlay's proxy sets, no access log. nginx runs
// in the foreground (daemon off) so the benchmark owns its PID.
func nginxConf(p l7Peer) string {
	var servers strings.Builder
	for _, b := range p.Backends {
		fmt.Fprintf(&servers, "    server %s;\n", b)
	}
	d := p.Dir
	return fmt.Sprintf(`daemon off;
worker_processes auto;
pid %s/nginx.pid;
error_log %s/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %s/nginx-tmp/body;
  proxy_temp_path %s/nginx-tmp/proxy;
  fastcgi_temp_path %s/nginx-tmp/fastcgi;
  uwsgi_temp_path %s/nginx-tmp/uwsgi;
  scgi_temp_path %s/nginx-tmp/scgi;
  upstream backends {
%s    keepalive 256;
  }
  server {
    listen %s;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`, d, d, d, d, d, d, d, servers.String(), p.Listen)
}

// haproxyConf renders haproxy.cfg: round robin over the backends, idle
// server connections reused by any request (http-reuse always, like
// nginx's keepalive pool), the same X-Forwarded-* headers, no log lines.
func haproxyConf(p l7Peer) string {
	var servers strings.Builder
	for i, b := range p.Backends {
		fmt.Fprintf(&servers, "  server b%d %s\n", i+1, b)
	}
	return fmt.Sprintf(`global
  nbthread %d
  maxconn 8192
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind %s
  option forwardfor
  http-request set-header X-Real-IP %%[src]
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %%[req.hdr(host)]
  default_backend backends
backend backends
  balance roundrobin
%s`, p.Workers, p.Listen, servers.String())
}
