package l7

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

func retries(p *testProxy, service string) float64 {
	return testutil.ToFloat64(p.m.retries.WithLabelValues(service))
}

// TestRetryConnectionRefused: a backend that refuses connections is
// skipped for every method (nothing was sent), and then marked down.
func TestRetryConnectionRefused(t *testing.T) {
	good := startBackend(t, named("good"))
	p := startProxy(t, Options{})
	dead := deadAddr(t)
	p.update(t, oneUpstream(Upstream{Servers: servers(dead, good.addr())}))
	c := newClient(t)
	for _, method := range []string{"GET", "POST", "PATCH"} {
		for range 3 {
			code, body, _ := do(t, c, method, p.url("/"), "payload")
			if code != 200 || body != "good" {
				t.Fatalf("%s: %d %q, want 200 from the good backend", method, code, body)
			}
		}
	}
	if r := retries(p, "web"); r != 1 {
		t.Errorf("retries %v, want 1 (the dead backend is down after its first failure)", r)
	}
	if up := testutil.ToFloat64(p.m.backendUp.WithLabelValues("web", dead)); up != 0 {
		t.Errorf("backend_up of the dead backend %v, want 0", up)
	}
}

func TestRetryOnStatus(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		body     string
		wantCode int
		wantBody string
	}{
		{"GET is retried", "GET", "", 200, "good"},
		{"HEAD is retried", "HEAD", "", 200, ""},
		{"PUT with a body is retried with its body", "PUT", "the body", 200, "good:the body"},
		{"DELETE is retried", "DELETE", "", 200, "good:"},
		{"POST is not", "POST", "data", 503, "Service Unavailable"},
		{"PATCH is not", "PATCH", "data", 503, "Service Unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				status(503)(w, r)
			})
			good := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if r.Method == "GET" || r.Method == "HEAD" {
					io.WriteString(w, "good")
					return
				}
				io.WriteString(w, "good:"+string(b))
			})
			p := startProxy(t, Options{})
			// The heavier backend is picked first.
			p.update(t, oneUpstream(Upstream{Servers: []upstream.Server{{Addr: bad.addr(), Weight: 100}, {Addr: good.addr()}}}))
			code, body, _ := do(t, newClient(t), tc.method, p.url("/"), tc.body)
			if code != tc.wantCode || body != tc.wantBody {
				t.Errorf("%s: %d %q, want %d %q", tc.method, code, body, tc.wantCode, tc.wantBody)
			}
			if bad.hits.Load() != 1 {
				t.Errorf("bad backend hit %d times, want 1", bad.hits.Load())
			}
		})
	}
}

// TestNoRetryAfterSending: a backend that takes a POST and drops the
// connection without answering gets the request once; the client gets
// a 502. A GET in the same situation goes to the other backend.
func TestNoRetryAfterSending(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hits := make(chan string, 10)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufioReader(conn))
				if err == nil {
					io.Copy(io.Discard, req.Body)
					hits <- req.Method
				}
			}()
		}
	}()
	good := startBackend(t, named("good"))
	p := startProxy(t, Options{})
	srv := []upstream.Server{{Addr: ln.Addr().String(), Weight: 100}, {Addr: good.addr()}}
	p.update(t, oneUpstream(Upstream{Servers: srv}))
	c := newClient(t)

	code, body, _ := do(t, c, "POST", p.url("/"), "once only")
	if code != http.StatusBadGateway || !strings.Contains(body, `"web"`) {
		t.Errorf("POST: %d %q, want 502 naming the service", code, body)
	}
	if m := <-hits; m != "POST" {
		t.Errorf("dropping backend saw %s", m)
	}
	if good.hits.Load() != 0 {
		t.Errorf("POST was sent again to the other backend")
	}
	// The dropping backend is down now (max_fails 1): bring it back for
	// the GET by configuring it afresh with max_fails disabled.
	srv[0].MaxFails = upstream.NoMaxFails
	p.update(t, oneUpstream(Upstream{Servers: srv}))
	code, body, _ = do(t, c, "GET", p.url("/"), "")
	if code != 200 || body != "good" {
		t.Errorf("GET: %d %q, want 200 good (retried)", code, body)
	}
}

