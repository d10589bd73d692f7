package bench

import (
	"strings"
	"testing"
	"time"
)

const wrkSample = `Running 5s test @ http://127.0.0.1:18180/healthz
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   520.31us  300.12us  10.01ms   90.00%
    Req/Sec    60.12k     3.01k   65.00k    80.00%
  Latency Distribution
     50%  450.00us
     75%  600.00us
     90%  800.00us
     99%    1.50ms
  598000 requests in 5.00s, 70.00MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 1, read 2, write 0, timeout 3
Requests/sec: 119600.00
Transfer/sec:     14.00MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkSample)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{RPS: 119600, Requests: 598000, P50: 450 * time.Microsecond,
		P99: 1500 * time.Microsecond, Non2xx: 12, Errors: 6}
	if r != want {
		t.Fatalf("parseWrk = %+v, want %+v", r, want)
	}
}

func TestParseWrkClean(t *testing.T) {
	out := "  Latency Distribution\n     50%    2.00s\n     99%    1.00m\n  10 requests in 5.00s, 1.00KB read\nRequests/sec:      2.00\n"
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.P50 != 2*time.Second || r.P99 != time.Minute || r.Non2xx != 0 || r.Errors != 0 || r.Requests != 10 {
		t.Fatalf("parseWrk = %+v", r)
	}
}

func TestParseWrkBad(t *testing.T) {
	for name, out := range map[string]string{
		"empty":      "",
		"no latency": "  10 requests in 5.00s, 1.00KB read\nRequests/sec:      2.00\n",
		"no rps":     "  Latency Distribution\n     99%    1.00ms\n  10 requests in 5.00s, 1.00KB read\n",
		"bad unit":   "  Latency Distribution\n     99%    1.00xx\n  10 requests in 5.00s\nRequests/sec: 2\n",
		"bad rps":    "  Latency Distribution\n     99%    1.00ms\n  10 requests in 5.00s\nRequests/sec: x\n",
	} {
		if r, err := parseWrk(out); err == nil {
			t.Errorf("%s: parseWrk = %+v, want an error", name, r)
		}
	}
}
func TestL7PeerConfs(t *testing.T) {
	p := l7Peer{Dir: "/tmp/x", Listen: "127.0.0.1:9000", Backends: []string{"127.0.0.1:9001", "127.0.0.1:9002"}, Workers: 2}
	ngx := nginxConf(p)
	for _, want := range []string{"daemon off;", "worker_processes auto;", "pid /tmp/x/nginx.pid;", "access_log off;",
		"    server 127.0.0.1:9001;\n    server 127.0.0.1:9002;\n    keepalive 256;", "listen 127.0.0.1:9000;",
		"proxy_http_version 1.1;", `proxy_set_header Connection "";`, "proxy_temp_path /tmp/x/nginx-tmp/proxy;"} {
		if !strings.Contains(ngx, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, ngx)
		}
	}
	if strings.Contains(ngx, "%!") {
		t.Errorf("nginx.conf has a formatting error:\n%s", ngx)
	}
	hap := haproxyConf(p)
	for _, want := range []string{"nbthread 2", "bind 127.0.0.1:9000", "balance roundrobin", "http-reuse always",
		"option forwardfor", "%[req.hdr(host)]", "  server b1 127.0.0.1:9001\n  server b2 127.0.0.1:9002\n"} {
		if !strings.Contains(hap, want) {
			t.Errorf("haproxy.cfg lacks %q:\n%s", want, hap)
		}
	}
	if strings.Contains(hap, "%!") || strings.Contains(hap, "log ") {
		t.Errorf("haproxy.cfg has a formatting error or a log line:\n%s", hap)
	}
}
