package l7

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	a := startBackend(t, named("a"))
	bad := startBackend(t, status(503))
	p := startProxy(t, Options{})
	p.update(t, Config{
		Routes: []Route{{Path: "/", Upstream: "web"}, {Path: "/bad", Upstream: "broken"}},
		Upstreams: []Upstream{
			{Name: "web", Servers: servers(a.addr())},
			{Name: "broken", Servers: servers(bad.addr())},
		},
	})
	c := newClient(t)
	for range 3 {
		do(t, c, "GET", p.url("/"), "")
	}
	do(t, c, "GET", p.url("/bad"), "")
	do(t, c, "GET", p.url("/bad"), "") // down now: the proxy answers 502 itself
	p.update(t, Config{Routes: []Route{{Host: "only.example.com", Upstream: "web"}}, Upstreams: []Upstream{{Name: "web", Servers: servers(a.addr())}}})
	do(t, c, "GET", p.url("/"), "") // unrouted

	want := `
# HELP xo_lb_http_requests_total HTTP requests by service (empty: no route matched, or refused as malformed), backend that answered (empty: the proxy answered itself) and status code.
# TYPE xo_lb_http_requests_total counter
xo_lb_http_requests_total{backend="",code="404",service=""} 1
xo_lb_http_requests_total{backend="",code="502",service="broken"} 1
xo_lb_http_requests_total{backend="A",code="200",service="web"} 3
xo_lb_http_requests_total{backend="B",code="503",service="broken"} 1
`
	want = strings.NewReplacer(`"A"`, `"`+a.addr()+`"`, `"B"`, `"`+bad.addr()+`"`).Replace(want)
	// "broken" was removed by the last update: its series go once its
	// backend drained (at once: nothing in flight).
	want = strings.ReplaceAll(want, "xo_lb_http_requests_total{backend=\"\",code=\"502\",service=\"broken\"} 1\n", "")
	want = strings.ReplaceAll(want, "xo_lb_http_requests_total{backend=\""+bad.addr()+"\",code=\"503\",service=\"broken\"} 1\n", "")
	if err := testutil.GatherAndCompare(p.reg, strings.NewReader(want), "xo_lb_http_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(p.m.duration); n != 1 {
		t.Errorf("%d duration series, want 1 (web)", n)
	}
	if got := testutil.ToFloat64(p.m.backendUp.WithLabelValues("web", a.addr())); got != 1 {
		t.Errorf("backend_up %v", got)
	}
	if got := testutil.ToFloat64(p.m.updates); got != 2 {
		t.Errorf("config updates %v", got)
	}
	if got := testutil.ToFloat64(p.m.active.WithLabelValues("web")); got != 0 {
		t.Errorf("active connections %v after the requests ended", got)
	}
}

func TestMetricsBeforeRemoval(t *testing.T) {
	bad := startBackend(t, status(503))
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Name: "broken", Servers: servers(bad.addr())}))
	c := newClient(t)
	do(t, c, "GET", p.url("/"), "")
	do(t, c, "GET", p.url("/"), "")
	if got := testutil.ToFloat64(p.m.backendUp.WithLabelValues("broken", bad.addr())); got != 0 {
		t.Errorf("backend_up %v after a failure with max_fails 1, want 0", got)
	}
	want := strings.ReplaceAll(`
# HELP xo_lb_http_requests_total HTTP requests by service (empty: no route matched, or refused as malformed), backend that answered (empty: the proxy answered itself) and status code.
# TYPE xo_lb_http_requests_total counter
xo_lb_http_requests_total{backend="",code="502",service="broken"} 1
xo_lb_http_requests_total{backend="B",code="503",service="broken"} 1
`, `"B"`, `"`+bad.addr()+`"`)
	if err := testutil.GatherAndCompare(p.reg, strings.NewReader(want), "xo_lb_http_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestMetricsRegisteredOnce(t *testing.T) {
	p := startProxy(t, Options{})
	if _, err := New(Options{Registerer: p.reg}); err == nil || !strings.Contains(err.Error(), "one proxy per registry") {
		t.Errorf("second proxy on one registry: %v", err)
	}
}