func TestAllBackendsFail(t *testing.T) {
	p := startProxy(t, Options{BackendTimeout: 300 * time.Millisecond})
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	c := newClient(t)
	tests := []struct {
		name    string
		cfg     Upstream
		code    int
		message string
	}{
		{"refused", Upstream{Name: "a", Servers: servers(deadAddr(t), deadAddr(t))}, 502, "connection refused"},
		{"no servers", Upstream{Name: "b"}, 503, "has no backends"},
		{"timeout", Upstream{Name: "c", Servers: servers(silent.Addr().String())}, 504, "did not answer in time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.update(t, oneUpstream(tc.cfg))
			code, body, _ := do(t, c, "GET", p.url("/"), "")
			if code != tc.code || !strings.Contains(body, tc.message) || !strings.Contains(body, `"`+tc.cfg.Name+`"`) {
				t.Errorf("%d %q, want %d with %q and the service name", code, body, tc.code, tc.message)
			}
		})
	}
	// All down now: the answer says so.
	p.update(t, oneUpstream(Upstream{Name: "d", Servers: servers(deadAddr(t))}))
	do(t, c, "GET", p.url("/"), "")
	code, body, _ := do(t, c, "GET", p.url("/"), "")
	if code != 502 || !strings.Contains(body, "no backend is available") {
		t.Errorf("all down: %d %q", code, body)
	}
}

func TestMaxTries(t *testing.T) {
	var bad []*testBackend
	var srv []upstream.Server
	for range 4 {
		b := startBackend(t, status(502))
		bad = append(bad, b)
		srv = append(srv, upstream.Server{Addr: b.addr(), MaxFails: upstream.NoMaxFails})
	}
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: srv, MaxTries: 2}))
	code, _, _ := do(t, newClient(t), "GET", p.url("/"), "")
	if code != 502 {
		t.Errorf("status %d, want the last backend's 502", code)
	}
	var total int64
	for _, b := range bad {
		total += b.hits.Load()
	}
	if total != 2 {
		t.Errorf("%d backends tried, want MaxTries=2", total)
	}
	if r := retries(p, "web"); r != 1 {
		t.Errorf("retries %v, want 1", r)
	}
}

func TestPassiveHealthAndBackup(t *testing.T) {
	flaky := startBackend(t, status(503))
	spare := startBackend(t, named("spare"))
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	p := startProxy(t, Options{Now: clock})
	p.update(t, oneUpstream(Upstream{Servers: []upstream.Server{
		{Addr: flaky.addr(), MaxFails: 2, FailTimeout: 30 * time.Second},
		{Addr: spare.addr(), Backup: true},
	}}))
	c := newClient(t)
	// Each GET fails on the primary, then the backup answers.
	for range 2 {
		if code, body, _ := do(t, c, "GET", p.url("/"), ""); code != 200 || body != "spare" {
			t.Fatalf("%d %q, want the backup's answer", code, body)
		}
	}
	if n := flaky.hits.Load(); n != 2 {
		t.Fatalf("primary hit %d times, want 2 (max_fails)", n)
	}
	// Down now: skipped, straight to the backup.
	do(t, c, "GET", p.url("/"), "")
	if n := flaky.hits.Load(); n != 2 {
		t.Errorf("down primary hit again (%d)", n)
	}
	// fail_timeout later it gets one probe.
	now = now.Add(30 * time.Second)
	do(t, c, "GET", p.url("/"), "")
	if n := flaky.hits.Load(); n != 3 {
		t.Errorf("primary hit %d times after fail_timeout, want a probe (3)", n)
	}
}

func TestRetryTimeoutBound(t *testing.T) {
	slowBad := startBackend(t, status(503))
	good := startBackend(t, named("good"))
	now := time.Unix(1000, 0)
	calls := 0
	clock := func() time.Time {
		calls++
		if calls > 1 {
			return now.Add(time.Minute) // every later look at the clock: past RetryTimeout
		}
		return now
	}
	p := startProxy(t, Options{Now: clock})
	p.update(t, oneUpstream(Upstream{RetryTimeout: time.Second, Servers: []upstream.Server{
		{Addr: slowBad.addr(), Weight: 100, MaxFails: upstream.NoMaxFails}, {Addr: good.addr()},
	}}))
	code, _, _ := do(t, newClient(t), "GET", p.url("/"), "")
	if code != 503 || good.hits.Load() != 0 {
		t.Errorf("status %d, good hits %d: want the 503 passed on, no retry after RetryTimeout", code, good.hits.Load())
	}
}
